"""The shipped catalogs: every preset and SKU the reference lists, with their numbers."""

from __future__ import annotations

from importlib import resources

import pytest

from kaito import presets
from kaito.api.quantity import gib
from kaito.presets import PresetCatalog, default_catalog

ISSUE_PRESETS = [
    "phi-2",
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4",
    "phi-4-mini-instruct",
    "falcon-7b",
    "falcon-7b-instruct",
    "falcon-40b",
    "falcon-40b-instruct",
    "mistral-7b",
    "mistral-7b-instruct",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-32b-instruct",
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b",
    "gemma-3-4b-instruct",
    "gemma-3-27b-instruct",
    "gpt-oss-20b",
    "gpt-oss-120b",
]


@pytest.mark.parametrize("name", ISSUE_PRESETS)
def test_issue_presets_present(name: str) -> None:
    preset = presets.get_inference_preset(name)
    assert preset is not None
    assert preset.name == name
    assert preset.gpu_count >= 1
    assert preset.total_gpu_memory > 0
    assert preset.disk > 0
    assert preset.runtime in ("transformers", "vllm")
    assert preset.context_length is None or preset.context_length >= 2048
    assert preset.image_name and preset.image_tag


# (name, gpus, total GiB, per-GPU GiB, disk GiB, context, tuning, distributed, image)
# disk: upstream v0.12's weights + 80 GiB where upstream ships the preset
TABLE = [
    ("phi-2", 1, 12, 0, 80, 2048, True, False, "kaito-phi-2:0.1.1"),
    (
        "phi-3-mini-4k-instruct",
        1,
        9,
        0,
        87,
        4096,
        True,
        False,
        "kaito-phi-3-mini-4k-instruct:0.1.1",
    ),
    ("phi-3-medium-128k-instruct", 1, 28, 0, 106, 131072, True, False, None),
    ("phi-4", 1, 40, 0, 107, 16384, True, False, None),
    ("falcon-40b", 2, 90, 0, 280, 2048, True, False, None),
    ("falcon-7b-instruct", 1, 14, 0, 90, 2048, False, False, None),
    ("mistral-7b-instruct", 1, 16, 0, 93, 32768, False, False, None),
    ("llama-3.1-8b-instruct", 1, 22, 0, 94, 131072, False, False, "kaito-base:0.5.0"),
    ("llama-3.3-70b-instruct", 1, 131.42, 0, 211, 131072, False, True, None),
    ("qwen2.5-coder-32b-instruct", 1, 70, 0, 141, 32768, True, False, None),
    ("deepseek-r1-distill-llama-8b", 1, 16.5, 0, 94, 131072, False, False, None),
    ("deepseek-r1-distill-qwen-14b", 1, 25.7, 0, 107, 131072, False, False, None),
    ("gemma-3-27b-instruct", 1, 54.8, 0, 131, 131072, False, False, None),
    ("gpt-oss-20b", 1, 12.9, 0, 105, 131072, False, False, "kaito-gpt-oss-20b:0.0.2"),
    ("gpt-oss-120b", 1, 60.77, 0, 201, 131072, False, False, None),
    ("llama-2-70b-chat", 8, 192, 19, 158, 4096, False, True, None),
]


@pytest.mark.parametrize(
    ("name", "gpus", "total", "per_gpu", "disk", "ctx", "tune", "dist", "image"), TABLE
)
def test_preset_values(
    name: str,
    gpus: int,
    total: float,
    per_gpu: float,
    disk: int,
    ctx: int,
    tune: bool,
    dist: bool,
    image: str | None,
) -> None:
    p = presets.get_inference_preset(name)
    assert p is not None
    assert p.gpu_count == gpus
    assert p.total_gpu_memory == gib(total)
    assert p.per_gpu_memory == gib(per_gpu)
    assert p.disk == gib(disk)
    assert p.context_length == ctx
    assert p.supports_tuning is tune
    assert p.supports_distributed is dist
    if image:
        assert p.image("mcr.microsoft.com/aks/kaito") == f"mcr.microsoft.com/aks/kaito/{image}"


def test_deprecated_flags() -> None:
    deprecated = {p.name for p in presets.inference_presets() if p.deprecated}
    assert "phi-2" in deprecated
    assert {n for n in deprecated if not n.startswith("llama-2")} == {"phi-2"}


def test_download_at_runtime_and_auth() -> None:
    llama = presets.get_inference_preset("llama-3.1-8b-instruct")
    assert llama is not None and llama.download_at_runtime and llama.download_auth_required
    phi = presets.get_inference_preset("phi-3-mini-4k-instruct")
    assert phi is not None and not phi.download_at_runtime


def test_lookups_are_case_insensitive() -> None:
    assert presets.get_inference_preset("PHI-3-Mini-4K-Instruct") is presets.get_inference_preset(
        "phi-3-mini-4k-instruct"
    )
    assert presets.get_tuning_preset("Falcon-7B") is not None
    sku = presets.get_sku("STANDARD_NC6S_V3")
    assert sku is not None and sku.sku == "Standard_NC6s_v3"
    assert presets.get_sku("P4D.24XLARGE", "aws") is not None
    assert presets.get_sku("p4d.24xlarge") is None  # wrong cloud
    assert presets.get_inference_preset("nope") is None


def test_tuning_presets_only_for_tunable_models() -> None:
    for t in presets.tuning_presets():
        inference = presets.get_inference_preset(t.name)
        assert inference is not None and inference.supports_tuning, t.name
    tunable = {p.name for p in presets.inference_presets() if p.supports_tuning}
    assert tunable == {t.name for t in presets.tuning_presets()}


def test_tuning_values() -> None:
    phi3 = presets.get_tuning_preset("phi-3-mini-4k-instruct")
    assert phi3 is not None
    assert (phi3.gpu_count, phi3.per_gpu_memory, phi3.total_gpu_memory) == (1, gib(72), gib(72))
    falcon40 = presets.get_tuning_preset("falcon-40b")
    assert falcon40 is not None
    assert (falcon40.gpu_count, falcon40.total_gpu_memory, falcon40.per_gpu_memory) == (
        2,
        gib(90),
        gib(16),
    )
    falcon7 = presets.get_tuning_preset("falcon-7b")
    assert falcon7 is not None and falcon7.per_gpu_memory_for("QLoRA") == gib(16)
    assert falcon7.methods == ("lora", "qlora")


@pytest.mark.parametrize(
    ("cloud", "sku", "gpus", "model", "memory", "nvme"),
    [
        ("azure", "Standard_NC6s_v3", 1, "NVIDIA V100", 16, False),
        ("azure", "Standard_NC12s_v3", 2, "NVIDIA V100", 32, False),
        ("azure", "Standard_NC24rs_v3", 4, "NVIDIA V100", 64, False),
        ("azure", "Standard_NC4as_T4_v3", 1, "NVIDIA T4", 16, False),
        ("azure", "Standard_NC64as_T4_v3", 4, "NVIDIA T4", 64, False),
        ("azure", "Standard_NC24ads_A100_v4", 1, "NVIDIA A100", 80, True),
        ("azure", "Standard_ND96asr_A100_v4", 8, "NVIDIA A100", 320, False),
        ("azure", "Standard_ND96isr_H200_v5", 8, "NVIDIA H200", 1128, True),
        ("azure", "Standard_NV36ads_A10_v5", 1, "NVIDIA A10", 24, False),
        ("azure", "Standard_NC6", 1, "NVIDIA K80", 12, False),
        ("aws", "p5.48xlarge", 8, "NVIDIA H100", 640, True),
        ("aws", "g5.12xlarge", 4, "NVIDIA A10G", 96, True),
        ("aws", "inf2.48xlarge", 12, "AWS Inferentia2", 384, False),
        ("arc", "Standard_NC16_A2", 2, "NVIDIA A2", 32, False),
        ("arc", "Standard_NC8_A16", 1, "NVIDIA A16", 16, False),
    ],
)
def test_skus(cloud: str, sku: str, gpus: int, model: str, memory: int, nvme: bool) -> None:
    config = presets.get_sku(sku, cloud)
    assert config is not None
    assert (config.gpu_count, config.gpu_model, config.gpu_memory, config.nvme) == (
        gpus,
        model,
        gib(memory),
        nvme,
    )
    assert config.per_gpu_memory == gib(memory) // gpus
    assert config.cloud == cloud


def test_every_sku_is_consistent() -> None:
    cat = default_catalog()
    for cloud in presets.CLOUDS:
        names = cat.sku_names(cloud)
        assert names == sorted(names) and len(names) == len(set(n.lower() for n in names))
        for name in names:
            s = cat.sku(name, cloud)
            assert s is not None
            if s.cpu_only:  # a CPU SKU: no GPU fields, its vCPUs and memory instead
                assert (s.gpu_model, s.gpu_memory, s.compute_capability) == ("", 0, None)
                assert s.vcpus and s.memory and s.memory >= s.vcpus * gib(1)
                continue
            assert s.gpu_count > 0 and s.gpu_memory % s.gpu_count == 0
            if s.gpu_model.startswith("NVIDIA"):
                assert s.compute_capability is not None and 3.0 <= s.compute_capability < 10
            else:
                assert s.compute_capability is None


def test_render_presets_table() -> None:
    text = presets.render_presets_table()
    lines = text.splitlines()
    assert lines[0].split() == [
        "NAME",
        "GPUS",
        "GPU-MEMORY",
        "PER-GPU",
        "DISK",
        "CONTEXT",
        "RUNTIME",
        "TUNING",
        "DISTRIBUTED",
        "IMAGE",
        "DEPRECATED",
    ]
    assert len(lines) == 1 + len(presets.inference_presets())
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["phi-3-mini-4k-instruct"][:9] == [
        "phi-3-mini-4k-instruct",
        "1",
        "9Gi",
        "-",
        "87Gi",
        "4096",
        "transformers",
        "yes",
        "no",
    ]
    assert rows["deepseek-r1-distill-llama-8b"][2] == "16.5Gi"
    assert rows["phi-2"][-1] == "yes"
    assert all(line == line.rstrip() for line in lines)
    # columns line up: every row starts each column where the header does
    starts = [lines[0].index(h) for h in ("GPUS", "IMAGE")]
    for line in lines[1:]:
        assert line[starts[0] - 1] == " " and line[starts[0]] != " "
    hidden = presets.render_presets_table(deprecated=False)
    assert "phi-2 " not in hidden and "phi-3-mini-4k-instruct" in hidden


def test_render_other_tables() -> None:
    tuning = presets.render_tuning_table()
    assert tuning.splitlines()[0].split()[:2] == ["NAME", "GPUS"]
    assert "qlora=16Gi" in tuning
    skus = presets.render_skus_table("arc")
    assert len(skus.splitlines()) == 1 + len(presets.sku_names("arc"))
    assert "NVIDIA A16" in skus


def test_data_files_ship_in_the_package() -> None:
    data = resources.files("kaito.presets").joinpath("data")
    assert {p.name for p in data.iterdir() if p.name.endswith(".yaml")} >= {
        "inference.yaml",
        "tuning.yaml",
        "skus.yaml",
    }
    assert PresetCatalog.load() == default_catalog()

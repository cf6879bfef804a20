"""The default ConfigMaps (manifests and package data) and how kaito-tune parses a config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kaito.contracts import tuning_configmaps as defaults
from kaito.tuning.config import parse_training_config
from kaito.tuning.errors import TuningError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_manifest_and_package_copy_are_identical(method: str) -> None:
    name = defaults.TEMPLATE_NAMES[method]
    manifest = (REPO / "manifests" / "configmaps" / f"{name}.yaml").read_text()
    assert manifest == defaults.configmap_manifest(method)
    cm = yaml.safe_load(manifest)
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"] == {"name": name, "namespace": "kaito-system"}


def test_upstream_default_values() -> None:
    lora = parse_training_config(defaults.training_config_yaml("lora"))
    qlora = parse_training_config(defaults.training_config_yaml("qlora"))
    assert lora.model.torch_dtype == "bfloat16"
    assert lora.model.local_files_only is True
    assert lora.model.device_map == "auto"
    assert dict(lora.lora) == {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0}
    assert dict(lora.training_arguments) == {
        "output_dir": "/mnt/results",
        "ddp_find_unused_parameters": False,
        "save_strategy": "epoch",
        "per_device_train_batch_size": 1,
    }
    assert lora.collator.mlm is True
    assert lora.dataset.shuffle_dataset is True
    assert lora.dataset.train_test_split == 1
    assert lora.output_dir == Path("/mnt/results")
    assert not lora.quantized
    assert qlora.quantized
    assert dict(qlora.quantization) == {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
        "bnb_4bit_use_double_quant": True,
    }


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tuning method 'dora'"):
        defaults.configmap("dora")


def test_dataclass_defaults_match_upstream_cli() -> None:
    config = parse_training_config("training_config: {}\n")
    assert config.model.pretrained_model_name_or_path == "/workspace/tfs/weights"
    assert config.model.revision == "main"
    assert config.dataset.response_column == "text"
    assert config.dataset.train_test_split == 0.8
    assert config.dataset.shuffle_seed == 42
    assert config.output_dir == Path("/mnt/results")


def test_unknown_model_fields_pass_through_to_from_pretrained() -> None:
    config = parse_training_config(
        "training_config:\n  ModelConfig:\n    attn_implementation: eager\n    revision: v2\n"
    )
    assert config.model.revision == "v2"
    assert dict(config.model.extra) == {"attn_implementation": "eager"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("training_config:\n  Nope: {}\n", "Unrecognized section: Nope"),
        ("training_config:\n  DatasetConfig:\n    colum: x\n", "DatasetConfig: unknown field"),
        ("training_config:\n  LoraConfig: 3\n", "LoraConfig must be a mapping"),
        ("training_config: [1]\n", "training_config must be a mapping"),
        ("- a\n", "must be a mapping with a training_config key"),
        ("training_config: {a: [}\n", "not valid YAML"),
    ],
)
def test_bad_configs_raise_a_sentence(text: str, message: str) -> None:
    with pytest.raises(TuningError, match=message):
        parse_training_config(text)


def test_default_target_modules_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_TARGET_MODULES", "k_proj, q_proj,v_proj")
    config = parse_training_config(defaults.training_config_yaml("lora"))
    assert config.lora["target_modules"] == ["k_proj", "q_proj", "v_proj"]
    explicit = parse_training_config(
        "training_config:\n  LoraConfig:\n    target_modules: [o_proj]\n"
    )
    assert explicit.lora["target_modules"] == ["o_proj"]


def test_the_program_imports_nothing_of_the_operator() -> None:
    code = (
        "import sys, kaito.tuning.__main__, kaito.tuning.train, kaito.tuning.pusher,"
        " kaito.tuning.fetch;"
        "print(sorted(m for m in sys.modules if m.startswith('kaito.')"
        " and not m.startswith(('kaito.tuning', 'kaito.contracts', 'kaito.urlguard'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

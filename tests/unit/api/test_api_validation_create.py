"""Table tests: every create-time rule, with the exact text users see."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api import workspace_from_dict, workspace_to_dict
from kaito.api.validation import validate_create
from tests.unit.api.api_builders import CATALOG, CLOUD, edited, inference_dict, tuning_dict

INF = inference_dict()
TUN = tuning_dict()


def _adapter(name: str = "a1", **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"name": name, "image": "registry.example.com/adapter:1"}
    source.update(extra.pop("source", {}))
    return {"source": source, **extra}


# (case id, base, [(path, value), ...], full error line expected)
CASES: list[tuple[str, dict[str, Any], list[tuple[str, Any]], str]] = [
    (
        "neither inference nor tuning",
        INF,
        [("inference", ...)],
        "Either Inference or Tuning must be specified, not neither: spec",
    ),
    (
        "both inference and tuning",
        INF,
        [("tuning", TUN["tuning"])],
        "Either Inference or Tuning must be specified, but not both: spec",
    ),
    (
        "name not a DNS-1123 label",
        INF,
        [("metadata.name", "Bad_Name")],
        "invalid value: a lowercase RFC 1123 label must consist of lower case alphanumeric "
        "characters or '-', and must start and end with an alphanumeric character (e.g. "
        "'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?'): metadata.name",
    ),
    (
        "name too long",
        INF,
        [("metadata.name", "a" * 64)],
        "invalid value: must be no more than 63 characters: metadata.name",
    ),
    (
        "instanceType missing with node auto-provisioning",
        INF,
        [("resource.instanceType", ...)],
        "instanceType is required when node auto-provisioning is enabled: resource.instanceType",
    ),
    (
        "preset and template both",
        INF,
        [("inference.template", {"spec": {"containers": [{"name": "c", "image": "x"}]}})],
        "Preset and Template cannot be set at the same time: inference",
    ),
    (
        "neither preset nor template",
        INF,
        [("inference.preset", ...)],
        "Preset or Template must be specified: inference",
    ),
    (
        "unknown preset",
        INF,
        [("inference.preset.name", "no-such-model")],
        "invalid value: Unsupported inference preset name no-such-model: inference.preset.name",
    ),
    (
        "deprecated preset",
        INF,
        [("inference.preset.name", "phi-2")],
        "Model phi-2 is deprecated and no longer supported: inference.preset.name",
    ),
    (
        "unknown SKU outside Standard_N/Standard_D",
        INF,
        [("resource.instanceType", "Standard_E4s_v5")],
        "invalid value: Unsupported instance type Standard_E4s_v5. Supported SKUs: ",
    ),
    (
        "too few GPUs",
        INF,
        [
            ("resource.instanceType", "Standard_NC24ads_A100_v4"),
            ("inference.preset.name", "falcon-40b"),
        ],
        "invalid value: Insufficient number of GPUs: Instance type Standard_NC24ads_A100_v4 "
        "provides 1, but preset falcon-40b requires at least 2: resource.instanceType",
    ),
    (
        "too little total GPU memory",
        INF,
        [("resource.instanceType", "Standard_NV6")],
        "invalid value: Insufficient total GPU memory: Instance type Standard_NV6 has a total "
        "of 8Gi, but preset phi-3-mini-4k-instruct requires at least 9Gi: resource.instanceType",
    ),
    (
        "fractional requirement quoted in GiB",
        INF,
        [
            ("resource.instanceType", "Standard_NC6s_v3"),
            ("inference.preset.name", "deepseek-r1-distill-llama-8b"),
        ],
        "invalid value: Insufficient total GPU memory: Instance type Standard_NC6s_v3 has a "
        "total of 16Gi, but preset deepseek-r1-distill-llama-8b requires at least 16.5Gi: "
        "resource.instanceType",
    ),
    (
        "deprecated llama-2 preset",
        INF,
        [("inference.preset.name", "llama-2-13b")],
        "Model llama-2-13b is deprecated and no longer supported: inference.preset.name",
    ),
    (
        "Kepler GPUs cannot run any preset",
        INF,
        [("resource.instanceType", "Standard_NC6")],
        "invalid value: Unsupported GPU: Instance type Standard_NC6 has NVIDIA K80 GPUs (CUDA "
        "compute capability 3.7), but preset phi-3-mini-4k-instruct on the vllm runtime "
        "needs compute capability 7.0 or newer: resource.instanceType",
    ),
    (
        "labelSelector missing",
        INF,
        [("resource.labelSelector", ...)],
        "missing field(s): resource.labelSelector",
    ),
    (
        "labelSelector only reserved labels",
        INF,
        [("resource.labelSelector", {"matchLabels": {"kaito.sh/workspace": "other"}})],
        "invalid value: matchLabels must contain at least one non-reserved label: "
        "resource.labelSelector.matchLabels",
    ),
    (
        "labelSelector empty",
        INF,
        [("resource.labelSelector", {})],
        "invalid value: matchLabels must contain at least one non-reserved label: "
        "resource.labelSelector.matchLabels",
    ),
    (
        "labelSelector with NotIn",
        INF,
        [
            (
                "resource.labelSelector",
                {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["b"]}]},
            )
        ],
        'invalid value: operator "NotIn" cannot be converted into a map: resource.labelSelector',
    ),
    (
        "labelSelector In with two values",
        INF,
        [
            (
                "resource.labelSelector",
                {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b", "c"]}]},
            )
        ],
        'invalid value: operator "In" without a single value cannot be converted into a map: '
        "resource.labelSelector",
    ),
    (
        "more than 10 adapters",
        INF,
        [("inference.adapters", [_adapter(f"a{i}") for i in range(11)])],
        "Number of Adapters exceeds the maximum limit, maximum of 10 allowed: inference.adapters",
    ),
    (
        "duplicate adapter names",
        INF,
        [("inference.adapters", [_adapter("dup"), _adapter("dup")])],
        "Duplicate adapter source name found: dup: inference.adapters[1].source.name",
    ),
    (
        "adapter name not DNS-1123",
        INF,
        [("inference.adapters", [_adapter("Bad_Name")])],
        "invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
        "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'): "
        "inference.adapters[0].source.name",
    ),
    (
        "adapter without name",
        INF,
        [("inference.adapters", [{"source": {"image": "registry.example.com/a:1"}}])],
        "Name of Adapter field must be specified: inference.adapters[0].source.name",
    ),
    (
        "adapter without source",
        INF,
        [("inference.adapters", [{"strength": "0.5"}])],
        "missing field(s): inference.adapters[0].source",
    ),
    (
        "adapter without image or volume",
        INF,
        [("inference.adapters", [{"source": {"name": "a1"}}])],
        "Either Image or Volume must be specified for adapter source: inference.adapters[0].source",
    ),
    (
        "adapter from URLs",
        INF,
        [("inference.adapters", [_adapter(source={"urls": ["https://example.com/a"]})])],
        "URLs are not supported as adapter source: inference.adapters[0].source.urls",
    ),
    (
        "adapter strength not a number",
        INF,
        [("inference.adapters", [_adapter(strength="strong")])],
        "Invalid strength value for Adapter 'a1': strconv.ParseFloat: parsing \"strong\": "
        "invalid syntax: inference.adapters[0].strength",
    ),
    (
        "adapter strength above 1",
        INF,
        [("inference.adapters", [_adapter(strength="1.5")])],
        "Strength value for Adapter 'a1' must be between 0 and 1: inference.adapters[0].strength",
    ),
    (
        "adapter strength negative",
        INF,
        [("inference.adapters", [_adapter(strength="-0.1")])],
        "Strength value for Adapter 'a1' must be between 0 and 1: inference.adapters[0].strength",
    ),
    (
        "adapter strength NaN",
        INF,
        [("inference.adapters", [_adapter(strength="NaN")])],
        "Strength value for Adapter 'a1' must be between 0 and 1: inference.adapters[0].strength",
    ),
    (
        "adapter strength with digit separator (Python accepts, Go does not)",
        INF,
        [("inference.adapters", [_adapter(strength="0_5")])],
        "Invalid strength value for Adapter 'a1': strconv.ParseFloat: parsing \"0_5\": "
        "invalid syntax: inference.adapters[0].strength",
    ),
    (
        "adapter image unparsable",
        INF,
        [("inference.adapters", [_adapter(source={"image": "registry.example.com/a b:1"})])],
        "invalid value: Unable to parse adapter image reference: invalid reference format: "
        "inference.adapters[0].source.image",
    ),
    (
        "gated preset without HF token secret",
        INF,
        [("inference.preset.name", "llama-3.1-8b-instruct")],
        "This preset requires authentication and needs a modelAccessSecret with HF_TOKEN key "
        "under presetOptions to download the model: "
        "inference.preset.presetOptions.modelAccessSecret",
    ),
    (
        "HF token secret on a preset that needs none",
        INF,
        [("inference.preset.presetOptions", {"modelAccessSecret": "hf"})],
        "This preset does not require a modelAccessSecret with HF_TOKEN key under presetOptions: "
        "inference.preset.presetOptions.modelAccessSecret",
    ),
    (
        "private access mode without image",
        INF,
        [("inference.preset.accessMode", "private")],
        "When AccessMode is private, an image must be provided in PresetOptions: "
        "inference.preset.presetOptions.image",
    ),
    (
        "vLLM runtime with adapter strength",
        INF,
        [
            ("metadata.annotations", {"kaito.sh/runtime": "vllm"}),
            ("inference.adapters", [_adapter(strength="0.5")]),
        ],
        "Runtime validation: vLLM does not support adapter strength: inference.adapters",
    ),
    (
        "vLLM runtime with falcon adapters",
        INF,
        [
            ("metadata.annotations", {"kaito.sh/runtime": "vllm"}),
            ("inference.preset.name", "falcon-7b"),
            ("inference.adapters", [_adapter()]),
        ],
        "Runtime validation: vLLM does not support LoRA adapters for this model: falcon-7b: "
        "inference.adapters",
    ),
    (
        "partition with node auto-provisioning",
        INF,
        [("resource.partition", {"mode": "mig", "profile": "1g.10gb"})],
        "GPU partitioning is only supported with BYO nodes (disableNodeAutoProvisioning=true): "
        "resource.partition",
    ),
    (
        "bad node image family annotation",
        INF,
        [("metadata.annotations", {"kaito.sh/node-image-family": "windows"})],
        'invalid value: unsupported node image family "windows", supported values are '
        'azurelinux, ubuntu: metadata.annotations["kaito.sh/node-image-family"]',
    ),
    (
        "bad performance mode annotation",
        INF,
        [("metadata.annotations", {"kaito.sh/performance-mode": "fast"})],
        'invalid value: "fast" is not a valid performance mode; choose one of: balanced, '
        "interactivity, throughput: metadata.annotations[kaito.sh/performance-mode]",
    ),
    (
        "use-local-weights not a boolean",
        INF,
        [("metadata.annotations", {"kaito.sh/use-local-weights": "yes"})],
        'invalid value: "yes" must be "true" or "false": '
        "metadata.annotations[kaito.sh/use-local-weights]",
    ),
    (
        "count zero",
        INF,
        [("resource.count", 0)],
        "invalid value: count must be at least 1, got 0: resource.count",
    ),
    # --- tuning -------------------------------------------------------------------
    (
        "tuning method unknown",
        TUN,
        [("tuning.method", "full")],
        "invalid value: full: tuning.method",
    ),
    ("tuning method missing", TUN, [("tuning.method", ...)], "missing field(s): tuning.method"),
    ("tuning preset missing", TUN, [("tuning.preset", ...)], "missing field(s): tuning.preset"),
    (
        "tuning preset that cannot be tuned",
        TUN,
        [("tuning.preset.name", "falcon-7b-instruct")],
        "invalid value: Unsupported tuning preset name falcon-7b-instruct: tuning.preset.name",
    ),
    (
        "tuning preset deprecated",
        TUN,
        [("tuning.preset.name", "phi-2")],
        "Model phi-2 is deprecated and no longer supported: tuning.preset.name",
    ),
    ("tuning input missing", TUN, [("tuning.input", ...)], "missing field(s): tuning.input"),
    ("tuning output missing", TUN, [("tuning.output", ...)], "missing field(s): tuning.output"),
    (
        "tuning input with two sources",
        TUN,
        [("tuning.input.image", "registry.example.com/data:1")],
        "Exactly one of URLs, Volume, or Image must be specified: tuning.input.image, "
        "tuning.input.urls, tuning.input.volumeSource",
    ),
    (
        "tuning input with no source",
        TUN,
        [("tuning.input", {"name": "data"})],
        "Exactly one of URLs, Volume, or Image must be specified: tuning.input.image, "
        "tuning.input.urls, tuning.input.volumeSource",
    ),
    (
        "tuning input URL with ftp scheme",
        TUN,
        [("tuning.input.urls", ["ftp://example.com/data"])],
        "invalid value: data source URL must use HTTP or HTTPS: tuning.input.urls[0]",
    ),
    (
        "tuning input URL to metadata service",
        TUN,
        [("tuning.input.urls", ["http://169.254.169.254/metadata/instance"])],
        "invalid value: data source URL must not target a loopback, private, or link-local "
        "address: tuning.input.urls[0]",
    ),
    (
        "tuning input URL to localhost",
        TUN,
        [("tuning.input.urls", ["https://example.com/ok", "http://localhost:8080/x"])],
        "invalid value: data source URL must not target a local or metadata endpoint: "
        "tuning.input.urls[1]",
    ),
    (
        "tuning input URL unparsable",
        TUN,
        [("tuning.input.urls", ["not a url"])],
        "invalid value: invalid data source URL: tuning.input.urls[0]",
    ),
    (
        "tuning output image without push secret",
        TUN,
        [("tuning.output.imagePushSecret", ...)],
        "Must specify imagePushSecret with destination image: tuning.output.imagePushSecret",
    ),
    (
        "tuning output with image and volume",
        TUN,
        [("tuning.output.volumeSource", {"emptyDir": {}})],
        "Exactly one of Volume or Image must be specified: tuning.output.image, "
        "tuning.output.volumeSource",
    ),
    (
        "tuning output image unparsable",
        TUN,
        [("tuning.output.image", "https://registry.example.com/out:1")],
        "invalid value: Unable to parse output image reference: invalid reference format: "
        "tuning.output.image",
    ),
    (
        "tuning input image unparsable",
        TUN,
        [("tuning.input", {"image": "registry.example.com/data:bad tag"})],
        "invalid value: Unable to parse input image reference: invalid reference format: "
        "tuning.input.image",
    ),
    (
        "tuning on more than one node",
        TUN,
        [("resource.count", 2)],
        "invalid value: Tuning does not currently support multinode configurations. Please set "
        "the node count to 1. Future support with DeepSpeed will allow this.: resource.count",
    ),
    (
        "tuning with a GPU partition",
        TUN,
        [("resource.partition", {"mode": "accelerator", "count": 1})],
        "invalid value: GPU partitioning is not supported for tuning workloads: resource.partition",
    ),
    (
        "tuning on an unknown SKU",
        TUN,
        [("resource.instanceType", "m5.large")],
        "invalid value: Unsupported instance type m5.large. Supported SKUs: ",
    ),
]


@pytest.mark.parametrize(
    ("base", "edits", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_create_rule(base: dict[str, Any], edits: list[tuple[str, Any]], expected: str) -> None:
    data = base
    for path, value in edits:
        data = workspace_to_dict(edited(data, path, value))
    result = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD)
    assert not result.allowed
    if expected.endswith("Supported SKUs: "):
        assert any(e.startswith(expected) for e in result.errors), result.errors
    else:
        assert expected in result.errors, result.errors
    assert result.message.startswith("validation failed: ")


def test_valid_bases_pass() -> None:
    assert validate_create(workspace_from_dict(INF), catalog=CATALOG, cloud=CLOUD).errors == []
    assert validate_create(workspace_from_dict(TUN), catalog=CATALOG, cloud=CLOUD).errors == []


def test_unknown_sku_lists_supported_skus_sorted() -> None:
    result = validate_create(
        edited(INF, "resource.instanceType", "Standard_E4s_v5"), catalog=CATALOG, cloud=CLOUD
    )
    (error,) = result.errors
    listed = error.split("Supported SKUs: ", 1)[1].rsplit(": resource.instanceType", 1)[0]
    names = listed.split(", ")
    assert names == sorted(names)
    assert "Standard_NC6s_v3" in names and "Standard_NC24ads_A100_v4" in names


@pytest.mark.parametrize("sku", ["Standard_NC999_v9", "Standard_D999s_v9", "standard_nd1000"])
def test_unknown_azure_n_and_d_series_pass(sku: str) -> None:
    assert (
        validate_create(
            edited(INF, "resource.instanceType", sku), catalog=CATALOG, cloud=CLOUD
        ).errors
        == []
    )


def test_unknown_n_series_rejected_on_aws() -> None:
    ws = edited(INF, "resource.instanceType", "Standard_NC999_v9")
    (error,) = validate_create(ws, catalog=CATALOG, cloud="aws").errors
    assert error.startswith("invalid value: Unsupported instance type Standard_NC999_v9.")
    assert "p4d.24xlarge" in error


def test_aws_sku_checked_for_memory() -> None:
    ws = edited(INF, "resource.instanceType", "g4ad.xlarge")
    assert validate_create(ws, catalog=CATALOG, cloud="aws").errors == [
        "invalid value: Insufficient total GPU memory: Instance type g4ad.xlarge has a total of "
        "8Gi, but preset phi-3-mini-4k-instruct requires at least 9Gi: resource.instanceType"
    ]


def test_sku_lookup_is_case_insensitive_and_message_keeps_user_spelling() -> None:
    ws = edited(INF, "resource.instanceType", "standard_nv6")
    # kaito's runtime contract: transformers, which these M60s can run (vLLM cannot)
    (error,) = validate_create(ws, catalog=CATALOG, cloud=CLOUD, runtime_contract="kaito").errors
    assert "Instance type standard_nv6 has a total of 8Gi" in error


def test_count_multiplies_gpus_and_memory() -> None:
    ws = edited(inference_dict(count=2), "resource.instanceType", "Standard_NV12s_v3")
    # 2 x 8Gi = 16Gi >= 9Gi for phi-3-mini (on transformers: vLLM needs newer GPUs than M60s)
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD, runtime_contract="kaito").errors == []
    ws = edited(inference_dict(count=2), "inference.preset.name", "falcon-40b")
    # 2 nodes x 1 A100 = 2 GPUs, 160Gi >= 90Gi
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD).errors == []


def test_bypass_annotation_skips_gpu_checks() -> None:
    base = edited(INF, "resource.instanceType", "Standard_NC6")
    assert not validate_create(base, catalog=CATALOG, cloud=CLOUD).allowed
    data = inference_dict(instanceType="Standard_NC6")
    data["metadata"]["annotations"] = {"kaito.sh/bypass-resource-checks": ""}
    assert validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors == []


def test_per_gpu_memory_rule() -> None:
    from kaito.api.catalog import GPUConfig, InferencePreset
    from kaito.presets import default_catalog

    class Catalog:
        """The shipped catalog plus one non-deprecated preset with a per-GPU need."""

        def __init__(self) -> None:
            self.base = default_catalog()
            self.extra = InferencePreset(
                name="big-layers",
                family="test",
                hf_model_id=None,
                gpu_count=1,
                total_gpu_memory=10 * 1024**3,
                per_gpu_memory=20 * 1024**3,
                disk=1024**3,
                context_length=None,
                runtime="transformers",
                supports_tuning=False,
                supports_distributed=False,
                image_name="kaito-big-layers",
                image_tag="1",
            )

        def inference_preset(self, name: str) -> InferencePreset | None:
            return self.extra if name == "big-layers" else self.base.inference_preset(name)

        def tuning_preset(self, name: str) -> Any:
            return self.base.tuning_preset(name)

        def sku(self, instance_type: str, cloud: str = "azure") -> GPUConfig | None:
            return self.base.sku(instance_type, cloud)

        def sku_names(self, cloud: str = "azure") -> list[str]:
            return self.base.sku_names(cloud)

    ws = edited(
        inference_dict(instanceType="Standard_NC12s_v3"), "inference.preset.name", "big-layers"
    )
    assert validate_create(ws, cloud=CLOUD, catalog=Catalog()).errors == [
        "invalid value: Insufficient per GPU memory: Instance type Standard_NC12s_v3 provides "
        "16Gi per GPU, but preset big-layers requires at least 20Gi per GPU: resource.instanceType"
    ]


def test_multinode_transformers() -> None:
    data = inference_dict(instanceType="Standard_ND96isr_H100_v5", count=2)
    data["inference"]["preset"]["name"] = "deepseek-r1-0528"
    data["metadata"]["annotations"] = {"kaito.sh/runtime": "transformers"}
    errors = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors
    assert errors == [
        "Multi-node distributed inference is not supported with Huggingface Transformers "
        "runtime: resource"
    ]
    data["metadata"]["annotations"] = {"kaito.sh/runtime": "vllm"}
    assert validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors == []


def test_vllm_needs_volta() -> None:
    data = inference_dict(instanceType="Standard_NV12s_v3", count=2)
    data["metadata"]["annotations"] = {"kaito.sh/runtime": "vllm"}
    (error,) = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors
    assert "on the vllm runtime needs compute capability 7.0 or newer" in error
    assert "NVIDIA M60 GPUs (CUDA compute capability 5.2)" in error


def test_template_workspace_skips_preset_checks() -> None:
    data = inference_dict(instanceType="Standard_NC6")
    data["inference"] = {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    assert validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors == []


def test_byo_mode() -> None:
    ws = workspace_from_dict(INF)
    assert validate_create(
        ws, catalog=CATALOG, cloud=CLOUD, node_auto_provisioning=False
    ).errors == [
        "invalid value: instanceType must be empty when node auto-provisioning is disabled "
        "(BYO scenario): resource.instanceType"
    ]
    ws = edited(INF, "resource.instanceType", ...)
    assert (
        validate_create(ws, catalog=CATALOG, cloud=CLOUD, node_auto_provisioning=False).errors == []
    )
    byo = inference_dict()
    del byo["resource"]["instanceType"]
    ws = edited(byo, "resource.partition", {"mode": "mig"})
    assert validate_create(
        ws, catalog=CATALOG, cloud=CLOUD, node_auto_provisioning=False
    ).errors == ["MIG support is not enabled, set feature gate enableMIG=true: resource.partition"]


def test_errors_merged_and_sorted_like_knative() -> None:
    data = inference_dict(instanceType="Standard_NC6")
    data["inference"]["preset"]["name"] = "falcon-40b"
    errors = validate_create(workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD).errors
    assert errors == sorted(errors)
    assert len(errors) == 3
    assert all(e.endswith(": resource.instanceType") for e in errors)


def test_tuning_never_rejected_for_gpu_memory_but_warned() -> None:
    ws = edited(TUN, "resource.instanceType", "Standard_NC6s_v3")
    result = validate_create(ws, catalog=CATALOG, cloud=CLOUD)
    assert result.errors == []
    assert result.warnings == [
        "Tuning preset phi-3-mini-4k-instruct with method qlora may need up to 72Gi of GPU "
        "memory per GPU, but instance type Standard_NC6s_v3 provides 16Gi per GPU; the tuning "
        "job may run out of GPU memory (qlora and a smaller batch size use less)"
    ]
    assert validate_create(workspace_from_dict(TUN), catalog=CATALOG, cloud=CLOUD).warnings == []


def test_tuning_warns_for_too_few_gpus() -> None:
    ws = edited(TUN, "tuning.preset.name", "falcon-40b")
    result = validate_create(ws, catalog=CATALOG, cloud=CLOUD)
    assert result.errors == []
    assert result.warnings == [
        "Tuning preset falcon-40b needs 2 GPUs, but instance type Standard_NC24ads_A100_v4 "
        "provides 1; the tuning job may not fit"
    ]


def test_tuning_method_is_case_insensitive() -> None:
    assert (
        validate_create(edited(TUN, "tuning.method", "QLoRA"), catalog=CATALOG, cloud=CLOUD).errors
        == []
    )


def test_preset_names_are_case_insensitive() -> None:
    assert (
        validate_create(
            edited(INF, "inference.preset.name", "Phi-3-Mini-4K-Instruct"),
            catalog=CATALOG,
            cloud=CLOUD,
        ).errors
        == []
    )


def test_warnings_fit_the_api_server_limit() -> None:
    """The API server may truncate admission warnings longer than 256 characters."""
    from kaito import presets

    seen = 0
    for tuning in presets.tuning_presets():
        for sku in presets.sku_names():
            data = tuning_dict(instanceType=sku)
            data["tuning"]["preset"]["name"] = tuning.name
            for warning in validate_create(
                workspace_from_dict(data), catalog=CATALOG, cloud=CLOUD
            ).warnings:
                seen += 1
                assert len(warning) <= 256, warning
    assert seen > 50

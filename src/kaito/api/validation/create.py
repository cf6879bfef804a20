"""Rules for a new Workspace (upstream ``Workspace.ValidateCreate``).

The controller runs the same function on every object it reconciles, so a
cluster without the webhook still refuses to act on an invalid Workspace.
"""

from __future__ import annotations

from kaito.api import constants as c
from kaito.api.catalog import Catalog, GPUConfig, InferencePreset
from kaito.api.runtime_choice import (
    chosen_contract,
    chosen_runtime,
    chosen_weights_source,
    contract_of,
    runtime_of,
    weights_source_of,
)
from kaito.api.validation.errors import (
    Collector,
    FieldError,
    ValidationResult,
    generic,
    invalid_value,
    missing_field,
    quoted,
    shorten,
)
from kaito.api.validation.gpu import (
    check_inference_fit,
    lookup_sku,
    warn_tuning_fit,
)
from kaito.api.validation.names import dns1123_label_errors
from kaito.api.validation.sources import (
    check_adapters,
    check_label_selector,
    check_tuning_input,
    check_tuning_output,
)
from kaito.api.validation.template import check_pod_template
from kaito.api.workspace import InferenceSpec, ResourceSpec, TuningSpec, Workspace
from kaito.urlguard import Network


def validate_create(
    ws: Workspace,
    *,
    catalog: Catalog,
    cloud: str,
    node_auto_provisioning: bool = True,
    trusted_data_networks: tuple[Network, ...] = (),
    max_node_count: int = c.DEFAULT_MAX_NODE_COUNT,
    runtime_contract: str = c.CONTRACT_UPSTREAM,
) -> ValidationResult:
    """Every create-time rule; errors in upstream's words, warnings for kubectl.

    ``node_auto_provisioning=False`` is the BYO-nodes mode (``instanceType`` must be
    empty and no SKU checks apply). ``catalog`` holds the presets and SKU tables (the
    caller's, e.g. ``kaito.presets.default_catalog()``: this package never loads one) and
    ``cloud`` picks the SKU table (azure, aws, arc); both are required, so admission and
    the reconciler cannot judge against different tables by omission.
    ``trusted_data_networks`` are private networks tuning input URLs may name.
    ``runtime_contract`` is the manager's default contract (``--runtime-contract``).
    ``max_node_count`` is the manager's cap on ``resource.count`` (its
    ``--max-nodes-per-workspace`` flag); ``kaito.sh/bypass-resource-checks`` does not lift it.
    """
    check_max_node_count(max_node_count)
    out = Collector()
    if ws.name:
        for msg in dns1123_label_errors(ws.name):
            out.add(invalid_value(msg, "metadata.name"))
    if ws.inference is None and ws.tuning is None:
        out.add(generic("Either Inference or Tuning must be specified, not neither", "spec"))
    if ws.inference is not None and ws.tuning is not None:
        out.add(generic("Either Inference or Tuning must be specified, but not both", "spec"))
    _check_provisioning(out, ws, node_auto_provisioning)
    count_valid = check_count(out, ws.resource, max_node_count)
    _check_annotations(out, ws)
    check_label_selector(out, ws.resource.label_selector, "resource.labelSelector")
    sku = lookup_sku(out, ws, cloud, catalog) if node_auto_provisioning else None
    if ws.inference is not None:
        _check_partition(out, ws, node_auto_provisioning)
        _check_inference(out, ws, ws.inference, sku, catalog, count_valid, runtime_contract)
    if ws.tuning is not None:
        _check_tuning(out, ws, ws.tuning, sku, catalog, trusted_data_networks, count_valid)
    return out.result()


def check_max_node_count(max_node_count: int) -> None:
    """A cap below one node is a configuration mistake of the caller, not of the object."""
    if max_node_count < 1:
        raise ValueError(f"max_node_count must be at least 1, got {max_node_count}")


def check_count(out: Collector, resource: ResourceSpec, max_node_count: int) -> bool:
    """``resource.count`` is at least 1 and at most the manager's cap; ``False`` if not.

    The cap holds whatever the annotations say: each node is a GPU VM.
    """
    count = resource.count
    if count is None:
        return True
    if count < 1:
        out.add(invalid_value(f"count must be at least 1, got {shorten(count)}", "resource.count"))
        return False
    if count > max_node_count:
        out.add(
            invalid_value(
                f"count {shorten(count)} exceeds the limit of {max_node_count} nodes per "
                "Workspace; a cluster operator can raise it with the manager flag "
                f"{c.MAX_NODES_PER_WORKSPACE_FLAG}",
                "resource.count",
            )
        )
        return False
    return True


def _check_provisioning(out: Collector, ws: Workspace, nap: bool) -> None:
    if nap and not ws.resource.instance_type:
        out.add(
            generic(
                "instanceType is required when node auto-provisioning is enabled",
                "resource.instanceType",
            )
        )
    if not nap and ws.resource.instance_type:
        out.add(
            invalid_value(
                "instanceType must be empty when node auto-provisioning is disabled (BYO scenario)",
                "resource.instanceType",
            )
        )


def _check_annotations(out: Collector, ws: Workspace) -> None:
    notes = ws.annotations
    family = notes.get(c.ANNOTATION_NODE_IMAGE_FAMILY)
    if family is not None and family.lower() not in c.NODE_IMAGE_FAMILIES:
        out.add(
            invalid_value(
                f"unsupported node image family {quoted(family)}, "
                "supported values are azurelinux, ubuntu",
                f'metadata.annotations["{c.ANNOTATION_NODE_IMAGE_FAMILY}"]',
            )
        )
    mode = notes.get(c.ANNOTATION_PERFORMANCE_MODE)
    if mode is not None and mode not in c.PERFORMANCE_MODES:
        out.add(
            invalid_value(
                f"{quoted(mode)} is not a valid performance mode; "
                "choose one of: balanced, interactivity, throughput",
                f"metadata.annotations[{c.ANNOTATION_PERFORMANCE_MODE}]",
            )
        )
    local = notes.get(c.ANNOTATION_USE_LOCAL_WEIGHTS)
    if local is not None and local not in ("true", "false"):
        out.add(
            invalid_value(
                f'{quoted(local)} must be "true" or "false"',
                f"metadata.annotations[{c.ANNOTATION_USE_LOCAL_WEIGHTS}]",
            )
        )
    check_runtime_annotation(out, ws)
    check_contract_annotation(out, ws)


def check_runtime_annotation(out: Collector, ws: Workspace) -> None:
    """``kaito.sh/runtime``, when set, names a runtime (``transformers`` or ``vllm``).

    Upstream silently runs its default for any other value; a typo such as
    ``transformer`` would then run the other server without a word. Case and spaces
    around the value do not matter (the controller ignores them too).
    """
    runtime = ws.annotations.get(c.ANNOTATION_RUNTIME)
    if runtime is not None and chosen_runtime(ws) is None:
        out.add(invalid_runtime(runtime))


def check_contract_annotation(out: Collector, ws: Workspace) -> None:
    """``kaito.sh/runtime-contract``, when set, names a contract (``upstream`` or ``kaito``)."""
    value = ws.annotations.get(c.ANNOTATION_RUNTIME_CONTRACT)
    if value is not None and chosen_contract(ws) is None:
        out.add(invalid_contract(value))


def invalid_contract(value: str) -> FieldError:
    return invalid_value(
        f"{quoted(value)} is not a valid runtime contract; choose one of: "
        + ", ".join(c.CONTRACTS),
        f"metadata.annotations[{c.ANNOTATION_RUNTIME_CONTRACT}]",
    )


def _check_weights_source(
    out: Collector, ws: Workspace, preset: InferencePreset, contract: str
) -> None:
    """``kaito.sh/weights-source`` names a source this preset has under this contract."""
    value = ws.annotations.get(c.ANNOTATION_WEIGHTS_SOURCE)
    if value is None:
        return
    path = f"metadata.annotations[{c.ANNOTATION_WEIGHTS_SOURCE}]"
    source = chosen_weights_source(ws)
    if source is None:
        out.add(
            invalid_value(
                f"{quoted(value)} is not a valid weights source; choose one of: "
                + ", ".join(c.WEIGHTS_SOURCES),
                path,
            )
        )
    elif contract == c.CONTRACT_UPSTREAM and source == c.WEIGHTS_ARTIFACT:
        out.add(
            invalid_value(
                "upstream's image downloads the weights itself; pulling them as an artifact "
                f"needs {c.ANNOTATION_RUNTIME_CONTRACT}: {c.CONTRACT_KAITO}",
                path,
            )
        )
    elif source == c.WEIGHTS_ARTIFACT and not preset.weights_artifact_image:
        out.add(
            invalid_value(
                f"no weights artifact is published for preset {preset.name}; "
                f"use {c.WEIGHTS_DOWNLOAD}",
                path,
            )
        )
    elif source == c.WEIGHTS_DOWNLOAD and not preset.hf_model_id:
        out.add(invalid_value(f"preset {preset.name} names no HuggingFace model to download", path))


def _check_contract(out: Collector, ws: Workspace, preset: InferencePreset, contract: str) -> None:
    """What the chosen contract's image cannot do for this preset, said at admission."""
    path = f"metadata.annotations[{c.ANNOTATION_RUNTIME_CONTRACT}]"
    if chosen_contract(ws) == c.CONTRACT_UPSTREAM and not preset.upstream_runtimes:
        out.add(
            invalid_value(
                f"preset {preset.name} is kaito's own: upstream's images do not serve it; "
                f"use {c.ANNOTATION_RUNTIME_CONTRACT}: {c.CONTRACT_KAITO}",
                path,
            )
        )
    runtime = chosen_runtime(ws)
    if contract == c.CONTRACT_UPSTREAM and runtime and runtime not in preset.upstream_runtimes:
        out.add(
            invalid_value(
                f"upstream's image does not serve preset {preset.name} with the {runtime} "
                f"runtime; choose one of: {', '.join(preset.upstream_runtimes)}",
                f"metadata.annotations[{c.ANNOTATION_RUNTIME}]",
            )
        )


def invalid_runtime(value: str) -> FieldError:
    """The error for a ``kaito.sh/runtime`` value that names no runtime."""
    return invalid_value(
        f"{quoted(value)} is not a valid runtime; choose one of: " + ", ".join(c.RUNTIMES),
        f"metadata.annotations[{c.ANNOTATION_RUNTIME}]",
    )


def _check_partition(out: Collector, ws: Workspace, nap: bool) -> None:
    if ws.resource.partition is None:
        return
    if nap:
        out.add(
            generic(
                "GPU partitioning is only supported with BYO nodes "
                "(disableNodeAutoProvisioning=true)",
                "resource.partition",
            )
        )
    elif ws.resource.partition.mode == "accelerator":
        out.add(
            generic(
                "accelerator partition support is not enabled, "
                "set feature gate enableAccelerator=true",
                "resource.partition",
            )
        )
    else:
        out.add(
            generic(
                "MIG support is not enabled, set feature gate enableMIG=true", "resource.partition"
            )
        )


def _check_inference(
    out: Collector,
    ws: Workspace,
    spec: InferenceSpec,
    sku: GPUConfig | None,
    cat: Catalog,
    count_valid: bool,
    default_contract: str,
) -> None:
    if spec.preset is None and spec.template is None:
        out.add(generic("Preset or Template must be specified", "inference"))
    if spec.preset is not None and spec.template is not None:
        out.add(generic("Preset and Template cannot be set at the same time", "inference"))
    if spec.template is not None:
        check_pod_template(out, spec.template, "inference.template")
    check_adapters(out, spec.adapters, "inference.adapters")
    if spec.preset is None:
        return
    name = spec.preset.name
    preset = cat.inference_preset(name)
    if preset is None:
        out.add(
            invalid_value(
                f"Unsupported inference preset name {shorten(name)}", "inference.preset.name"
            )
        )
        return
    if preset.deprecated:
        out.add(
            generic(
                f"Model {name.lower()} is deprecated and no longer supported",
                "inference.preset.name",
            )
        )
        return
    options = spec.preset.preset_options
    secret = options.model_access_secret if options else None
    contract = contract_of(ws, preset, default_contract)
    # weights pulled from an artifact need no HuggingFace token
    from_artifact = (
        contract == c.CONTRACT_KAITO and weights_source_of(ws, preset) == c.WEIGHTS_ARTIFACT
    )
    if preset.download_at_runtime:
        if preset.download_auth_required and not secret and not from_artifact:
            out.add(
                generic(
                    "This preset requires authentication and needs a modelAccessSecret with "
                    "HF_TOKEN key under presetOptions to download the model",
                    "inference.preset.presetOptions.modelAccessSecret",
                )
            )
    elif secret:
        out.add(
            generic(
                "This preset does not require a modelAccessSecret with HF_TOKEN key "
                "under presetOptions",
                "inference.preset.presetOptions.modelAccessSecret",
            )
        )
    if spec.preset.access_mode == "private" and not (options and options.image):
        out.add(
            generic(
                "When AccessMode is private, an image must be provided in PresetOptions",
                "inference.preset.presetOptions.image",
            )
        )
    _check_contract(out, ws, preset, contract)
    _check_weights_source(out, ws, preset, contract)
    runtime = runtime_of(ws, preset, contract)
    if runtime == c.RUNTIME_VLLM and spec.adapters:
        if preset.family == "falcon":
            out.add(
                generic(
                    "Runtime validation: vLLM does not support LoRA adapters for this model: "
                    f"{preset.name}",
                    "inference.adapters",
                )
            )
        if any(a.strength is not None for a in spec.adapters):
            out.add(
                generic(
                    "Runtime validation: vLLM does not support adapter strength",
                    "inference.adapters",
                )
            )
    if sku is not None:
        check_inference_fit(out, ws, sku, preset, runtime=runtime, count_valid=count_valid)


def _check_tuning(
    out: Collector,
    ws: Workspace,
    spec: TuningSpec,
    sku: GPUConfig | None,
    cat: Catalog,
    trusted: tuple[Network, ...],
    count_valid: bool,
) -> None:
    method = (spec.method or "").lower()
    if not spec.method:
        out.add(missing_field("tuning.method"))
    elif method not in c.TUNING_METHODS:
        out.add(invalid_value(shorten(spec.method), "tuning.method"))
    if spec.input is None:
        out.add(missing_field("tuning.input"))
    else:
        check_tuning_input(out, spec.input, "tuning.input", trusted)
    if spec.output is None:
        out.add(missing_field("tuning.output"))
    else:
        check_tuning_output(out, spec.output, "tuning.output")
    if ws.resource.node_count > 1:
        out.add(
            invalid_value(
                "Tuning does not currently support multinode configurations. Please set the "
                "node count to 1. Future support with DeepSpeed will allow this.",
                "resource.count",
            )
        )
    if ws.resource.partition is not None:
        out.add(
            invalid_value(
                "GPU partitioning is not supported for tuning workloads", "resource.partition"
            )
        )
    if spec.preset is None:
        out.add(missing_field("tuning.preset"))
        return
    name = spec.preset.name
    model = cat.inference_preset(name)
    if model is not None and model.deprecated:
        out.add(
            generic(
                f"Model {name.lower()} is deprecated and no longer supported", "tuning.preset.name"
            )
        )
        return
    tuning = cat.tuning_preset(name)
    if tuning is None:
        out.add(
            invalid_value(f"Unsupported tuning preset name {shorten(name)}", "tuning.preset.name")
        )
        return
    if chosen_contract(ws) == c.CONTRACT_UPSTREAM and not tuning.upstream_tuned:
        out.add(
            invalid_value(
                f"upstream's images do not tune preset {tuning.name}; "
                f"use {c.ANNOTATION_RUNTIME_CONTRACT}: {c.CONTRACT_KAITO}",
                f"metadata.annotations[{c.ANNOTATION_RUNTIME_CONTRACT}]",
            )
        )
    if method in c.TUNING_METHODS and method not in tuning.methods:
        out.add(
            invalid_value(
                f"Tuning method {method} is not supported for preset {tuning.name}; "
                f"supported methods: {', '.join(tuning.methods)}",
                "tuning.method",
            )
        )
        return
    if sku is not None and method in c.TUNING_METHODS:
        warn_tuning_fit(out, ws, sku, tuning, method, count_valid=count_valid)

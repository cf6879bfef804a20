"""Does the instance type fit the preset? SKU lookup and GPU count/memory checks.

Inference (upstream v0.4 ``ResourceSpec.validateCreate`` semantics, HEAD wording):
with ``count`` nodes of the SKU, the preset's GPU count, per-GPU memory and total
GPU memory must fit, unless the Workspace carries ``kaito.sh/bypass-resource-checks``.
An unknown SKU is rejected, except Azure ``Standard_N*``/``Standard_D*`` names,
which pass unchecked as upstream. Tuning is never rejected for GPU memory (qlora
fits where the lora-sized table says it does not); it gets admission warnings.

One check is kaito's own: the GPUs' CUDA compute capability must be one the
runtime's CUDA 12 build supports (Kepler K80 SKUs such as ``Standard_NC6`` cannot
run any preset); it is bypassed by the same annotation.

CPU presets and CPU instance types (``gpu_count`` 0, kaito's own) follow three rules:
a CPU preset on a CPU SKU gets no GPU checks, only "does its CPU and memory request
fit one node" (bypassable); a CPU preset on a GPU SKU is accepted (it runs on the
CPUs and leaves the GPUs idle); a GPU preset (or GPU tuning preset) on a CPU SKU is
refused in upstream's "Insufficient number of GPUs" words, even with the bypass
annotation, since no amount of bypassing gives the node a GPU.
"""

from __future__ import annotations

from typing import Final

from kaito.api import constants as c
from kaito.api.catalog import Catalog, GPUConfig, InferencePreset, TuningPreset
from kaito.api.quantity import format_memory
from kaito.api.validation.errors import Collector, generic, invalid_value, shorten
from kaito.api.workspace import Workspace

AZURE_OPEN_PREFIXES: Final = ("standard_n", "standard_d")
MIN_COMPUTE_CAPABILITY: Final = {c.RUNTIME_TRANSFORMERS: 5.0, c.RUNTIME_VLLM: 7.0}
"""CUDA 12 (PyTorch) dropped Kepler (3.x); vLLM needs Volta (7.0) or newer."""


def lookup_sku(out: Collector, ws: Workspace, cloud: str, catalog: Catalog) -> GPUConfig | None:
    """The SKU of ``resource.instanceType``; reports unknown ones. ``None`` if unknown or unset."""
    instance_type = ws.resource.instance_type
    if not instance_type:
        return None
    sku = catalog.sku(instance_type, cloud)
    if sku is None:
        open_name = cloud == "azure" and instance_type.lower().startswith(AZURE_OPEN_PREFIXES)
        if not open_name:
            supported = ", ".join(catalog.sku_names(cloud))
            out.add(
                invalid_value(
                    f"Unsupported instance type {shorten(instance_type)}. "
                    f"Supported SKUs: {supported}",
                    "resource.instanceType",
                )
            )
    return sku


def millicores(quantity: str) -> int:
    """A Kubernetes CPU quantity (``2``, ``1.5``, ``500m``) in millicores."""
    text = quantity.strip()
    if text.endswith("m"):
        return int(text[:-1])
    return round(float(text) * 1000)


def _no_gpus(out: Collector, instance_type: str, what: str, name: str, gpus: int) -> None:
    out.add(
        invalid_value(
            f"Insufficient number of GPUs: Instance type {instance_type} is a CPU instance "
            f"type with no GPUs, but {what} {name} requires at least {gpus}",
            "resource.instanceType",
        )
    )


def check_cpu_fit(out: Collector, ws: Workspace, sku: GPUConfig, preset: InferencePreset) -> None:
    """A CPU preset's container requests against one node's vCPUs and memory, where known."""
    if c.ANNOTATION_BYPASS_RESOURCE_CHECKS in ws.annotations:
        return
    instance_type = ws.resource.instance_type or sku.sku
    name = preset.name.lower()
    if preset.cpu and sku.vcpus is not None and sku.vcpus * 1000 < millicores(preset.cpu):
        out.add(
            invalid_value(
                f"Insufficient CPU: Instance type {instance_type} provides {sku.vcpus} vCPUs, "
                f"but preset {name} requires at least {preset.cpu}",
                "resource.instanceType",
            )
        )
    if preset.memory and sku.memory is not None and sku.memory < preset.memory:
        out.add(
            invalid_value(
                f"Insufficient memory: Instance type {instance_type} has "
                f"{format_memory(sku.memory)} of memory, but preset {name} requires at least "
                f"{format_memory(preset.memory)}",
                "resource.instanceType",
            )
        )


def check_inference_fit(
    out: Collector,
    ws: Workspace,
    sku: GPUConfig,
    preset: InferencePreset,
    *,
    runtime: str,
    count_valid: bool = True,
) -> None:
    """Upstream's three GPU checks plus the compute-capability check, as errors.

    CPU presets get :func:`check_cpu_fit` instead; GPU presets on a CPU SKU one error.
    With ``count_valid=False`` (``resource.count`` itself was refused) the checks that
    multiply by the node count are skipped: "provides -1 GPUs" would only hide the reason.
    """
    instance_type = ws.resource.instance_type or sku.sku
    name = preset.name.lower()
    if preset.cpu_only:
        check_cpu_fit(out, ws, sku, preset)
        return
    if sku.cpu_only:
        _no_gpus(out, instance_type, "preset", name, preset.gpu_count)
        return
    if c.ANNOTATION_BYPASS_RESOURCE_CHECKS in ws.annotations:
        return
    nodes = ws.resource.node_count
    total_gpus = nodes * sku.gpu_count
    if count_valid and total_gpus < preset.gpu_count:
        out.add(
            invalid_value(
                f"Insufficient number of GPUs: Instance type {instance_type} provides "
                f"{total_gpus}, but preset {name} requires at least {preset.gpu_count}",
                "resource.instanceType",
            )
        )
    if preset.per_gpu_memory and sku.per_gpu_memory < preset.per_gpu_memory:
        out.add(
            invalid_value(
                f"Insufficient per GPU memory: Instance type {instance_type} provides "
                f"{format_memory(sku.per_gpu_memory)} per GPU, but preset {name} requires "
                f"at least {format_memory(preset.per_gpu_memory)} per GPU",
                "resource.instanceType",
            )
        )
    total = nodes * sku.gpu_memory
    if count_valid and total < preset.total_gpu_memory:
        out.add(
            invalid_value(
                f"Insufficient total GPU memory: Instance type {instance_type} has a total of "
                f"{format_memory(total)}, but preset {name} requires at least "
                f"{format_memory(preset.total_gpu_memory)}",
                "resource.instanceType",
            )
        )
    needed = MIN_COMPUTE_CAPABILITY.get(runtime)
    if (
        needed is not None
        and sku.compute_capability is not None
        and sku.compute_capability < needed
    ):
        out.add(
            invalid_value(
                f"Unsupported GPU: Instance type {instance_type} has {sku.gpu_model} GPUs "
                f"(CUDA compute capability {sku.compute_capability:.1f}), but preset {name} "
                f"on the {runtime} runtime needs compute capability {needed:.1f} or newer",
                "resource.instanceType",
            )
        )
    if (
        preset.supports_distributed
        and preset.total_gpu_memory > sku.gpu_memory
        and runtime == c.RUNTIME_TRANSFORMERS
    ):
        out.add(
            generic(
                "Multi-node distributed inference is not supported with "
                "Huggingface Transformers runtime",
                "resource",
            )
        )


def warn_tuning_fit(
    out: Collector,
    ws: Workspace,
    sku: GPUConfig,
    preset: TuningPreset,
    method: str,
    *,
    count_valid: bool = True,
) -> None:
    """Admission warnings when the SKU looks too small for tuning.

    The one error: a GPU tuning preset on a CPU instance type (the Job could never start).
    ``count_valid=False`` skips the warning that multiplies by the (refused) node count.
    """
    instance_type = ws.resource.instance_type or sku.sku
    if preset.gpu_count == 0:
        return
    if sku.cpu_only:
        _no_gpus(out, instance_type, "tuning preset", preset.name, preset.gpu_count)
        return
    total_gpus = ws.resource.node_count * sku.gpu_count
    if count_valid and total_gpus < preset.gpu_count:
        out.warn(
            f"Tuning preset {preset.name} needs {preset.gpu_count} GPUs, but instance type "
            f"{instance_type} provides {total_gpus}; the tuning job may not fit"
        )
    need = preset.per_gpu_memory_for(method)
    if sku.per_gpu_memory < need:
        out.warn(
            f"Tuning preset {preset.name} with method {method} may need up to "
            f"{format_memory(need)} of GPU memory per GPU, but instance type {instance_type} "
            f"provides {format_memory(sku.per_gpu_memory)} per GPU; the tuning job may run "
            "out of GPU memory (qlora and a smaller batch size use less)"
        )
    cc_needed = MIN_COMPUTE_CAPABILITY[c.RUNTIME_TRANSFORMERS]
    if sku.compute_capability is not None and sku.compute_capability < cc_needed:
        out.warn(
            f"Instance type {instance_type} has {sku.gpu_model} GPUs (CUDA compute capability "
            f"{sku.compute_capability:.1f}); tuning needs {cc_needed:.1f} or newer"
        )

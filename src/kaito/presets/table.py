"""Plain-text tables of the catalogs, for ``kaito presets list`` and the docs.

Aligned columns separated by three spaces with upper-case headers, the way
``kubectl get`` prints, so the output reads and greps like the rest of the tools.
CPU presets show ``CPU`` where a GPU count would be; CPU instance types show 0 GPUs and
``CPU (<n> vCPU, <memory>)`` as their model.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaito.api.catalog import GPUConfig, InferencePreset
from kaito.api.quantity import format_memory
from kaito.presets.catalog import PresetCatalog, default_catalog


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, three spaces apart, no trailing blanks or newline (for print())."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [list(header), *rows]
    ]
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _inference_row(p: InferencePreset, registry: str) -> list[str]:
    image = p.image(registry) if p.image_name else "(private)"
    return [
        p.name,
        "CPU" if p.cpu_only else str(p.gpu_count),
        "-" if p.cpu_only else format_memory(p.total_gpu_memory),
        format_memory(p.per_gpu_memory) if p.per_gpu_memory else "-",
        format_memory(p.disk),
        str(p.context_length) if p.context_length else "-",
        p.runtime,
        _yes(p.supports_tuning),
        _yes(p.supports_distributed),
        image,
        _yes(p.deprecated),
    ]


def render_presets_table(catalog: PresetCatalog | None = None, *, deprecated: bool = True) -> str:
    """The inference presets as a table (what ``kaito presets list`` prints)."""
    cat = catalog or default_catalog()
    rows = [
        _inference_row(p, cat.registry)
        for p in cat.inference_presets()
        if deprecated or not p.deprecated
    ]
    header = [
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
    return format_table(header, rows)


def render_tuning_table(catalog: PresetCatalog | None = None) -> str:
    """The tuning presets and what they need."""
    cat = catalog or default_catalog()
    rows = [
        [
            p.name,
            str(p.gpu_count) if p.gpu_count else "CPU",
            format_memory(p.total_gpu_memory) if p.gpu_count else "-",
            format_memory(p.per_gpu_memory) if p.gpu_count else "-",
            ",".join(
                f"{m}={format_memory(v)}" for m, v in sorted(p.per_gpu_memory_by_method.items())
            )
            or "-",
            format_memory(p.disk),
            ",".join(p.methods),
        ]
        for p in cat.tuning_presets()
    ]
    header = ["NAME", "GPUS", "GPU-MEMORY", "PER-GPU", "PER-METHOD", "DISK", "METHODS"]
    return format_table(header, rows)


def _sku_model(s: GPUConfig) -> str:
    if not s.cpu_only:
        return s.gpu_model
    parts = [f"{s.vcpus} vCPU"] if s.vcpus else []
    if s.memory:
        parts.append(format_memory(s.memory))
    return f"CPU ({', '.join(parts)})" if parts else "CPU"


def render_skus_table(cloud: str = "azure", catalog: PresetCatalog | None = None) -> str:
    """The GPU (and CPU) instance types of one cloud."""
    cat = catalog or default_catalog()
    rows = []
    for name in cat.sku_names(cloud):
        s = cat.sku(name, cloud)
        assert s is not None
        rows.append(
            [
                s.sku,
                str(s.gpu_count),
                _sku_model(s),
                "-" if s.cpu_only else format_memory(s.gpu_memory),
                "-" if s.cpu_only else format_memory(s.per_gpu_memory),
                _yes(s.nvme),
                "-" if s.compute_capability is None else f"{s.compute_capability:.1f}",
            ]
        )
    header = ["INSTANCE-TYPE", "GPUS", "MODEL", "GPU-MEMORY", "PER-GPU", "NVME", "CUDA-CC"]
    return format_table(header, rows)

"""Model presets and GPU SKU catalogs: YAML data shipped in the package, with lookups.

Use the module-level functions; they read the shipped catalog once per process::

    from kaito import presets
    presets.get_inference_preset("Phi-3-Mini-4k-Instruct")   # case-insensitive
    presets.get_sku("standard_nc6s_v3")                        # azure by default
    print(presets.render_presets_table())
"""

from __future__ import annotations

from kaito.api.catalog import GPUConfig, InferencePreset, TuningPreset
from kaito.presets.catalog import CLOUDS, DEFAULT_REGISTRY, PresetCatalog, default_catalog
from kaito.presets.table import render_presets_table, render_skus_table, render_tuning_table

__all__ = [
    "CLOUDS",
    "DEFAULT_REGISTRY",
    "GPUConfig",
    "InferencePreset",
    "PresetCatalog",
    "TuningPreset",
    "default_catalog",
    "get_inference_preset",
    "get_sku",
    "get_tuning_preset",
    "inference_presets",
    "render_presets_table",
    "render_skus_table",
    "render_tuning_table",
    "sku_names",
    "tuning_presets",
]


def get_inference_preset(name: str) -> InferencePreset | None:
    """The inference preset of that name (any case), deprecated ones included."""
    return default_catalog().inference_preset(name)


def get_tuning_preset(name: str) -> TuningPreset | None:
    """The tuning requirements of that preset (any case), if it can be tuned."""
    return default_catalog().tuning_preset(name)


def get_sku(instance_type: str, cloud: str = "azure") -> GPUConfig | None:
    """The GPU configuration of an instance type (any case) on ``cloud``."""
    return default_catalog().sku(instance_type, cloud)


def sku_names(cloud: str = "azure") -> list[str]:
    return default_catalog().sku_names(cloud)


def inference_presets() -> list[InferencePreset]:
    return default_catalog().inference_presets()


def tuning_presets() -> list[TuningPreset]:
    return default_catalog().tuning_presets()

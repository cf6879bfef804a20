"""Load the preset and SKU YAML files shipped in this package into :mod:`kaito.api.catalog` types.

The files are package data (``kaito/presets/data/*.yaml``), read once through
:mod:`importlib.resources` so they work from a wheel, a zip or a source tree.
Lookups are case-insensitive, as upstream's (``GetGPUConfigBySKU`` lower-cases;
preset names are matched lower-case).

A CPU preset has ``gpu_count: 0`` and says what its container requests (``cpu``,
``memory``); a CPU SKU has ``gpu_count: 0`` and says its ``vcpus`` and ``memory``.
``weights: oci-artifact`` marks a preset whose weights are the OCI artifact
``<registry>/kaito-<name>:<image_tag>`` (pulled by an init container), not an image.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs
import yaml

from kaito.api.catalog import GPUConfig, InferencePreset, TuningPreset
from kaito.api.quantity import parse_quantity
from kaito.presets.upstream import UpstreamRuntimes, upstream_runtimes

CLOUDS = ("azure", "aws", "arc")
DEFAULT_REGISTRY = "mcr.microsoft.com/aks/kaito"
WEIGHTS_SOURCES = ("image", "oci-artifact")
"""Where a preset's weights come from (unless ``download_at_runtime``): baked into the image
``kaito-<name>``, or the OCI artifact of that name."""


def _load(name: str) -> Any:
    text = resources.files("kaito.presets").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _inference(raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> InferencePreset:
    name = str(raw["name"])
    access_mode = str(raw.get("access_mode", "public"))
    download = bool(raw.get("download_at_runtime", False))
    weights = str(raw.get("weights", "image"))
    if weights not in WEIGHTS_SOURCES or (download and weights != "image"):
        raise ValueError(f"preset {name}: weights must be one of {WEIGHTS_SOURCES}, got {weights}")
    gpu_count = int(raw["gpu_count"])
    cpu = str(raw.get("cpu", ""))
    if gpu_count == 0 and not cpu:
        raise ValueError(f"preset {name}: a CPU preset (gpu_count 0) must say its cpu request")
    if cpu:
        parse_quantity(cpu)  # rejects a malformed quantity when the catalog loads
    if download:
        image_name, image_tag = str(defaults["base_image"]), str(defaults["base_image_tag"])
    elif access_mode == "private":
        image_name, image_tag = "", ""
    else:
        image_name, image_tag = f"kaito-{name}", str(raw["image_tag"])
    return InferencePreset(
        name=name,
        family=str(raw["family"]),
        hf_model_id=raw.get("hf_model_id"),
        gpu_count=gpu_count,
        total_gpu_memory=parse_quantity(str(raw["total_gpu_memory"])),
        per_gpu_memory=parse_quantity(str(raw["per_gpu_memory"])),
        disk=parse_quantity(str(raw["disk"])),
        context_length=raw.get("context_length"),
        runtime=str(raw["runtime"]),
        supports_tuning=bool(raw["supports_tuning"]),
        supports_distributed=bool(raw["supports_distributed"]),
        image_name=image_name,
        image_tag=image_tag,
        deprecated=bool(raw.get("deprecated", False)),
        download_at_runtime=download,
        download_auth_required=bool(raw.get("download_auth_required", False)),
        access_mode=access_mode,
        tool_call_parser=raw.get("tool_call_parser"),
        chat_template=raw.get("chat_template"),
        cpu=cpu,
        memory=parse_quantity(str(raw.get("memory", "0"))),
        weights_artifact=weights == "oci-artifact",
    )


def _with_upstream(upstream: UpstreamRuntimes, preset: InferencePreset) -> InferencePreset:
    """The preset with the runtimes upstream v0.12's image serves it with (vLLM first), and
    the weights artifact published for it, if any (kaito's own, else the one upstream tunes
    from)."""
    artifact = f"{preset.image_name}:{preset.image_tag}" if preset.weights_artifact else ""
    if upstream.tuning.tunes(preset.name):
        model = upstream.tuning.model(preset.name)
        artifact = artifact or f"{model.model_image}:{model.tag}"
    if not upstream.ships(preset.name):
        return attrs.evolve(preset, weights_artifact_image=artifact)
    entry = upstream.preset(preset.name)
    pairs = (("vllm", entry.vllm), ("transformers", entry.transformers))
    return attrs.evolve(
        preset,
        upstream_runtimes=tuple(runtime for runtime, flags in pairs if flags is not None),
        weights_artifact_image=artifact,
    )


def _tuning(raw: Mapping[str, Any]) -> TuningPreset:
    by_method = raw.get("per_gpu_memory_by_method") or {}
    preset = TuningPreset(
        name=str(raw["name"]),
        gpu_count=int(raw["gpu_count"]),
        total_gpu_memory=parse_quantity(str(raw["total_gpu_memory"])),
        per_gpu_memory=parse_quantity(str(raw["per_gpu_memory"])),
        disk=parse_quantity(str(raw["disk"])),
        per_gpu_memory_by_method={
            str(k).lower(): parse_quantity(str(v)) for k, v in by_method.items()
        },
        cpu=str(raw.get("cpu", "")),
        memory=parse_quantity(str(raw.get("memory", "0"))),
    )
    if "methods" in raw:
        preset = attrs.evolve(preset, methods=tuple(str(m).lower() for m in raw["methods"]))
    return preset


def _sku(raw: Mapping[str, Any], cloud: str) -> GPUConfig:
    cc = raw.get("compute_capability")
    vcpus = raw.get("vcpus")
    memory = raw.get("memory")
    return GPUConfig(
        sku=str(raw["sku"]),
        cloud=cloud,
        gpu_count=int(raw["gpu_count"]),
        gpu_model=str(raw.get("gpu_model") or ""),
        gpu_memory=parse_quantity(str(raw.get("gpu_memory", "0"))),
        nvme=bool(raw.get("nvme", False)),
        compute_capability=None if cc is None else float(cc),
        vcpus=None if vcpus is None else int(vcpus),
        memory=None if memory is None else parse_quantity(str(memory)),
    )


@attrs.frozen
class PresetCatalog:
    """Presets and SKUs by lower-cased name; implements :class:`kaito.api.catalog.Catalog`."""

    inference: Mapping[str, InferencePreset]
    tuning: Mapping[str, TuningPreset]
    skus: Mapping[str, Mapping[str, GPUConfig]]
    registry: str = DEFAULT_REGISTRY

    @classmethod
    def load(cls) -> PresetCatalog:
        """Read the YAML files shipped in the package."""
        inf = _load("inference.yaml")
        defaults = inf.get("defaults", {})
        upstream = upstream_runtimes()
        presets = [
            _with_upstream(upstream, p) for p in (_inference(p, defaults) for p in inf["presets"])
        ]
        tuning = [
            attrs.evolve(p, upstream_tuned=upstream.tuning.tunes(p.name))
            for p in (_tuning(p) for p in _load("tuning.yaml")["presets"])
        ]
        skus_raw = _load("skus.yaml")
        skus = {
            cloud: {s.sku.lower(): s for s in (_sku(r, cloud) for r in skus_raw[cloud])}
            for cloud in CLOUDS
        }
        return cls(
            inference={p.name.lower(): p for p in presets},
            tuning={p.name.lower(): p for p in tuning},
            skus=skus,
            registry=str(defaults.get("registry", DEFAULT_REGISTRY)),
        )

    def inference_preset(self, name: str) -> InferencePreset | None:
        return self.inference.get(name.lower())

    def tuning_preset(self, name: str) -> TuningPreset | None:
        return self.tuning.get(name.lower())

    def sku(self, instance_type: str, cloud: str = "azure") -> GPUConfig | None:
        return self.skus.get(cloud.lower(), {}).get(instance_type.lower())

    def sku_names(self, cloud: str = "azure") -> list[str]:
        """Canonical SKU names of one cloud, sorted."""
        return sorted(s.sku for s in self.skus.get(cloud.lower(), {}).values())

    def inference_presets(self) -> list[InferencePreset]:
        """All inference presets, in file order."""
        return list(self.inference.values())

    def tuning_presets(self) -> list[TuningPreset]:
        return list(self.tuning.values())


@functools.cache
def default_catalog() -> PresetCatalog:
    """The catalog shipped with kaito (loaded once per process)."""
    return PresetCatalog.load()

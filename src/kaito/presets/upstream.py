"""What upstream Kaito v0.12's ``kaito-base`` image is run with, per runtime and per preset.

Package data (``data/upstream.yaml``), read once: the program of each runtime, the flags
every preset gets, the flags one preset adds or overrides, and the values upstream derives
from the GPU model. :mod:`kaito.controllers.upstream_command` turns them into a command line.
A flag's value ``None`` means a bare flag (``--trust-remote-code``). The ``tuning`` section
says how upstream's tuning Job runs the same image and which presets it tunes, with which
model artifact (:mod:`kaito.controllers.upstream_tuning` renders it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs
import yaml

from kaito.api.quantity import parse_quantity

Flags = dict[str, str | None]


def _flags(raw: Mapping[str, Any] | None) -> Flags:
    return {str(k): (None if v is None else str(v)) for k, v in (raw or {}).items()}


@attrs.frozen(kw_only=True)
class VLLMRuntime:
    program: tuple[str, ...]
    flags: Flags
    """Flags every preset gets on vLLM."""
    gpu_memory_utilization: str
    gpu_memory_utilization_by_gpu_model: dict[str, str]
    """Exact GPU model (``NVIDIA A10``) -> ``--gpu-memory-utilization``; else the default."""


@attrs.frozen(kw_only=True)
class TransformersRuntime:
    program: tuple[str, ...]
    """``accelerate launch --<param>=<value>... /workspace/tfs/inference_api.py``."""
    flags: Flags


@attrs.frozen(kw_only=True)
class UpstreamPreset:
    served_model_name: str
    model: str
    """``--model`` / ``--pretrained_model_name_or_path``: the HuggingFace id, lower case."""
    vllm: Flags | None
    """Flags this preset adds on vLLM; None: upstream cannot serve it with vLLM."""
    transformers: Flags | None
    """Flags this preset adds on transformers; None: no transformers runtime upstream."""
    transformers_error: str
    """Upstream's admission message when transformers cannot serve it."""
    model_file_size: int
    """Bytes of the safetensors files (upstream's data-parallel test and estimator use it)."""
    bytes_per_token: int
    """KV-cache bytes one token takes (upstream's estimator reserves a context's worth)."""
    disk_storage: int
    """Bytes of node disk upstream asks for (the weights + 80 GiB); 0 if unknown."""
    startup_failure_threshold: int
    """Startup probe failures allowed at 10 s (upstream: from the model size, 180..1080)."""


@attrs.frozen(kw_only=True)
class TuningModel:
    """The model artifact upstream's tuning Job pulls for one preset."""

    model_image: str
    """``kaito-<model>``, under the preset registry."""
    tag: str


@attrs.frozen(kw_only=True)
class TuningRuntime:
    """How upstream's tuning Job runs ``kaito-base`` (``fine_tuning.py`` under accelerate)."""

    base_command: str
    main_file: str
    env: tuple[dict[str, str], ...]
    """``{name, value}`` in upstream's order; ``name_prefix`` limits one to those presets."""
    tolerations: tuple[dict[str, str], ...]
    azure_tolerations: tuple[dict[str, str], ...]
    """Added on Azure (upstream: ``CLOUD_PROVIDER=azure``)."""
    images: dict[str, str]
    """``weights_puller``, ``data_downloader``, ``input_puller``, ``pusher``, ``pause``."""
    config_dir: str
    data_dir: str
    weights_dir: str
    default_output_dir: str
    """Where the results volume goes when the ConfigMap names no ``output_dir``."""
    default_config: dict[str, str]
    """Tuning method (lower case) -> the ConfigMap copied from the release namespace."""
    presets: dict[str, TuningModel]

    def tunes(self, name: str) -> bool:
        return name.lower() in self.presets

    def model(self, name: str) -> TuningModel:
        """The artifact of a preset upstream tunes; KeyError if it tunes none by that name."""
        return self.presets[name.lower()]

    def env_for(self, preset: str) -> list[dict[str, str]]:
        """The main container's environment for ``preset``, in upstream's order."""
        return [
            {"name": e["name"], "value": e["value"]}
            for e in self.env
            if preset.lower().startswith(e.get("name_prefix", ""))
        ]


@attrs.frozen(kw_only=True)
class UpstreamRuntimes:
    release: str
    base_image: str
    """``kaito-base:<tag>``, under the preset registry."""
    vllm: VLLMRuntime
    transformers: TransformersRuntime
    presets: dict[str, UpstreamPreset]
    tuning: TuningRuntime

    def preset(self, name: str) -> UpstreamPreset:
        """Upstream's entry for a preset; KeyError if upstream does not ship it."""
        return self.presets[name.lower()]

    def ships(self, name: str) -> bool:
        return name.lower() in self.presets


def _runtime_flags(raw: Mapping[str, Any] | None) -> Flags | None:
    if not raw or not raw.get("supported", False):
        return None
    return _flags(raw.get("flags"))


def _preset(raw: Mapping[str, Any]) -> UpstreamPreset:
    estimator = raw.get("estimator") or {}
    tfs = raw.get("transformers") or {}
    return UpstreamPreset(
        served_model_name=str(raw["served_model_name"]),
        model=str(raw["model"]),
        vllm=_runtime_flags(raw.get("vllm")),
        transformers=_runtime_flags(tfs),
        transformers_error=str(tfs.get("error", "")),
        model_file_size=parse_quantity(str(estimator.get("model_file_size", "0"))),
        bytes_per_token=int(estimator.get("bytes_per_token", 0)),
        disk_storage=parse_quantity(str(estimator.get("disk_storage", "0"))),
        startup_failure_threshold=int(estimator.get("startup_failure_threshold", 180)),
    )


def _strings(raw: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()}


def _tuning(raw: Mapping[str, Any]) -> TuningRuntime:
    volumes = raw["volumes"]
    return TuningRuntime(
        base_command=str(raw["command"]["base_command"]),
        main_file=str(raw["command"]["main_file"]),
        env=tuple(_strings(e) for e in raw["env"]),
        tolerations=tuple(_strings(t) for t in raw["tolerations"]),
        azure_tolerations=tuple(_strings(t) for t in raw["azure_tolerations"]),
        images=_strings(raw["images"]),
        config_dir=str(volumes["config_dir"]),
        data_dir=str(volumes["data_dir"]),
        weights_dir=str(volumes["weights_dir"]),
        default_output_dir=str(volumes["default_output_dir"]),
        default_config=_strings(raw["config"]["default_by_method"]),
        presets={
            str(name).lower(): TuningModel(
                model_image=str(entry["model_image"]), tag=str(entry["tag"])
            )
            for name, entry in raw["presets"].items()
        },
    )


def parse(raw: Mapping[str, Any]) -> UpstreamRuntimes:
    vllm, tfs = raw["vllm"], raw["transformers"]
    accelerate = [f"--{k}={v}" for k, v in (tfs.get("accelerate_params") or {}).items()]
    utilization = vllm["gpu_memory_utilization"]
    return UpstreamRuntimes(
        release=f"{raw['upstream']['tag']} ({raw['upstream']['commit']})",
        base_image=f"{raw['base_image']['repository']}:{raw['base_image']['tag']}",
        vllm=VLLMRuntime(
            program=tuple(vllm["program"]),
            flags=_flags(vllm["common_flags"]),
            gpu_memory_utilization=str(utilization["default"]),
            gpu_memory_utilization_by_gpu_model={
                str(k): str(v) for k, v in (utilization.get("by_gpu_model") or {}).items()
            },
        ),
        transformers=TransformersRuntime(
            program=(*tfs["program"], *accelerate, str(tfs["main_file"])),
            flags=_flags(tfs["common_flags"]),
        ),
        presets={
            str(name).lower(): _preset(entry)
            for name, entry in raw["presets"].items()
            if entry.get("upstream") == "present"
        },
        tuning=_tuning(raw["tuning"]),
    )


@functools.cache
def upstream_runtimes() -> UpstreamRuntimes:
    """The shipped table, parsed once per process."""
    text = resources.files("kaito.presets").joinpath("data", "upstream.yaml").read_text("utf-8")
    return parse(yaml.safe_load(text))

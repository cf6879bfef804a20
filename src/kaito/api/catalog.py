"""Shapes of the model-preset and GPU-SKU catalogs, and the lookup protocol validation uses.

The data lives in :mod:`kaito.presets` (YAML files in the package); the types live
here so that :mod:`kaito.api.validation` can describe what it needs without
importing :mod:`kaito.presets` (which imports ``kaito.api``). Memory and disk are
integer bytes; :mod:`kaito.api.quantity` formats them for messages.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from kaito.api import constants as c


@attrs.frozen(kw_only=True)
class InferencePreset:
    """What one preset model needs to serve (upstream ``PresetParam`` for inference)."""

    name: str
    """Preset name as written in ``inference.preset.name`` (lower case)."""
    family: str
    """Model family (phi, falcon, mistral, llama, qwen, deepseek, gemma, gpt-oss)."""
    hf_model_id: str | None
    """HuggingFace repository the weights come from."""
    gpu_count: int
    """``GPUCountRequirement``: GPUs the model needs in total; 0 for a CPU preset."""
    total_gpu_memory: int
    """``TotalGPUMemoryRequirement``: GPU memory across all GPUs, bytes."""
    per_gpu_memory: int
    """``PerGPUMemoryRequirement``: minimum memory of each GPU, bytes (0: no constraint)."""
    disk: int
    """``DiskStorageRequirement``: node OS disk / weights volume, bytes."""
    context_length: int | None
    """``ModelTokenLimit``: the model's context window in tokens."""
    runtime: str
    """Default inference runtime: ``transformers`` or ``vllm``."""
    supports_tuning: bool
    supports_distributed: bool
    """Can run across several nodes."""
    image_name: str
    """Image repository name (``kaito-<preset>`` or ``kaito-base``), without registry."""
    image_tag: str
    deprecated: bool = False
    """Rejected at admission with "Model <name> is deprecated and no longer supported"."""
    download_at_runtime: bool = False
    """Weights are downloaded from HuggingFace when the pod starts."""
    download_auth_required: bool = False
    """The download needs ``presetOptions.modelAccessSecret`` (a Secret with ``HF_TOKEN``)."""
    access_mode: str = "public"
    """``private``: weights are in a user-supplied image (``presetOptions.image``)."""
    tool_call_parser: str | None = None
    """vLLM ``--tool-call-parser`` for tool calling, when the model supports it."""
    chat_template: str | None = None
    """Chat template file shipped in the image, when the tokenizer's own is not used."""
    cpu: str = ""
    """CPU request of the model container (a Kubernetes quantity such as ``1`` or ``500m``);
    set for CPU presets, which request no GPU."""
    memory: int = 0
    """Memory request of the model container, bytes (0: none); set for CPU presets."""
    upstream_runtimes: tuple[str, ...] = ()
    """The runtimes upstream v0.12's ``kaito-base`` image serves this preset with (vLLM
    first where it can); empty for a preset only kaito ships, which always runs kaito's
    own image."""
    weights_artifact_image: str = ""
    """``<repository>:<tag>`` (under the preset registry) of an OCI artifact holding the
    weights, where one is published: kaito's CPU presets, and the model artifacts upstream
    tunes from; ``kaito.sh/weights-source: artifact`` pulls it instead of downloading."""
    weights_artifact: bool = False
    """The weights are an OCI artifact ``<registry>/<image_name>:<image_tag>`` that an init
    container pulls with ``oras pull`` into ``/workspace/weights`` (upstream v0.5+'s
    ``model-weights-downloader``); the model container then runs kaito's inference image."""

    @property
    def cpu_only(self) -> bool:
        """A CPU preset: it needs no GPU and runs on any node with enough CPU and memory."""
        return self.gpu_count == 0

    def image(self, registry: str) -> str:
        """``<registry>/<image_name>:<image_tag>`` (the weights artifact for artifact presets)."""
        return f"{registry.rstrip('/')}/{self.image_name}:{self.image_tag}"


@attrs.frozen(kw_only=True)
class TuningPreset:
    """What fine-tuning one preset needs (upstream ``GetTuningParameters``)."""

    name: str
    gpu_count: int
    total_gpu_memory: int
    """Bytes across all GPUs."""
    per_gpu_memory: int
    """Bytes each GPU should have; ``per_gpu_memory_by_method`` overrides it per method."""
    disk: int
    per_gpu_memory_by_method: dict[str, int] = attrs.field(factory=dict)
    """``TuningPerGPUMemoryRequirement``: e.g. qlora needs less than lora."""
    methods: tuple[str, ...] = c.TUNING_METHODS
    cpu: str = ""
    """CPU request of the tuning container, for a CPU preset (``gpu_count`` 0)."""
    memory: int = 0
    """Memory request of the tuning container in bytes, for a CPU preset."""
    upstream_tuned: bool = False
    """Upstream v0.12 tunes this preset (its ``kaito-base`` image and the model artifact it
    publishes); False for a preset only kaito tunes, which always gets kaito's tuning Job."""

    def per_gpu_memory_for(self, method: str) -> int:
        return self.per_gpu_memory_by_method.get(method.lower(), self.per_gpu_memory)


@attrs.frozen(kw_only=True)
class GPUConfig:
    """One instance type: its GPUs (upstream ``sku.GPUConfig``), or none for a CPU SKU."""

    sku: str
    """Instance type name with its canonical capitalisation."""
    cloud: str
    """``azure``, ``aws`` or ``arc``."""
    gpu_count: int
    """GPUs of one node; 0 for a CPU instance type."""
    gpu_model: str
    """GPU product name; empty for a CPU instance type."""
    gpu_memory: int
    """Total GPU memory of one node (all its GPUs), bytes."""
    nvme: bool = False
    """The node has local NVMe disks (weights go on a local-disk PVC)."""
    compute_capability: float | None = None
    """CUDA compute capability; ``None`` for non-NVIDIA accelerators and CPU SKUs."""
    vcpus: int | None = None
    """vCPUs of one node, where the table says (CPU SKUs)."""
    memory: int | None = None
    """Memory of one node in bytes, where the table says (CPU SKUs)."""

    @property
    def per_gpu_memory(self) -> int:
        return self.gpu_memory // self.gpu_count if self.gpu_count else 0

    @property
    def cpu_only(self) -> bool:
        """A CPU instance type: no GPUs, so only CPU presets run on it."""
        return self.gpu_count == 0


class Catalog(Protocol):
    """Lookups validation needs. Names are matched case-insensitively."""

    def inference_preset(self, name: str) -> InferencePreset | None: ...

    def tuning_preset(self, name: str) -> TuningPreset | None: ...

    def sku(self, instance_type: str, cloud: str = "azure") -> GPUConfig | None: ...

    def sku_names(self, cloud: str = "azure") -> list[str]: ...

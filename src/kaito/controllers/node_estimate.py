"""How many nodes a vLLM Workspace needs, estimated as upstream Kaito v0.12 estimates it.

Upstream serves a vLLM preset on as many nodes as its weights need, whatever
``resource.count`` says: each GPU is taken at 84% of its memory, less a fixed overhead
(2.3 GiB) and one context's KV cache (``max-model-len`` tokens, 2048 unless the Workspace's
inference ConfigMap names more, spread over the node's GPUs); the weights, grown by 2% and
by 5% of working space, must fit in what is left, and the GPUs needed are rounded up to
whole nodes. The result is ``status.targetNodeCount``, the NodeClaims made and the
StatefulSet's replicas under the ``upstream`` runtime contract.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from kaito.api.catalog import GPUConfig
from kaito.presets.upstream import UpstreamPreset

GIB = 1024**3
GPU_MEMORY_UTILIZATION = 0.84
BASE_OVERHEAD = 2.3 * GIB
WEIGHT_EXPANSION = 1.02
WORKING_SPACE = 1.05
DEFAULT_MAX_MODEL_LEN = 2048


def max_model_len(config_text: str | None) -> int:
    """``vllm: max-model-len`` from an ``inference_config.yaml``, when it is a positive
    integer; else upstream's default for the estimate."""
    try:
        data: Any = yaml.safe_load(config_text or "") or {}
    except yaml.YAMLError:
        return DEFAULT_MAX_MODEL_LEN
    vllm = data.get("vllm") if isinstance(data, dict) else None
    value = vllm.get("max-model-len") if isinstance(vllm, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return DEFAULT_MAX_MODEL_LEN


def estimate_nodes(entry: UpstreamPreset, sku: GPUConfig, context_tokens: int) -> int | None:
    """Nodes of ``sku`` the model needs; None when the SKU says nothing of its GPUs or one
    GPU cannot even hold the overhead (upstream then refuses the Workspace)."""
    if sku.gpu_count <= 0 or sku.gpu_memory <= 0 or entry.model_file_size <= 0:
        return None
    available = sku.gpu_memory / sku.gpu_count * GPU_MEMORY_UTILIZATION
    fixed = BASE_OVERHEAD + context_tokens * entry.bytes_per_token / sku.gpu_count
    if available <= fixed:
        return None
    for_weights = (available - fixed) / WORKING_SPACE
    gpus = int(entry.model_file_size * WEIGHT_EXPANSION / for_weights) + 1
    return math.ceil(gpus / sku.gpu_count)

"""LoRA adapters under ``/mnt/adapter``: discovery, strengths, and upstream's weighted merge.

Upstream's transformers runtime loads every directory of the adapters dir that holds
``adapter_config.json`` with PEFT, reads each adapter's strength from an environment variable
named after the adapter (the operator sets ``<adapterName>=<strength>``, default 1.0), combines
them with ``add_weighted_adapter(..., combination_type="svd", adapter_name="combined_adapter")``
and deletes the originals. We do the same, then fold the combined adapter into the base weights
(``merge_and_unload``): the logits are the same and generation pays no per-token LoRA cost.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kaito.inference.engines.base import AdapterSpec

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
COMBINED_ADAPTER = "combined_adapter"


class AdapterError(ValueError):
    """An adapter cannot be used as configured (bad strength, unreadable weights)."""


def parse_strength(name: str, raw: str) -> float:
    """Parse the strength env var of adapter ``name``; must be a finite number >= 0."""
    try:
        value = float(raw)
    except ValueError:
        raise AdapterError(f"Invalid strength value for Adapter '{name}': {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise AdapterError(
            f"Strength value for Adapter '{name}' must be a number >= 0, got {raw!r}"
        )
    return value


def discover_adapters(
    adapters_dir: str, environ: Mapping[str, str] | None = None
) -> list[AdapterSpec]:
    """Adapters in ``adapters_dir`` (sorted by name); a missing directory means none."""
    env = os.environ if environ is None else environ
    root = Path(adapters_dir)
    if not root.is_dir():
        return []
    found: list[AdapterSpec] = []
    for entry in sorted(root.iterdir()):
        if not entry.is_dir():
            continue
        if not (entry / ADAPTER_CONFIG).is_file():
            log.warning("skipping %s: no %s", entry, ADAPTER_CONFIG)
            continue
        strength = parse_strength(entry.name, env.get(entry.name, "1.0"))
        found.append(AdapterSpec(name=entry.name, path=str(entry), strength=strength))
    return found


def apply_adapters(model: Any, adapters: list[AdapterSpec], combination_type: str) -> Any:
    """Return ``model`` with ``adapters`` merged by weight into its weights (PEFT)."""
    if not adapters:
        return model
    from peft import PeftModel

    first, *rest = adapters
    try:
        peft_model = PeftModel.from_pretrained(model, first.path, adapter_name=first.name)
        for spec in rest:
            peft_model.load_adapter(spec.path, adapter_name=spec.name)
        peft_model.add_weighted_adapter(
            adapters=[a.name for a in adapters],
            weights=[a.strength for a in adapters],
            adapter_name=COMBINED_ADAPTER,
            combination_type=combination_type,
        )
        peft_model.set_adapter(COMBINED_ADAPTER)
        for spec in adapters:
            peft_model.delete_adapter(spec.name)
        merged = peft_model.merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise AdapterError(f"cannot load adapters {[a.name for a in adapters]}: {exc}") from exc
    log.info(
        "merged adapters %s (%s)",
        ", ".join(f"{a.name}={a.strength:g}" for a in adapters),
        combination_type,
    )
    return merged

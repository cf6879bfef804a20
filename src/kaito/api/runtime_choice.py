"""Which runtime contract and which inference server serve a preset Workspace.

One place decides, for admission, the reconciler and ``kaito render`` alike:

* the contract: the ``kaito.sh/runtime-contract`` annotation, else the manager's
  ``--runtime-contract``; a preset upstream does not ship (kaito's CPU presets) is always
  served by ``kaito``'s image, and a preset upstream does not tune is always tuned by
  ``kaito``'s Job;
* the runtime: the ``kaito.sh/runtime`` annotation, else upstream's default (vLLM, where
  upstream serves the preset with it) under ``upstream``, else the preset's own default;
* where kaito's image gets the weights: ``kaito.sh/weights-source``, else the preset's own
  choice (an artifact for kaito's CPU presets, a download for the others).
"""

from __future__ import annotations

from kaito.api import constants as c
from kaito.api.catalog import InferencePreset, TuningPreset
from kaito.api.workspace import Workspace


def _annotation(ws: Workspace, key: str, allowed: tuple[str, ...]) -> str | None:
    value = ws.annotations.get(key)
    if value is None:
        return None
    value = value.strip().lower()
    return value if value in allowed else None


def chosen_contract(ws: Workspace) -> str | None:
    """The contract ``kaito.sh/runtime-contract`` names; None when unset or not a contract."""
    return _annotation(ws, c.ANNOTATION_RUNTIME_CONTRACT, c.CONTRACTS)


def chosen_runtime(ws: Workspace) -> str | None:
    """The runtime the ``kaito.sh/runtime`` annotation names (any case, spaces trimmed, as
    the controller reads it); ``None`` when unset or not a runtime."""
    return _annotation(ws, c.ANNOTATION_RUNTIME, c.RUNTIMES)


def contract_of(ws: Workspace, preset: InferencePreset | None, default: str) -> str:
    """The contract serving ``ws``; template Workspaces follow the default's shape."""
    if preset is not None and not preset.upstream_runtimes:
        return c.CONTRACT_KAITO
    return chosen_contract(ws) or default


def tuning_contract_of(ws: Workspace, preset: TuningPreset | None, default: str) -> str:
    """The contract whose Job tunes ``ws``: ``upstream`` only for a preset upstream tunes."""
    if preset is not None and not preset.upstream_tuned:
        return c.CONTRACT_KAITO
    return chosen_contract(ws) or default


def runtime_of(ws: Workspace, preset: InferencePreset, contract: str) -> str:
    """The ``kaito.sh/runtime`` annotation when it names a runtime, else the contract's
    default for this preset."""
    chosen = chosen_runtime(ws)
    if chosen is not None:
        return chosen
    if contract == c.CONTRACT_UPSTREAM and preset.upstream_runtimes:
        runtimes = preset.upstream_runtimes
        return c.RUNTIME_VLLM if c.RUNTIME_VLLM in runtimes else runtimes[0]
    return preset.runtime


def chosen_weights_source(ws: Workspace) -> str | None:
    """The source ``kaito.sh/weights-source`` names; None when unset or not a source."""
    return _annotation(ws, c.ANNOTATION_WEIGHTS_SOURCE, c.WEIGHTS_SOURCES)


def weights_source_of(ws: Workspace, preset: InferencePreset) -> str | None:
    """``download`` or ``artifact`` under kaito's contract; None for a private preset (the
    weights are in the user's image)."""
    if preset.access_mode == "private":
        return None
    chosen = chosen_weights_source(ws)
    if chosen is not None:
        return chosen
    return c.WEIGHTS_ARTIFACT if preset.weights_artifact else c.WEIGHTS_DOWNLOAD

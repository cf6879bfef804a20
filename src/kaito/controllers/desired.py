"""Everything an inference Workspace should own, in one list: the single source both the
reconciler and ``kaito render`` use, so what you preview is what gets applied.

The runtime contract (:mod:`kaito.api.runtime_choice`) picks the renderer: ``upstream``
renders upstream v0.12's StatefulSet and Services (:mod:`.upstream_workload`), ``kaito``
kaito's own Deployment or StatefulSet, ConfigMap and Services (:mod:`.workload`). A tuning
Workspace is resolved here too (its contract: ``upstream`` only for a preset upstream tunes)
and :func:`tuning_objects` makes its Job (:mod:`.upstream_tuning` or :mod:`.tuning`) from the
training ConfigMap it mounts, which :mod:`.tuning_sync` finds (or copies) first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.api.catalog import Catalog, GPUConfig, InferencePreset, TuningPreset
from kaito.api.runtime_choice import contract_of, runtime_of, tuning_contract_of
from kaito.api.workspace import Workspace
from kaito.contracts import tuning_configmaps
from kaito.controllers import tuning, upstream_tuning, upstream_workload, workload
from kaito.controllers.node_estimate import estimate_nodes, max_model_len
from kaito.controllers.pod_parts import Manifest
from kaito.controllers.settings import Settings
from kaito.presets.upstream import upstream_runtimes


@attrs.frozen
class Resolved:
    """The catalog entries a Workspace refers to (None where it names none or unknown),
    and the contract and runtime that serve it."""

    preset: InferencePreset | None
    sku: GPUConfig | None
    contract: str = c.CONTRACT_KAITO
    """Whose images serve (or tune) the Workspace: ``upstream`` or ``kaito``."""
    runtime: str | None = None
    """The inference server of a preset Workspace; None for templates and tuning."""
    nodes: int = 1
    """Nodes the Workspace runs on: upstream's estimate for vLLM under the ``upstream``
    contract (:mod:`.node_estimate`), else ``resource.count``."""
    tuning: TuningPreset | None = None
    """The tuning preset of a tuning Workspace (None for inference, or unknown)."""
    serving: InferencePreset | None = None
    """The inference preset of the model a tuning Workspace tunes (its image and weights)."""

    def effective(self, ws: Workspace) -> Workspace:
        """``ws`` with ``resource.count`` set to the nodes it runs on."""
        if self.nodes == ws.resource.node_count:
            return ws
        return attrs.evolve(ws, resource=attrs.evolve(ws.resource, count=self.nodes))

    @property
    def statefulset(self) -> bool:
        """Whether the workload is a StatefulSet (else a Deployment)."""
        if self.contract == c.CONTRACT_UPSTREAM:
            return True
        return workload.uses_statefulset(self.preset)


def _nodes(
    ws: Workspace,
    preset: InferencePreset | None,
    sku: GPUConfig | None,
    contract: str,
    runtime: str | None,
    config_text: str | None,
) -> int:
    data = upstream_runtimes()
    if (
        contract != c.CONTRACT_UPSTREAM
        or runtime != c.RUNTIME_VLLM
        or preset is None
        or sku is None
        or not data.ships(preset.name)
    ):
        return ws.resource.node_count
    estimate = estimate_nodes(data.preset(preset.name), sku, max_model_len(config_text))
    return estimate if estimate is not None else ws.resource.node_count


def resolve(
    ws: Workspace, catalog: Catalog, settings: Settings, config_text: str | None = None
) -> Resolved:
    """What serves ``ws``. ``config_text``: the ``inference_config.yaml`` of the ConfigMap
    the Workspace names, where known (its ``max-model-len`` counts in upstream's estimate)."""
    preset = None
    if ws.inference is not None and ws.inference.preset is not None:
        preset = catalog.inference_preset(ws.inference.preset.name)
    sku = (
        catalog.sku(ws.resource.instance_type, settings.cloud)
        if ws.resource.instance_type
        else None
    )
    if ws.inference is None:
        tuned = catalog.tuning_preset(ws.preset_name) if ws.preset_name else None
        contract = tuning_contract_of(ws, tuned, settings.runtime_contract)
        serving = catalog.inference_preset(ws.preset_name) if ws.preset_name else None
        return Resolved(
            preset, sku, contract, nodes=ws.resource.node_count, tuning=tuned, serving=serving
        )
    contract = contract_of(ws, preset, settings.runtime_contract)
    runtime = runtime_of(ws, preset, contract) if preset is not None else None
    nodes = _nodes(ws, preset, sku, contract, runtime, config_text)
    return Resolved(preset, sku, contract, runtime, nodes)


def inference_objects(
    ws: Workspace, resolved: Resolved, settings: Settings, revision: str
) -> list[Manifest]:
    """ConfigMap (kaito's, unless the Workspace names its own), Services, then the workload."""
    ws = resolved.effective(ws)
    if resolved.contract == c.CONTRACT_UPSTREAM:
        return upstream_workload.upstream_objects(
            ws, resolved.preset, resolved.sku, settings, revision, resolved.runtime or ""
        )
    objects: list[Manifest] = []
    if ws.inference is not None and ws.inference.template is not None:
        objects += workload.services(ws, statefulset=False)
        objects.append(workload.template_workload(ws, revision))
        return objects
    if resolved.preset is None:
        raise ValueError(f"workspace {ws.namespace}/{ws.name} names no known preset")
    if not (ws.inference is not None and ws.inference.config):
        objects.append(workload.inference_config_map(ws, resolved.preset, resolved.sku))
    objects += workload.services(ws, statefulset=resolved.statefulset)
    objects.append(
        workload.inference_workload(ws, resolved.preset, resolved.sku, settings, revision)
    )
    return objects


def tuning_problem(ws: Workspace, resolved: Resolved) -> str | None:
    """Why ``ws`` cannot be tuned as resolved, in upstream's words (None: it can)."""
    if resolved.tuning is None or resolved.serving is None:
        return f"Unsupported tuning preset name {ws.preset_name or ''}"
    return None


def tuning_objects(
    ws: Workspace,
    resolved: Resolved,
    settings: Settings,
    revision: str,
    config: Mapping[str, Any] | None = None,
) -> list[Manifest]:
    """The Job of a tuning Workspace, after kaito's default training ConfigMap (``kaito``
    contract, when the Workspace names none; owned, so it goes with the Workspace).

    ``config``: under the ``upstream`` contract, the ConfigMap the Job mounts (the user's, or
    the default as copied into the namespace; None renders with the packaged default): its
    ``output_dir`` is where the Job's results volume goes. ValueError where the Workspace
    cannot be tuned as written, in upstream's words."""
    if ws.tuning is None:
        raise ValueError(f"workspace {ws.namespace}/{ws.name} has no tuning spec")
    problem = tuning_problem(ws, resolved)
    if problem is not None:
        raise ValueError(problem)
    assert resolved.tuning is not None and resolved.serving is not None
    if resolved.contract == c.CONTRACT_UPSTREAM:
        method = (ws.tuning.method or c.TUNING_METHOD_LORA).lower()
        source = config if config is not None else tuning_configmaps.configmap(method)
        results = upstream_tuning.results_dir(source)
        return [
            upstream_tuning.tuning_job(
                ws, resolved.tuning, resolved.sku, settings, revision, results=results
            )
        ]
    objects: list[Manifest] = [] if ws.tuning.config else [tuning.default_config_map(ws)]
    image = tuning.tuning_image(resolved.serving, settings)
    objects.append(
        tuning.tuning_job(
            ws, resolved.tuning, image, resolved.sku, settings, revision, serving=resolved.serving
        )
    )
    return objects

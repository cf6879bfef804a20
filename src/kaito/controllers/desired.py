"""Everything an inference Workspace should own, in one list: the single source both the
reconciler and ``kaito render`` use, so what you preview is what gets applied."""

from __future__ import annotations

import attrs

from kaito.api.catalog import Catalog, GPUConfig, InferencePreset
from kaito.api.workspace import Workspace
from kaito.controllers import workload
from kaito.controllers.settings import Settings
from kaito.controllers.workload import Manifest


@attrs.frozen
class Resolved:
    """The catalog entries a Workspace refers to (None where it names none or unknown)."""

    preset: InferencePreset | None
    sku: GPUConfig | None


def resolve(ws: Workspace, catalog: Catalog, settings: Settings) -> Resolved:
    preset = None
    if ws.inference is not None and ws.inference.preset is not None:
        preset = catalog.inference_preset(ws.inference.preset.name)
    sku = (
        catalog.sku(ws.resource.instance_type, settings.cloud)
        if ws.resource.instance_type
        else None
    )
    return Resolved(preset, sku)


def inference_objects(
    ws: Workspace, resolved: Resolved, settings: Settings, revision: str
) -> list[Manifest]:
    """ConfigMap (unless the Workspace names its own), Services, then the workload."""
    objects: list[Manifest] = []
    statefulset = workload.uses_statefulset(resolved.preset)
    if ws.inference is not None and ws.inference.template is not None:
        objects += workload.services(ws, statefulset=False)
        objects.append(workload.template_workload(ws, revision))
        return objects
    if resolved.preset is None:
        raise ValueError(f"workspace {ws.namespace}/{ws.name} names no known preset")
    if not (ws.inference is not None and ws.inference.config):
        objects.append(workload.inference_config_map(ws, resolved.preset, resolved.sku))
    objects += workload.services(ws, statefulset=statefulset)
    objects.append(
        workload.inference_workload(ws, resolved.preset, resolved.sku, settings, revision)
    )
    return objects

"""The Workspace resource (``kaito.sh/v1alpha1`` and ``v1beta1``) as attrs classes.

One set of classes serves both versions: upstream's two versions are structurally
compatible (no conversion webhook), so the only difference on an object is its
``apiVersion``. Fields sit at the top level of the object, not under ``spec``.

Every optional field is ``None`` when absent on the wire, which is what makes
:func:`kaito.api.wire.workspace_from_dict` / ``workspace_to_dict`` lossless. The
schemaless parts (``inference.template``, every ``volumeSource``) are plain dicts
kept exactly as received, and ``metadata`` is the dict the API server sent.
"""

from __future__ import annotations

from typing import Any

import attrs

from kaito.api import constants as c
from kaito.api.fields import meta
from kaito.api.meta import Condition, JSONDict, LabelSelector, find_condition


@attrs.frozen(kw_only=True)
class GPUPartition:
    """``resource.partition`` (BYO nodes only): ``mode`` mig|accelerator, ``profile``, ``count``."""

    mode: str | None = None
    profile: str | None = None
    count: int | None = None


@attrs.frozen(kw_only=True)
class ResourceSpec:
    """``resource``: the GPU nodes a Workspace runs on.

    ``count`` nodes of ``instance_type`` carrying ``label_selector``'s labels;
    ``preferred_nodes`` are existing nodes to use first.
    """

    count: int | None = None
    instance_type: str | None = None
    label_selector: LabelSelector | None = None
    preferred_nodes: list[str] | None = None
    partition: GPUPartition | None = None

    @property
    def node_count(self) -> int:
        """``count`` with the CRD default (1) applied."""
        return 1 if self.count is None else self.count


@attrs.frozen(kw_only=True)
class PresetOptions:
    """``preset.presetOptions``: private image (deprecated) and the HF token Secret."""

    image: str | None = None
    image_pull_secrets: list[str] | None = None
    model_access_secret: str | None = None


@attrs.frozen(kw_only=True)
class PresetSpec:
    """``inference.preset`` / ``tuning.preset``: a model by preset name."""

    name: str
    access_mode: str | None = None
    preset_options: PresetOptions | None = None


@attrs.frozen(kw_only=True)
class DataSource:
    """Where adapter or tuning data comes from: one of ``urls``, ``volume_source``, ``image``."""

    name: str | None = None
    urls: list[str] | None = None
    volume_source: JSONDict | None = None
    image: str | None = None
    image_pull_secrets: list[str] | None = None


@attrs.frozen(kw_only=True)
class DataDestination:
    """Where tuning results go: ``volume_source`` or ``image`` (+ ``image_push_secret``)."""

    volume_source: JSONDict | None = None
    image: str | None = None
    image_push_secret: str | None = None


@attrs.frozen(kw_only=True)
class AdapterSpec:
    """One LoRA adapter: its ``source`` and ``strength`` (decimal string in [0, 1], default 1.0)."""

    source: DataSource | None = None
    strength: str | None = None


@attrs.frozen(kw_only=True)
class InferenceSpec:
    """``inference``: a ``preset`` or a custom pod ``template`` (never both), adapters, config."""

    preset: PresetSpec | None = None
    template: JSONDict | None = None
    config: str | None = None
    adapters: list[AdapterSpec] | None = None


@attrs.frozen(kw_only=True)
class TuningSpec:
    """``tuning``: tune ``preset`` with ``method`` (lora|qlora) from ``input`` to ``output``."""

    preset: PresetSpec | None = None
    method: str | None = None
    config: str | None = None
    input: DataSource | None = None
    output: DataDestination | None = None


@attrs.frozen(kw_only=True)
class WorkspaceStatus:
    """``status``: conditions, the nodes used, and (v1beta1) ``state``/``targetNodeCount``."""

    worker_nodes: list[str] | None = None
    conditions: list[Condition] | None = None
    state: str | None = None
    target_node_count: int | None = None
    performance: JSONDict | None = None


@attrs.frozen(kw_only=True)
class Workspace:
    """A Workspace object; ``metadata`` is kept as the API server's dict."""

    api_version: str = attrs.field(default=c.API_VERSION_V1BETA1, metadata=meta(always=True))
    kind: str = attrs.field(default=c.WORKSPACE_KIND, metadata=meta(always=True))
    metadata: JSONDict = attrs.field(factory=dict, metadata=meta(always=True))
    resource: ResourceSpec = attrs.field(factory=ResourceSpec, metadata=meta(always=True))
    inference: InferenceSpec | None = None
    tuning: TuningSpec | None = None
    status: WorkspaceStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation", 0))

    @property
    def resource_version(self) -> str:
        return str(self.metadata.get("resourceVersion", ""))

    @property
    def annotations(self) -> dict[str, str]:
        """A copy of ``metadata.annotations`` (empty when unset)."""
        return dict(self.metadata.get("annotations") or {})

    @property
    def labels(self) -> dict[str, str]:
        """A copy of ``metadata.labels`` (empty when unset)."""
        return dict(self.metadata.get("labels") or {})

    @property
    def finalizers(self) -> list[str]:
        return list(self.metadata.get("finalizers") or [])

    @property
    def reference(self) -> dict[str, Any]:
        """The object as an Event's ``involvedObject`` and a status write need it:
        ``apiVersion``, ``kind`` and ``metadata`` (shared, not copied: do not mutate)."""
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": self.metadata}

    @property
    def deleting(self) -> bool:
        """``metadata.deletionTimestamp`` is set."""
        return self.metadata.get("deletionTimestamp") is not None

    @property
    def is_tuning(self) -> bool:
        return self.tuning is not None

    @property
    def preset_name(self) -> str | None:
        """The preset of the inference or tuning spec, if any."""
        spec: Any = self.inference if self.inference is not None else self.tuning
        if spec is None or spec.preset is None:
            return None
        return str(spec.preset.name)

    def condition(self, type_: str) -> Condition | None:
        """The status condition of that type, if present."""
        return find_condition(self.status.conditions if self.status else None, type_)

"""kaito's API: Workspace and NodeClaim types, their wire form, names, catalogs' shapes.

Imports nothing else of kaito's but ``kaito.contracts`` and ``kaito.urlguard``; the
validation rules take the preset catalog and the cloud from their caller::

    from kaito.api import Workspace, workspace_from_dict, workspace_to_dict
    from kaito.api import constants
    from kaito.api.validation import validate_create, validate_update, review
"""

from __future__ import annotations

from kaito.api.catalog import Catalog, GPUConfig, InferencePreset, TuningPreset
from kaito.api.meta import (
    Condition,
    LabelSelector,
    LabelSelectorError,
    LabelSelectorRequirement,
    find_condition,
    label_selector_as_map,
)
from kaito.api.nodeclaim import (
    NodeClaim,
    NodeClaimSpec,
    NodeClaimStatus,
    NodeClassReference,
    NodeSelectorRequirement,
    ResourceRequirements,
    Taint,
)
from kaito.api.wire import (
    WireError,
    from_dict,
    nodeclaim_from_dict,
    nodeclaim_to_dict,
    to_dict,
    workspace_from_dict,
    workspace_to_dict,
)
from kaito.api.workspace import (
    AdapterSpec,
    DataDestination,
    DataSource,
    GPUPartition,
    InferenceSpec,
    PresetOptions,
    PresetSpec,
    ResourceSpec,
    TuningSpec,
    Workspace,
    WorkspaceStatus,
)

__all__ = [
    "AdapterSpec",
    "Catalog",
    "Condition",
    "DataDestination",
    "DataSource",
    "GPUConfig",
    "GPUPartition",
    "InferencePreset",
    "InferenceSpec",
    "LabelSelector",
    "LabelSelectorError",
    "LabelSelectorRequirement",
    "NodeClaim",
    "NodeClaimSpec",
    "NodeClaimStatus",
    "NodeClassReference",
    "NodeSelectorRequirement",
    "PresetOptions",
    "PresetSpec",
    "ResourceRequirements",
    "ResourceSpec",
    "Taint",
    "TuningPreset",
    "TuningSpec",
    "WireError",
    "Workspace",
    "WorkspaceStatus",
    "find_condition",
    "from_dict",
    "label_selector_as_map",
    "nodeclaim_from_dict",
    "nodeclaim_to_dict",
    "to_dict",
    "workspace_from_dict",
    "workspace_to_dict",
]

"""The custom kinds kaito works with, as runtime ResourceTypes.

Lives beside ``kaito.api`` (which imports nothing of ours) so that both the
workspace controller and the node provisioner address the same types.
"""

from __future__ import annotations

from kaito.api import constants as c
from kaito.runtime.resources import ResourceType

WORKSPACE = ResourceType(c.GROUP, c.STORAGE_VERSION, c.WORKSPACE_KIND, c.WORKSPACE_PLURAL)
"""Workspaces, read and written at the storage version (v1alpha1 objects included)."""
NODECLAIM = ResourceType(
    c.KARPENTER_GROUP, "v1", c.NODECLAIM_KIND, c.NODECLAIM_PLURAL, namespaced=False
)

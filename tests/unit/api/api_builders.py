"""Valid Workspace wire dicts to start table tests from, a helper to edit them, and the
catalog and cloud the rules are run with (the manager's defaults)."""

from __future__ import annotations

import copy
from typing import Any

from kaito.api import Workspace, workspace_from_dict
from kaito.presets import default_catalog

CATALOG = default_catalog()
"""The shipped catalog, the one the manager passes to the rules."""
CLOUD = "azure"
"""The manager's default ``--cloud``."""


def inference_dict(**resource: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "instanceType": "Standard_NC24ads_A100_v4",
        "labelSelector": {"matchLabels": {"apps": "phi-3"}},
    }
    res.update(resource)
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "ws", "namespace": "default"},
        "resource": res,
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }


def tuning_dict(**resource: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "instanceType": "Standard_NC24ads_A100_v4",
        "labelSelector": {"matchLabels": {"app": "tuning"}},
    }
    res.update(resource)
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "tune", "namespace": "default"},
        "resource": res,
        "tuning": {
            "preset": {"name": "phi-3-mini-4k-instruct"},
            "method": "qlora",
            "input": {"urls": ["https://example.com/data.parquet"]},
            "output": {"image": "registry.example.com/out:0.0.1", "imagePushSecret": "push"},
        },
    }


def edited(base: dict[str, Any], path: str, value: Any) -> Workspace:
    """``base`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return workspace_from_dict(data)

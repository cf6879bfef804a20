"""CustomResourceDefinitions for Workspace and NodeClaim, built from the schema files.

What controller-gen does for upstream: the OpenAPI schemas live in
``kaito/api/schema/*.yaml`` (shipped in the package), and this module wraps them
into CRDs -- versions, printer columns, short names, the status subresource.
``manifests/crd/`` holds the output; a unit test fails when it is stale::

    python -m kaito.api.crds manifests/crd

Both Workspace versions share one schema (they are structurally identical, so no
conversion webhook is needed); v1alpha1 only adds upstream's ``instanceType``
default and keeps the printer columns of kaito v0.1 (``WORKSPACEREADY``).
"""

from __future__ import annotations

import copy
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kaito.api import constants as c

WORKSPACE_CRD_FILE = "kaito.sh_workspaces.yaml"
NODECLAIM_CRD_FILE = "karpenter.sh_nodeclaims.yaml"


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("kaito.api").joinpath("schema", name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _condition_column(name: str, type_: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{type_}")].status',
    }


_INSTANCE = {"name": "Instance", "type": "string", "jsonPath": ".resource.instanceType"}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

V1ALPHA1_COLUMNS: list[dict[str, Any]] = [
    _INSTANCE,
    _condition_column("ResourceReady", c.CONDITION_RESOURCE_READY),
    _condition_column("InferenceReady", c.CONDITION_INFERENCE_READY),
    _condition_column("WorkspaceReady", c.CONDITION_WORKSPACE_READY),
    _AGE,
]
"""``NAME INSTANCE RESOURCEREADY INFERENCEREADY WORKSPACEREADY AGE`` (kaito v0.1 quick start)."""

V1BETA1_COLUMNS: list[dict[str, Any]] = [
    _INSTANCE,
    _condition_column("ResourceReady", c.CONDITION_RESOURCE_READY),
    _condition_column("InferenceReady", c.CONDITION_INFERENCE_READY),
    _condition_column("JobStarted", c.CONDITION_JOB_STARTED),
    _condition_column("WorkspaceSucceeded", c.CONDITION_WORKSPACE_SUCCEEDED),
    {"name": "TargetNodeCount", "type": "integer", "jsonPath": ".status.targetNodeCount"},
    {"name": "State", "type": "string", "jsonPath": ".status.state"},
    _AGE,
]
"""Upstream HEAD's v1beta1 columns."""


def workspace_schema() -> dict[str, Any]:
    """The shared (v1beta1) OpenAPI schema of a Workspace."""
    return _schema("workspace.yaml")


def workspace_crd() -> dict[str, Any]:
    """The ``workspaces.kaito.sh`` CRD: v1alpha1 served, v1beta1 served and stored."""
    beta = workspace_schema()
    alpha = copy.deepcopy(beta)
    instance = alpha["properties"]["resource"]["properties"]["instanceType"]
    instance["default"] = c.V1ALPHA1_DEFAULT_INSTANCE_TYPE
    instance["description"] += (
        f'\nv1alpha1 defaults it to "{c.V1ALPHA1_DEFAULT_INSTANCE_TYPE}" when unset.'
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{c.WORKSPACE_PLURAL}.{c.GROUP}"},
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": c.WORKSPACE_KIND,
                "listKind": f"{c.WORKSPACE_KIND}List",
                "plural": c.WORKSPACE_PLURAL,
                "singular": "workspace",
                "shortNames": ["wk", "wks"],
                "categories": ["workspace"],
            },
            "scope": "Namespaced",
            "versions": [
                _version(c.V1ALPHA1, alpha, V1ALPHA1_COLUMNS, storage=False),
                _version(c.V1BETA1, beta, V1BETA1_COLUMNS, storage=True),
            ],
        },
    }


def nodeclaim_crd() -> dict[str, Any]:
    """The ``nodeclaims.karpenter.sh`` CRD (v1), for clusters without Karpenter."""
    columns: list[dict[str, Any]] = [
        {
            "name": "Type",
            "type": "string",
            "jsonPath": ".metadata.labels.node\\.kubernetes\\.io/instance-type",
        },
        {"name": "Node", "type": "string", "jsonPath": ".status.nodeName"},
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        _AGE,
        {"name": "ID", "type": "string", "jsonPath": ".status.providerID", "priority": 1},
        {
            "name": "NodePool",
            "type": "string",
            "jsonPath": ".metadata.labels.karpenter\\.sh/nodepool",
            "priority": 1,
        },
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{c.NODECLAIM_PLURAL}.{c.KARPENTER_GROUP}"},
        "spec": {
            "group": c.KARPENTER_GROUP,
            "names": {
                "kind": c.NODECLAIM_KIND,
                "listKind": f"{c.NODECLAIM_KIND}List",
                "plural": c.NODECLAIM_PLURAL,
                "singular": "nodeclaim",
                "categories": ["karpenter"],
            },
            "scope": "Cluster",
            "versions": [_version("v1", _schema("nodeclaim.yaml"), columns, storage=True)],
        },
    }


def _version(
    name: str, schema: dict[str, Any], columns: list[dict[str, Any]], *, storage: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "additionalPrinterColumns": copy.deepcopy(columns),
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated sub-schemas in full: CRDs are read by tools that dislike aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_NoAliasDumper.add_representer(str, _str)


def render(crd: dict[str, Any]) -> str:
    """YAML text of a CRD, as written to ``manifests/crd``."""
    body = yaml.dump(crd, Dumper=_NoAliasDumper, sort_keys=False, width=100)
    return "---\n" + body


def manifests() -> dict[str, str]:
    """File name -> YAML text of every CRD kaito installs."""
    return {
        WORKSPACE_CRD_FILE: render(workspace_crd()),
        NODECLAIM_CRD_FILE: render(nodeclaim_crd()),
    }


def write(directory: Path) -> list[Path]:
    """Write the CRDs into ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in manifests().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "manifests/crd")
    for path in write(directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

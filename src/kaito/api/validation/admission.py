"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's logic without the server.

``kaito.runtime.webhook`` serves HTTPS and calls :func:`review` with the decoded
request body; the returned dict is the response body. Pure and synchronous, so it
is tested without a server and reused by the e2e tests. Denials carry HTTP code
400/BadRequest and knative's ``validation failed: ...`` text, which kubectl
prints as ``admission webhook "validation.workspace.kaito.sh" denied the request:
validation failed: ...``; warnings ride along on allowed responses too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaito.api import constants as c
from kaito.api.catalog import Catalog
from kaito.api.validation.create import check_max_node_count, validate_create
from kaito.api.validation.errors import ValidationResult, shorten
from kaito.api.validation.update import validate_update
from kaito.api.wire import WireError, workspace_from_dict
from kaito.urlguard import Network

ADMISSION_API_VERSION = "admission.k8s.io/v1"
MAX_WARNINGS = 20
"""The API server drops warnings past its limits; keep ours few and short."""


def review(
    admission_review: Mapping[str, Any],
    *,
    catalog: Catalog,
    cloud: str,
    node_auto_provisioning: bool = True,
    trusted_data_networks: tuple[Network, ...] = (),
    max_node_count: int = c.DEFAULT_MAX_NODE_COUNT,
    runtime_contract: str = c.CONTRACT_UPSTREAM,
) -> dict[str, Any]:
    """Validate the Workspace in an AdmissionReview; return the AdmissionReview response.

    Accepts the whole review (``{"apiVersion": ..., "request": {...}}``) or just its
    ``request``. CREATE runs :func:`validate_create`, UPDATE :func:`validate_update`;
    other operations and other kinds are allowed untouched. ``max_node_count`` is the
    manager's cap on ``resource.count`` (``--max-nodes-per-workspace``). Never raises
    for any request: a body that cannot be decoded is denied with a message saying why
    (only a ``max_node_count`` below 1, the caller's mistake, raises ``ValueError``).
    """
    check_max_node_count(max_node_count)
    request = admission_review.get("request", admission_review)
    if not isinstance(request, Mapping):
        request = {}
    uid = str(request.get("uid", ""))
    try:
        result = _decide(
            request,
            node_auto_provisioning,
            cloud,
            catalog,
            trusted_data_networks,
            max_node_count,
            runtime_contract,
        )
    except WireError as exc:
        result = ValidationResult([f"cannot decode Workspace: {shorten(exc, 512)}"], [])
    response: dict[str, Any] = {"uid": uid, "allowed": result.allowed}
    if not result.allowed:
        response["status"] = {
            "status": "Failure",
            "code": 400,
            "reason": "BadRequest",
            "message": result.message,
        }
    if result.warnings:
        response["warnings"] = result.warnings[:MAX_WARNINGS]
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}


def _decide(
    request: Mapping[str, Any],
    nap: bool,
    cloud: str,
    catalog: Catalog,
    trusted: tuple[Network, ...],
    max_nodes: int,
    contract: str,
) -> ValidationResult:
    kind = request.get("kind") or {}
    if isinstance(kind, Mapping) and kind.get("kind") not in (None, c.WORKSPACE_KIND):
        return ValidationResult()
    operation = request.get("operation")
    new_raw = request.get("object")
    if operation == "CREATE" and isinstance(new_raw, Mapping):
        new = workspace_from_dict(new_raw)
        return validate_create(
            new,
            node_auto_provisioning=nap,
            cloud=cloud,
            catalog=catalog,
            trusted_data_networks=trusted,
            max_node_count=max_nodes,
            runtime_contract=contract,
        )
    old_raw = request.get("oldObject")
    if operation == "UPDATE" and isinstance(new_raw, Mapping) and isinstance(old_raw, Mapping):
        new = workspace_from_dict(new_raw)
        old = workspace_from_dict(old_raw)
        return validate_update(
            old,
            new,
            node_auto_provisioning=nap,
            trusted_data_networks=trusted,
            max_node_count=max_nodes,
        )
    return ValidationResult()

"""How :class:`~kaito.runtime.client.Client`'s calls become requests: namespaces, query
parameters and bodies, kept apart from the client so each of its methods reads as one call.

* a namespaced type needs a namespace (given, or the object's own); a cluster-scoped type
  never gets one, whatever the caller passed;
* request bodies carry the type's ``apiVersion``/``kind`` (the object's own win);
* patches name their content type explicitly (:class:`PatchType`): a dict would otherwise go
  out as a JSON Patch, and strategic merge is refused by CRDs (415);
* deletes send ``DeleteOptions`` with a propagation policy (``Background`` unless told).
"""

from __future__ import annotations

import enum
from typing import Any

from kaito.runtime.resources import Object, ResourceType, meta
from kaito.runtime.transport import Query


class PatchType(enum.StrEnum):
    """Patch content types; strategic merge works for built-in kinds only."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


def namespace_of(rt: ResourceType, namespace: str | None, obj: Object | None = None) -> str | None:
    """The namespace a request on ``rt`` goes to: ``namespace``, else ``obj``'s; ``None``
    for cluster-scoped types. Raises :class:`ValueError` when a namespaced type has none."""
    if not rt.namespaced:
        return None
    namespace = namespace or (meta(obj).get("namespace") if obj is not None else None)
    if not namespace:
        raise ValueError(f"{rt.kind} is namespaced: a namespace is required")
    return str(namespace)


def collection_path(rt: ResourceType, namespace: str | None) -> str:
    """The path lists and watches go to (``namespace=None``: across all namespaces)."""
    return rt.path(namespace if rt.namespaced else None)


def typed(rt: ResourceType, obj: Object) -> Object:
    """``obj`` as a request body: with the type's apiVersion and kind (``obj``'s own win)."""
    return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}


def selectors(label_selector: str | None, field_selector: str | None) -> Query:
    query: Query = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


def field_manager(field_manager: str | None, *, force: bool | None = None) -> Query:
    query: Query = [("fieldManager", field_manager)] if field_manager else []
    if force is not None:
        query.append(("force", "true" if force else "false"))
    return query


def list_query(
    label_selector: str | None,
    field_selector: str | None,
    *,
    limit: int | None,
    continue_token: str | None,
    resource_version: str | None,
    resource_version_match: str | None,
) -> Query:
    query = selectors(label_selector, field_selector)
    if limit:
        query.append(("limit", str(limit)))
    if continue_token:
        query.append(("continue", continue_token))
    if resource_version is not None:
        query.append(("resourceVersion", resource_version))
    if resource_version_match:
        query.append(("resourceVersionMatch", resource_version_match))
    return query


def watch_query(
    label_selector: str | None,
    field_selector: str | None,
    *,
    resource_version: str | None,
    timeout_seconds: int | None,
    allow_bookmarks: bool,
) -> Query:
    query: Query = [("watch", "true"), *selectors(label_selector, field_selector)]
    if resource_version is not None:
        query.append(("resourceVersion", resource_version))
    if timeout_seconds is not None:
        query.append(("timeoutSeconds", str(timeout_seconds)))
    if allow_bookmarks:
        query.append(("allowWatchBookmarks", "true"))
    return query


def delete_options(
    propagation_policy: str | None,
    grace_period_seconds: int | None = None,
    preconditions: dict[str, str] | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if propagation_policy:
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        options["preconditions"] = preconditions
    return options

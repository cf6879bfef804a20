"""Owner references, as controller-runtime's ``controllerutil`` sets them.

A controller reference (``controller: true``, ``blockOwnerDeletion: true``) makes the garbage
collector delete what a controller created when its owner goes, and lets ``owns`` watches find
the owner to reconcile. An object has at most one controller; a namespaced owner must live in
the object's namespace, and a cluster-scoped object cannot have a namespaced owner.
"""

from __future__ import annotations

from typing import Any

from kaito.runtime.resources import Object, meta


class AlreadyOwnedError(ValueError):
    """The object already has a different controller (controllerutil ``AlreadyOwnedError``)."""


def owner_reference(
    owner: Object, *, controller: bool = True, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """An ownerReferences entry pointing at ``owner`` (which must have a uid)."""
    metadata = meta(owner)
    if not metadata.get("uid"):
        raise ValueError("owner has no metadata.uid (was it read from the API server?)")
    ref: dict[str, Any] = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
    }
    if controller:
        ref["controller"] = True
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    return ref


def _same_owner(a: dict[str, Any], b: dict[str, Any]) -> bool:
    group_a = str(a.get("apiVersion", "")).rpartition("/")[0]
    group_b = str(b.get("apiVersion", "")).rpartition("/")[0]
    return group_a == group_b and a.get("kind") == b.get("kind") and a.get("name") == b.get("name")


def _check_scope(owner: Object, obj: Object) -> None:
    owner_ns = meta(owner).get("namespace")
    obj_ns = meta(obj).get("namespace")
    if owner_ns and not obj_ns:
        raise ValueError("cluster-scoped resource must not have a namespace-scoped owner")
    if owner_ns and owner_ns != obj_ns:
        raise ValueError(
            f"cross-namespace owner references are disallowed: owner in {owner_ns}, "
            f"object in {obj_ns}"
        )


def _upsert(obj: Object, ref: dict[str, Any]) -> None:
    refs: list[dict[str, Any]] = obj.setdefault("metadata", {}).setdefault("ownerReferences", [])
    for index, existing in enumerate(refs):
        if _same_owner(existing, ref):
            refs[index] = ref
            return
    refs.append(ref)


def set_controller_reference(owner: Object, obj: Object) -> None:
    """Make ``owner`` the controller of ``obj`` (in place)."""
    _check_scope(owner, obj)
    ref = owner_reference(owner)
    current = get_controller_of(obj)
    if current is not None and not _same_owner(current, ref):
        raise AlreadyOwnedError(
            f"{meta(obj).get('name')} is already controlled by "
            f"{current.get('kind')} {current.get('name')}"
        )
    _upsert(obj, ref)


def set_owner_reference(owner: Object, obj: Object) -> None:
    """Add ``owner`` as a non-controller owner of ``obj`` (in place)."""
    _check_scope(owner, obj)
    _upsert(obj, owner_reference(owner, controller=False, block_owner_deletion=False))


def get_controller_of(obj: Object) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Object, owner: Object) -> bool:
    """Whether ``owner`` (matched by uid) is ``obj``'s controller."""
    ref = get_controller_of(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")

"""Conditions (apimachinery semantics), merge-patch diffs and owner references."""

from __future__ import annotations

import datetime as dt

import pytest

from kaito.runtime.conditions import (
    condition,
    find_status_condition,
    format_time,
    is_status_condition_false,
    is_status_condition_true,
    remove_status_condition,
    set_status_condition,
)
from kaito.runtime.owner import (
    AlreadyOwnedError,
    get_controller_of,
    is_controlled_by,
    set_controller_reference,
    set_owner_reference,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 987654, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def test_new_condition_gets_transition_time_at_whole_seconds() -> None:
    conditions: list[dict] = []
    assert set_status_condition(conditions, condition("Ready", False, "Pending", "wait", 1), now=T0)
    assert conditions == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Pending",
            "message": "wait",
            "observedGeneration": 1,
            "lastTransitionTime": "2024-05-01T12:00:00Z",
        }
    ]


def test_transition_time_changes_only_with_status() -> None:
    conditions: list[dict] = []
    set_status_condition(conditions, condition("Ready", False, "Pending", "wait", 1), now=T0)
    # same status, different reason/message/generation: changed, but time kept
    assert set_status_condition(conditions, condition("Ready", False, "Still", "longer", 2), now=T1)
    cond = find_status_condition(conditions, "Ready")
    assert cond is not None
    assert cond["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert (cond["reason"], cond["message"], cond["observedGeneration"]) == ("Still", "longer", 2)
    # identical: no change at all
    assert not set_status_condition(
        conditions, condition("Ready", False, "Still", "longer", 2), now=T1
    )
    # status flips: time moves
    assert set_status_condition(conditions, condition("Ready", True, "Done", "ok", 2), now=T1)
    assert cond["lastTransitionTime"] == "2024-05-01T12:05:00Z"
    assert is_status_condition_true(conditions, "Ready")
    assert not is_status_condition_false(conditions, "Ready")


def test_explicit_transition_time_is_normalised() -> None:
    conditions: list[dict] = []
    new = {**condition("A", "Unknown", "R"), "lastTransitionTime": "2024-01-02T03:04:05.678Z"}
    set_status_condition(conditions, new)
    assert conditions[0]["lastTransitionTime"] == "2024-01-02T03:04:05Z"
    assert format_time(dt.datetime(2024, 1, 1, 1, 2, 3, 999)) == "2024-01-01T01:02:03Z"


def test_remove_and_validation() -> None:
    conditions = [condition("A", True, "R"), condition("B", True, "R")]
    assert remove_status_condition(conditions, "A")
    assert not remove_status_condition(conditions, "A")
    assert [c["type"] for c in conditions] == ["B"]
    with pytest.raises(ValueError):
        condition("X", "yes", "R")


def owner(uid: str = "u1", ns: str | None = "ns", name: str = "ws") -> dict:
    metadata = {"name": name, "uid": uid}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": metadata}


def test_controller_reference() -> None:
    obj = {"metadata": {"name": "dep", "namespace": "ns"}}
    set_controller_reference(owner(), obj)
    set_controller_reference(owner(), obj)  # idempotent
    refs = obj["metadata"]["ownerReferences"]
    assert refs == [
        {
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "name": "ws",
            "uid": "u1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert is_controlled_by(obj, owner())
    assert get_controller_of(obj)["name"] == "ws"
    with pytest.raises(AlreadyOwnedError):
        set_controller_reference(owner("u2", name="other"), obj)
    set_owner_reference(owner("u3", name="extra"), obj)
    assert len(obj["metadata"]["ownerReferences"]) == 2
    with pytest.raises(ValueError, match="cross-namespace"):
        set_controller_reference(
            owner(ns="elsewhere"), {"metadata": {"name": "x", "namespace": "ns"}}
        )
    with pytest.raises(ValueError, match="cluster-scoped"):
        set_controller_reference(owner(), {"metadata": {"name": "node"}})
    # a cluster-scoped owner may own a namespaced object
    node_owned = {"metadata": {"name": "x", "namespace": "ns"}}
    set_controller_reference(owner(ns=None, name="nc"), node_owned)
    with pytest.raises(ValueError, match="uid"):
        set_controller_reference({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}}, {})

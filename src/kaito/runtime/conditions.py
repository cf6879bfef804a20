"""Status conditions with apimachinery's semantics (``pkg/api/meta/conditions.go``).

A controller says what it wants with :class:`Condition` (type, status, reason, message; the
one shape every reconciler uses) and :func:`kaito.runtime.status.write_status` merges it into
the object. On the wire conditions are the dicts of ``metav1.Condition``: ``type``, ``status``
(``True``/``False``/``Unknown``), ``observedGeneration``, ``lastTransitionTime``, ``reason``,
``message``. :func:`set_status_condition` changes ``lastTransitionTime`` only when ``status``
changes; reason, message and observedGeneration are updated independently. Times are written
as metav1.Time serialises them, RFC 3339 UTC at whole seconds, so a condition read back from
the server compares equal to the one we computed and a steady state writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

ConditionDict = dict[str, Any]
"""A condition as the API has it (``metav1.Condition`` JSON)."""


@attrs.frozen
class Condition:
    """What a reconciler wants a condition to say; :meth:`as_dict` is its wire form."""

    type: str
    status: str
    """``True``, ``False`` or ``Unknown``."""
    reason: str
    message: str = ""

    @property
    def is_true(self) -> bool:
        return self.status == "True"

    def as_dict(self, observed_generation: int) -> ConditionDict:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "observedGeneration": observed_generation,
        }


def format_time(when: dt.datetime | str | None = None) -> str:
    """metav1.Time as JSON: ``2006-01-02T15:04:05Z`` (UTC, whole seconds); default now."""
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when is None:
        when = dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type: str,
    status: bool | str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
) -> ConditionDict:
    """A new condition dict; ``status`` may be a bool."""
    if isinstance(status, bool):
        status = "True" if status else "False"
    if status not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    new: ConditionDict = {"type": type, "status": status, "reason": reason, "message": message}
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    return new


def find_status_condition(conditions: list[ConditionDict], type: str) -> ConditionDict | None:
    for cond in conditions:
        if cond.get("type") == type:
            return cond
    return None


def set_status_condition(
    conditions: list[ConditionDict], new: Mapping[str, Any], *, now: dt.datetime | None = None
) -> bool:
    """Add or update ``new`` in ``conditions`` (in place); return whether anything changed."""
    existing = find_status_condition(conditions, str(new["type"]))
    given_time = new.get("lastTransitionTime")
    if existing is None:
        added = dict(new)
        added["lastTransitionTime"] = format_time(given_time or now)
        conditions.append(added)
        return True
    changed = False
    if existing.get("status") != new.get("status"):
        existing["status"] = new.get("status")
        existing["lastTransitionTime"] = format_time(given_time or now)
        changed = True
    for key in ("reason", "message", "observedGeneration"):
        if key in new and existing.get(key) != new[key]:
            existing[key] = new[key]
            changed = True
    return changed


def remove_status_condition(conditions: list[ConditionDict], type: str) -> bool:
    """Remove the condition of ``type``; return whether it was there."""
    for index, cond in enumerate(conditions):
        if cond.get("type") == type:
            del conditions[index]
            return True
    return False


def is_status_condition_present_and_equal(
    conditions: list[ConditionDict], type: str, status: str
) -> bool:
    cond = find_status_condition(conditions, type)
    return cond is not None and cond.get("status") == status


def is_status_condition_true(conditions: list[ConditionDict], type: str) -> bool:
    return is_status_condition_present_and_equal(conditions, type, "True")


def is_status_condition_false(conditions: list[ConditionDict], type: str) -> bool:
    return is_status_condition_present_and_equal(conditions, type, "False")


def object_conditions(obj: Mapping[str, Any] | None) -> list[ConditionDict]:
    """``obj["status"]["conditions"]`` of any object dict (empty when absent)."""
    conditions: list[ConditionDict] = ((obj or {}).get("status") or {}).get("conditions") or []
    return conditions


def find_object_condition(obj: Mapping[str, Any] | None, type: str) -> ConditionDict | None:
    """The condition of ``type`` in an object's status (Node, Job, custom resource ...)."""
    return find_status_condition(object_conditions(obj), type)


def is_object_condition_true(obj: Mapping[str, Any] | None, type: str) -> bool:
    return is_status_condition_true(object_conditions(obj), type)

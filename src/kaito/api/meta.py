"""Kubernetes meta/v1 shapes the kaito types embed: Condition and LabelSelector.

Only what Workspace and NodeClaim need. ``metadata`` itself stays a plain dict on
every object (the informer cache holds dicts; see ``DESIGN.md``), so nothing here
models ObjectMeta. :func:`label_selector_as_map` is apimachinery's
``LabelSelectorAsMap`` with its exact error texts, because the admission webhook
repeats them to users.
"""

from __future__ import annotations

from typing import Any

import attrs

from kaito.api.fields import meta

JSONDict = dict[str, Any]


@attrs.frozen(kw_only=True)
class Condition:
    """``metav1.Condition``: one aspect of an object's observed state.

    ``lastTransitionTime`` is kept as the RFC 3339 string the API server sent (UTC,
    second precision) so that comparing and re-sending it never changes it.
    """

    type: str
    status: str
    reason: str = attrs.field(default="", metadata=meta(always=True))
    message: str = attrs.field(default="", metadata=meta(always=True))
    last_transition_time: str = attrs.field(default="", metadata=meta(always=True))
    observed_generation: int | None = None

    @property
    def is_true(self) -> bool:
        return self.status == "True"


def find_condition(conditions: list[Condition] | None, type_: str) -> Condition | None:
    """``meta.FindStatusCondition``."""
    for condition in conditions or ():
        if condition.type == type_:
            return condition
    return None


@attrs.frozen(kw_only=True)
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry: ``key``, ``operator`` (In/NotIn/Exists/...), ``values``."""

    key: str
    operator: str
    values: list[str] | None = None


@attrs.frozen(kw_only=True)
class LabelSelector:
    """``metav1.LabelSelector``."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class LabelSelectorError(ValueError):
    """The selector cannot be expressed as a plain ``key=value`` map."""


def label_selector_as_map(selector: LabelSelector | None) -> dict[str, str]:
    """apimachinery ``LabelSelectorAsMap``: matchLabels plus single-value ``In`` expressions.

    Raises :class:`LabelSelectorError` with apimachinery's message for any other
    operator, because NodeClaims and node affinity need plain labels.
    """
    if selector is None:
        return {}
    out = dict(selector.match_labels or {})
    for expr in selector.match_expressions or ():
        if expr.operator == "In":
            if len(expr.values or ()) != 1:
                raise LabelSelectorError(
                    f'operator "{expr.operator}" without a single value cannot be '
                    "converted into a map"
                )
            out[expr.key] = (expr.values or [""])[0]
        elif expr.operator in ("NotIn", "Exists", "DoesNotExist"):
            raise LabelSelectorError(f'operator "{expr.operator}" cannot be converted into a map')
        else:
            raise LabelSelectorError(f'"{expr.operator}" is not a valid selector operator')
    return out

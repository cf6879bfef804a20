"""Property tests: any Workspace validates or yields messages; nothing ever raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.api import constants as c
from kaito.api import workspace_from_dict
from kaito.api.validation import review, validate_create, validate_update
from kaito.api.validation.errors import MAX_MESSAGE
from tests.unit.api import api_strategies as strat
from tests.unit.api.api_builders import CATALOG, CLOUD


@settings(max_examples=300, deadline=None)
@given(strat.workspaces)
def test_validate_create_never_raises(data: dict[str, Any]) -> None:
    ws = workspace_from_dict(data)
    result = validate_create(ws, catalog=CATALOG, cloud=CLOUD)
    assert all(isinstance(e, str) and e for e in result.errors)
    assert (
        validate_create(ws, catalog=CATALOG, cloud=CLOUD) == result
    )  # deterministic, order included
    assert len(set(result.errors)) == len(result.errors)
    assert result.allowed == (not result.errors)
    if ws.inference is None and ws.tuning is None:
        assert "Either Inference or Tuning must be specified, not neither: spec" in result.errors
    if ws.inference is not None and ws.tuning is not None:
        assert "Either Inference or Tuning must be specified, but not both: spec" in result.errors
    if ws.tuning is None:
        assert result.warnings == []
    if ws.resource.count is not None and not 1 <= ws.resource.count <= c.DEFAULT_MAX_NODE_COUNT:
        assert not result.allowed  # bypass annotation or not
        assert not any("provides -" in e or "total of -" in e for e in result.errors)
    assert len(result.message.encode()) <= MAX_MESSAGE


@settings(max_examples=200, deadline=None)
@given(strat.workspaces, strat.workspaces)
def test_validate_update_never_raises(old: dict[str, Any], new: dict[str, Any]) -> None:
    result = validate_update(workspace_from_dict(old), workspace_from_dict(new))
    assert all(isinstance(e, str) and e for e in result.errors)
    # Identical objects are always a valid update unless their mutable parts are invalid.
    same = validate_update(workspace_from_dict(old), workspace_from_dict(old))
    assert not any("immutable" in e or "cannot be" in e for e in same.errors)


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"operation": st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT", None])},
        optional={
            "uid": st.text(max_size=5),
            "object": st.one_of(strat.workspaces, json_values),
            "oldObject": st.one_of(strat.workspaces, json_values),
            "kind": json_values,
        },
    )
)
def test_review_never_raises(request: dict[str, Any]) -> None:
    out = review(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request},
        catalog=CATALOG,
        cloud=CLOUD,
    )
    response = out["response"]
    assert out["kind"] == "AdmissionReview"
    assert isinstance(response["allowed"], bool)
    if not response["allowed"]:
        assert response["status"]["message"].startswith("validation failed: ")
        assert len(response["status"]["message"].encode()) <= MAX_MESSAGE
        assert response["status"]["code"] == 400

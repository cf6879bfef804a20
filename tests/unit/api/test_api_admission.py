"""review(): AdmissionReview v1 in, the response the API server expects out."""

from __future__ import annotations

from typing import Any

from kaito.api.validation import review
from tests.unit.api.api_builders import CATALOG, CLOUD, inference_dict, tuning_dict


def _review(operation: str, obj: Any, old: Any = None, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "kaito.sh", "version": "v1beta1", "kind": "Workspace"},
        "resource": {"group": "kaito.sh", "version": "v1beta1", "resource": "workspaces"},
        "operation": operation,
        "object": obj,
        **extra,
    }
    if old is not None:
        request["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def test_allowed_create() -> None:
    out = review(_review("CREATE", inference_dict()), catalog=CATALOG, cloud=CLOUD)
    assert out == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True},
    }


def test_denied_create_carries_knative_message() -> None:
    bad = inference_dict()
    bad["inference"]["preset"]["name"] = "gpt-5"
    response = review(_review("CREATE", bad), catalog=CATALOG, cloud=CLOUD)["response"]
    assert response["allowed"] is False
    assert response["status"] == {
        "status": "Failure",
        "code": 400,
        "reason": "BadRequest",
        "message": "validation failed: invalid value: Unsupported inference preset name gpt-5: "
        "inference.preset.name",
    }


def test_warnings_on_allowed_tuning() -> None:
    ws = tuning_dict(instanceType="Standard_NC6s_v3")
    response = review(_review("CREATE", ws), catalog=CATALOG, cloud=CLOUD)["response"]
    assert response["allowed"] is True
    assert len(response["warnings"]) == 1
    assert "may need up to 72Gi of GPU memory per GPU" in response["warnings"][0]


def test_update_checks_immutability() -> None:
    old = inference_dict()
    new = inference_dict(instanceType="Standard_NC48ads_A100_v4")
    response = review(_review("UPDATE", new, old), catalog=CATALOG, cloud=CLOUD)["response"]
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        "validation failed: instanceType cannot be changed once set when node auto-provisioning "
        "is enabled: resource.instanceType"
    )


def test_update_with_unchanged_spec_is_allowed() -> None:
    old = inference_dict()
    new = inference_dict()
    new["metadata"]["finalizers"] = ["workspace.finalizer.kaito.sh"]
    assert (
        review(_review("UPDATE", new, old), catalog=CATALOG, cloud=CLOUD)["response"]["allowed"]
        is True
    )


def test_bare_request_accepted_too() -> None:
    out = review(_review("CREATE", inference_dict())["request"], catalog=CATALOG, cloud=CLOUD)
    assert out["response"]["allowed"] is True


def test_undecodable_object_is_denied_with_reason() -> None:
    bad = inference_dict()
    bad["resource"]["count"] = "two"
    response = review(_review("CREATE", bad), catalog=CATALOG, cloud=CLOUD)["response"]
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        "validation failed: cannot decode Workspace: "
        "resource.count: expected integer, got str 'two'"
    )


def test_other_operations_and_kinds_pass_through() -> None:
    assert (
        review(_review("DELETE", None), catalog=CATALOG, cloud=CLOUD)["response"]["allowed"] is True
    )
    other = _review("CREATE", {"garbage": True})
    other["request"]["kind"]["kind"] = "ConfigMap"
    assert review(other, catalog=CATALOG, cloud=CLOUD)["response"]["allowed"] is True


def test_node_auto_provisioning_and_cloud_are_passed_through() -> None:
    ws = inference_dict(instanceType="p4d.24xlarge")
    assert (
        review(_review("CREATE", ws), catalog=CATALOG, cloud=CLOUD)["response"]["allowed"] is False
    )
    assert (
        review(_review("CREATE", ws), catalog=CATALOG, cloud="aws")["response"]["allowed"] is True
    )
    byo = inference_dict()
    assert (
        review(_review("CREATE", byo), catalog=CATALOG, cloud=CLOUD, node_auto_provisioning=False)[
            "response"
        ]["allowed"]
        is False
    )


def test_malformed_metadata_is_denied_not_raised() -> None:
    """The API server never sends such metadata, but review() must not raise on any body."""
    for bad in ("text", 5, ["a"], {"k": 1}):
        obj = inference_dict()
        obj["metadata"]["annotations"] = bad
        for body in (_review("CREATE", obj), _review("UPDATE", inference_dict(), obj)):
            response = review(body, catalog=CATALOG, cloud=CLOUD)["response"]
            assert response["allowed"] is False
            assert response["status"]["message"] == (
                "validation failed: cannot decode Workspace: "
                "metadata.annotations: expected a map of strings"
            )
    obj = inference_dict()
    obj["metadata"]["labels"] = "x"
    assert "metadata.labels: expected a map of strings" in str(
        review(_review("CREATE", obj), catalog=CATALOG, cloud=CLOUD)
    )
    obj = inference_dict()
    obj["metadata"]["name"] = 7
    assert "metadata.name: expected string, got int" in str(
        review(_review("CREATE", obj), catalog=CATALOG, cloud=CLOUD)
    )

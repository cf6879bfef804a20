"""The rules judge a Workspace by the catalog and cloud their caller passes (issue #17).

Neither has a default any more: ``validate_create`` and ``review`` without them is a
``TypeError``, so the webhook, the reconciler and ``kaito render`` cannot silently judge
instance types against different SKU tables (``CLOUD_PROVIDER=aws``) or ignore an
injected catalog.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from kaito.api import workspace_from_dict
from kaito.api.validation import review, validate_create
from kaito.controllers.settings import Settings
from kaito.controllers.webhook import admission_handler
from tests.unit.api.api_builders import CATALOG, CLOUD, inference_dict

AWS_SKU = "p4d.24xlarge"
"""In the aws table of ``kaito/presets/data/skus.yaml`` (8 A100, 320Gi), not in azure's."""
PHI3 = "phi-3-mini-4k-instruct"


def _request(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": "u-1",
        "kind": {"group": "kaito.sh", "version": "v1beta1", "kind": "Workspace"},
        "operation": "CREATE",
        "object": data,
    }


def test_an_aws_instance_type_is_accepted_on_aws_and_refused_on_azure() -> None:
    data = inference_dict(instanceType=AWS_SKU)
    assert CATALOG.sku(AWS_SKU, "aws") is not None
    assert CATALOG.sku(AWS_SKU, "azure") is None

    ws = workspace_from_dict(data)
    assert validate_create(ws, catalog=CATALOG, cloud="aws").errors == []
    (error,) = validate_create(ws, catalog=CATALOG, cloud="azure").errors
    assert error.startswith(f"invalid value: Unsupported instance type {AWS_SKU}.")

    on_aws = review({"request": _request(data)}, catalog=CATALOG, cloud="aws")["response"]
    assert on_aws["allowed"] is True
    on_azure = review({"request": _request(data)}, catalog=CATALOG, cloud="azure")["response"]
    assert on_azure["allowed"] is False
    assert f"Unsupported instance type {AWS_SKU}" in on_azure["status"]["message"]


def test_the_cloud_is_required() -> None:
    ws = workspace_from_dict(inference_dict(instanceType=AWS_SKU))
    with pytest.raises(TypeError, match="cloud"):
        validate_create(ws, catalog=CATALOG)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cloud"):
        review({"request": _request(inference_dict())}, catalog=CATALOG)  # type: ignore[call-arg]


async def test_the_webhook_handler_judges_by_the_managers_cloud() -> None:
    request = _request(inference_dict(instanceType=AWS_SKU))
    on_aws = await admission_handler(Settings(cloud="aws"))(request)
    assert on_aws.allowed is True
    on_azure = await admission_handler(Settings(cloud="azure"))(request)
    assert on_azure.allowed is False
    assert f"Unsupported instance type {AWS_SKU}" in on_azure.message


def _without(name: str) -> Any:
    """The shipped catalog less one inference preset."""
    return attrs.evolve(
        CATALOG, inference={k: v for k, v in CATALOG.inference.items() if k != name}
    )


def _bigger(name: str, factor: int) -> Any:
    """The shipped catalog with one preset needing ``factor`` times its GPU memory."""
    preset = CATALOG.inference[name]
    big = attrs.evolve(preset, total_gpu_memory=preset.total_gpu_memory * factor)
    return attrs.evolve(CATALOG, inference={**CATALOG.inference, name: big})


def test_an_injected_catalog_is_what_the_rules_use() -> None:
    data = inference_dict()  # phi-3-mini on Standard_NC24ads_A100_v4 (80Gi)
    ws = workspace_from_dict(data)
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD).errors == []

    (missing,) = validate_create(ws, catalog=_without(PHI3), cloud=CLOUD).errors
    assert (
        missing == f"invalid value: Unsupported inference preset name {PHI3}: inference.preset.name"
    )
    (too_big,) = validate_create(ws, catalog=_bigger(PHI3, 100), cloud=CLOUD).errors
    assert too_big.startswith("invalid value: Insufficient total GPU memory:")

    assert review({"request": _request(data)}, catalog=CATALOG, cloud=CLOUD)["response"]["allowed"]
    for catalog, words in [
        (_without(PHI3), f"Unsupported inference preset name {PHI3}"),
        (_bigger(PHI3, 100), "Insufficient total GPU memory"),
    ]:
        response = review({"request": _request(data)}, catalog=catalog, cloud=CLOUD)["response"]
        assert response["allowed"] is False
        assert words in response["status"]["message"]


def test_the_catalog_is_required() -> None:
    ws = workspace_from_dict(inference_dict())
    with pytest.raises(TypeError, match="catalog"):
        validate_create(ws, cloud=CLOUD)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="catalog"):
        review({"request": _request(inference_dict())}, cloud=CLOUD)  # type: ignore[call-arg]


async def test_the_webhook_handler_uses_the_shipped_catalog() -> None:
    """What the reconciler is given (``kaito manager`` passes ``default_catalog()``)."""
    handler = admission_handler(Settings())
    for data in (inference_dict(), inference_dict(instanceType="Standard_NC6")):
        expected = review({"request": _request(data)}, catalog=CATALOG, cloud=CLOUD)["response"]
        answer = await handler(_request(data))
        assert answer.allowed is expected["allowed"]
        assert answer.message == expected.get("status", {}).get("message", "")

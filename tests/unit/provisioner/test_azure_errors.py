"""ARM failures become typed errors that keep Azure's words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)

from kaito.provisioner.cloud import (
    CloudError,
    CreateInProgress,
    InstanceNotFound,
    InvalidRequest,
    QuotaExceeded,
    SkuUnavailable,
    Throttled,
    TransientError,
)
from kaito.provisioner.cloud.azure_errors import classify, from_azure_error, parse_retry_after

QUOTA = (
    "Preflight validation check for resource(s) for container service aks in resource group "
    "MC_rg failed. Message: Operation could not be completed as it results in exceeding "
    "approved standardNCADSA100v4Family Cores quota."
)
IN_PROGRESS = (
    "Operation is not allowed because there's an in progress create node pool operation "
    "with Correlation Id 'x' started at 2025-01-01T00:00:00Z."
)
SKU = (
    "The requested VM size for resource 'Following SKUs have failed for Capacity "
    "Restrictions: Standard_NC96ads_A100_v4' is currently not available in location 'westus'."
)


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (409, "OperationNotAllowed", IN_PROGRESS, CreateInProgress),
        (400, "QuotaExceeded", QUOTA, QuotaExceeded),
        (400, "OperationNotAllowed", QUOTA, QuotaExceeded),
        (200, "ErrCode_InsufficientVCPUQuota", "not enough cores", QuotaExceeded),
        (400, "SkuNotAvailable", SKU, SkuUnavailable),
        (200, "AllocationFailed", "Allocation failed.", SkuUnavailable),
        (
            400,
            "BadRequest",
            "The VM size of Standard_ND96asr_v4 is not allowed in your subscription in "
            "location 'eastus'.",
            SkuUnavailable,
        ),
        (429, "TooManyRequests", "throttled", Throttled),
        (200, "Throttled", "throttled", Throttled),
        (500, "InternalServerError", "An internal server error occurred.", TransientError),
        (503, None, "Service Unavailable", TransientError),
        (200, "InternalOperationError", "oops", TransientError),
        (409, "OperationNotAllowed", "an upgrade operation is in progress", TransientError),
        (404, "NotFound", "Agent pool ws1 not found", InstanceNotFound),
        (
            404,
            "ResourceNotFound",
            "The Resource 'Microsoft.ContainerService/managedClusters/aks' under resource "
            "group 'rg' was not found.",
            InvalidRequest,
        ),
        (404, "ResourceGroupNotFound", "Resource group 'rg' could not be found.", InvalidRequest),
        (404, "SubscriptionNotFound", "The subscription 's' could not be found.", InvalidRequest),
        (400, "InvalidParameter", "The value of parameter vmSize is invalid.", InvalidRequest),
        (400, None, "bad", InvalidRequest),
        (403, "AuthorizationFailed", "no permission", CloudError),
        (None, None, "???", CloudError),
    ],
)
def test_classify(
    status: int | None, code: str | None, message: str, kind: type[CloudError]
) -> None:
    error = classify(status=status, code=code, message=message, retry_after=2.0)
    assert type(error) is kind
    assert error.message == message
    assert error.code == code
    assert error.status == status
    assert error.retry_after == 2.0


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"Retry-After": "7", "retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"x-ms-retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 00:00:30 GMT"}, now) == 30.0
    assert parse_retry_after({"Retry-After": "Tue, 31 Dec 2024 00:00:00 GMT"}, now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_transport_failures_are_transient() -> None:
    assert isinstance(from_azure_error(ServiceRequestError("connection refused")), TransientError)
    assert isinstance(from_azure_error(ServiceResponseError("reset")), TransientError)
    assert isinstance(from_azure_error(ConnectionResetError("reset")), TransientError)


def test_credential_failure_is_not_called_transient() -> None:
    error = from_azure_error(ClientAuthenticationError("federated token file missing"))
    assert type(error) is CloudError
    assert error.code == "AuthenticationFailed"
    assert "federated token file missing" in error.message


def test_cloud_errors_pass_through() -> None:
    original = QuotaExceeded("q")
    assert from_azure_error(original) is original

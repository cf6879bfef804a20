"""Azure SDK exceptions -> kaito's typed cloud errors.

The SDK raises ``HttpResponseError`` for everything from a malformed body to an exhausted
quota; what tells them apart is ARM's error ``code`` and the words of its ``message``. The
rules here follow what upstream's gpu-provisioner and Karpenter's Azure provider match on:
quota errors (``QuotaExceeded``, ``OperationNotAllowed`` "... exceeding approved ... quota"),
SKU errors (``SkuNotAvailable`` "... not available in location ..."), throttling (429 with
``Retry-After``), server errors (5xx) and AKS's "in progress create node pool operation",
which means a create is already under way and must be adopted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from kaito.provisioner.cloud.errors import (
    CloudError,
    CreateInProgress,
    InstanceNotFound,
    InvalidRequest,
    QuotaExceeded,
    SkuUnavailable,
    Throttled,
    TransientError,
)

IN_PROGRESS_CREATE = "in progress create node pool operation"
"""Part of AKS's message when a PUT races an unfinished create of the same pool."""

_QUOTA_CODES = frozenset(
    {"quotaexceeded", "errcode_insufficientvcpuquota", "insufficientvcpuquota"}
)
_QUOTA_TEXT = re.compile(r"\bquota\b", re.IGNORECASE)
_SKU_CODES = frozenset(
    {
        "skunotavailable",
        "vmsizenotsupported",
        "allocationfailed",
        "zonalallocationfailed",
        "overconstrainedallocationrequest",
        "overconstrainedzonalallocationrequest",
    }
)
_SKU_TEXT = re.compile(
    r"not available in (?:location|region)|not allowed in your subscription"
    r"|sufficient capacity for the requested vm size",
    re.IGNORECASE,
)
_THROTTLE_CODES = frozenset({"toomanyrequests", "throttled", "throttling"})
_NOT_FOUND_CODES = frozenset({"notfound", "resourcenotfound", "agentpoolnotfound"})
_SCOPE_MISSING_CODES = frozenset(
    {"subscriptionnotfound", "resourcegroupnotfound", "parentresourcenotfound"}
)
_CLUSTER_MISSING = re.compile(r"managedClusters/[^/']+' under resource group", re.IGNORECASE)
"""ARM's 404 for a pool URL whose cluster does not exist: settings point at nothing."""
_INVALID_CODES = frozenset({"badrequest", "invalidparameter", "invalidrequestcontent"})
_TRANSIENT_CODES = frozenset(
    {"internalservererror", "internaloperationerror", "serviceunavailable", "gatewaytimeout"}
)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``x-ms-retry-after-ms`` / ``Retry-After``
    (seconds or an HTTP date); None when absent or unreadable."""
    lower = {key.lower(): value for key, value in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if name in lower:
            try:
                return max(0.0, float(lower[name]) / 1000)
            except ValueError:
                pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(
    *,
    message: str,
    code: str | None = None,
    status: int | None = None,
    retry_after: float | None = None,
) -> CloudError:
    """The typed error for an ARM failure described by ``status``, ``code`` and ``message``.

    Codes and words decide before the status, because a long-running operation that fails
    reports its error in a ``200 OK`` status document.
    """
    kind = _kind(message=message, code=(code or "").lower(), status=status)
    return kind(message, code=code, status=status, retry_after=retry_after)


def _kind(*, message: str, code: str, status: int | None) -> type[CloudError]:
    if IN_PROGRESS_CREATE in message.lower():
        return CreateInProgress
    if status == 429 or code in _THROTTLE_CODES:
        return Throttled
    if code in _QUOTA_CODES or _QUOTA_TEXT.search(message):
        return QuotaExceeded
    if code in _SKU_CODES or _SKU_TEXT.search(message):
        return SkuUnavailable
    if code in _SCOPE_MISSING_CODES or (status == 404 and _CLUSTER_MISSING.search(message)):
        return InvalidRequest  # the subscription, resource group or cluster is wrong
    if status == 404 or code in _NOT_FOUND_CODES:
        return InstanceNotFound
    if code in _TRANSIENT_CODES or (status is not None and (status >= 500 or status == 408)):
        return TransientError
    if status == 409:
        # Another operation on the cluster or pool (upgrade, scale) is running: wait it out.
        return TransientError
    if code in _INVALID_CODES or status in (400, 422):
        return InvalidRequest
    return CloudError


def from_azure_error(exc: BaseException) -> CloudError:
    """Map an exception raised by the Azure SDK (or its transport) to a :class:`CloudError`."""
    if isinstance(exc, CloudError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and exc.response is None:
        # No HTTP answer at all: the credential itself failed (workload identity not set up).
        return CloudError(exc.message, code="AuthenticationFailed")
    if isinstance(exc, HttpResponseError):
        error = exc.error
        message = (error.message if error is not None else None) or exc.message
        code = error.code if error is not None else None
        response: Any = exc.response
        headers: dict[str, str] = dict(response.headers) if response is not None else {}
        return classify(
            message=message,
            code=code,
            status=exc.status_code,
            retry_after=parse_retry_after(headers),
        )
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return TransientError(exc.message, code=type(exc).__name__)
    if isinstance(exc, AzureError):
        return CloudError(exc.message, code=type(exc).__name__)
    if isinstance(exc, (OSError, TimeoutError)):
        return TransientError(str(exc) or type(exc).__name__, code=type(exc).__name__)
    return CloudError(str(exc) or type(exc).__name__, code=type(exc).__name__)

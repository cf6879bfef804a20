"""Typed API errors, decided the way apimachinery's ``pkg/api/errors`` decides them.

The apiserver answers failures with a ``metav1.Status``; client-go turns it into a
``StatusError`` and callers ask ``IsNotFound``/``IsConflict``/``IsAlreadyExists``/
``IsGone``/``IsResourceExpired``/``IsInvalid``. Here each of those is an exception class
(``except NotFound:``), chosen from the Status ``reason`` first and the HTTP code second,
and carrying the server's message. Failures below HTTP (refused connection, timeout, reset)
are :class:`TransportError`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The apiserver answered with a failure Status."""

    def __init__(
        self,
        code: int,
        reason: str = "",
        message: str = "",
        *,
        status: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.message = message or reason or f"HTTP {code}"
        self.status: dict[str, Any] = status or {}
        self.retry_after = retry_after
        super().__init__(f"{code} {reason}: {self.message}" if reason else self.message)

    @property
    def causes(self) -> list[dict[str, Any]]:
        """``status.details.causes`` (field errors for Invalid, RV-too-large markers, ...)."""
        details = self.status.get("details") or {}
        causes = details.get("causes") or []
        return list(causes)


class NotFound(ApiError):
    """404: the object (or its namespace, or the resource type) does not exist."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: create of a name that is taken."""


class Conflict(ApiError):
    """409 Conflict: the resourceVersion precondition failed; re-read and try again."""


class Gone(ApiError):
    """410 Gone / Expired: the requested resourceVersion was compacted away; relist."""


Expired = Gone


class Invalid(ApiError):
    """422 Invalid: the object failed validation (admission webhooks included)."""


class BadRequest(ApiError):
    """400 BadRequest."""


class Unauthorized(ApiError):
    """401 Unauthorized."""


class Forbidden(ApiError):
    """403 Forbidden: RBAC said no, or a validating webhook denied the request."""


class MethodNotAllowed(ApiError):
    """405 MethodNotAllowed."""


class UnsupportedMediaType(ApiError):
    """415: e.g. a strategic merge patch sent to a custom resource."""


class TooManyRequests(ApiError):
    """429: API priority and fairness (or a client limiter) asks us to back off."""


class ServerError(ApiError):
    """5xx: internal error, unavailable, or timeout on the server side."""


class TransportError(Exception):
    """The request never got an HTTP answer: refused, reset, TLS failure or client timeout."""


_BY_REASON: dict[str, type[ApiError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Gone,
    "Invalid": Invalid,
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "MethodNotAllowed": MethodNotAllowed,
    "UnsupportedMediaType": UnsupportedMediaType,
    "TooManyRequests": TooManyRequests,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_status(
    code: int, status: dict[str, Any] | None, *, retry_after: float | None = None
) -> ApiError:
    """The exception for an HTTP failure ``code`` whose body was ``status`` (a metav1.Status)."""
    status = status if isinstance(status, dict) else {}
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    status_code = status.get("code")
    if isinstance(status_code, int) and status_code >= 400:
        code = status_code
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 else ApiError
    return cls(code, reason, message, status=status, retry_after=retry_after)


def is_too_large_resource_version(error: BaseException) -> bool:
    """client-go ``IsTooLargeResourceVersion``: the apiserver has not seen that RV yet."""
    if not isinstance(error, ApiError):
        return False
    return any(cause.get("reason") == "ResourceVersionTooLarge" for cause in error.causes) or (
        error.code == 504 and "Too large resource version" in error.message
    )

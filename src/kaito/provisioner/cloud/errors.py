"""Typed cloud errors, so the NodeClaim reconciler can decide without parsing text.

Karpenter's cloud providers return ``InsufficientCapacityError``, ``NodeClaimNotFoundError``
and plain errors, and core decides from the type whether to retry, fail the launch or treat
a delete as done. These classes carry the same decision (``retryable``, ``retry_after``) plus
the cloud's own code and words in ``message``, which the reconciler copies into the
NodeClaim's ``Launched`` condition so the user sees what the cloud said.
"""

from __future__ import annotations


class CloudError(Exception):
    """A cloud call failed. Unclassified failures are worth retrying with backoff."""

    retryable: bool = True
    """Whether repeating the same call can succeed without anyone changing anything."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        """The cloud's own words, unchanged."""
        self.code = code
        """The cloud's error code (``QuotaExceeded``, ``SkuNotAvailable`` ...), if it sent one."""
        self.status = status
        """The HTTP status of the failed response, if there was a response."""
        self.retry_after = retry_after
        """Seconds the cloud asked us to wait before trying again, if it said."""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"status={self.status!r}, retry_after={self.retry_after!r})"
        )


class QuotaExceeded(CloudError):
    """The subscription's quota does not allow the instance; someone must raise it."""

    retryable = False


class SkuUnavailable(CloudError):
    """The instance type cannot be had in this region or subscription (Karpenter's ICE)."""

    retryable = False


class InvalidRequest(CloudError):
    """The cloud (or we, before asking it) rejected the request as malformed."""

    retryable = False


class Throttled(CloudError):
    """Too many requests; wait ``retry_after`` seconds (when known) and try again."""

    retryable = True


class TransientError(CloudError):
    """A server-side or network failure that usually goes away by itself."""

    retryable = True


class CreateInProgress(CloudError):
    """An earlier create of the same instance is still running: adopt it, do not fail.

    Raised by AKS as "Operation is not allowed because there's an in progress create node
    pool operation" when a restarted provisioner creates a pool its predecessor started.
    """

    retryable = True


class InstanceNotFound(CloudError):
    """No instance of that name exists (a delete that raises this is already done)."""

    retryable = False

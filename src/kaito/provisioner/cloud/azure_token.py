"""A credential for an ARM access token obtained elsewhere.

``DefaultAzureCredential`` is what the provisioner uses in AKS (workload identity). This one
hands out a bearer token given to the process (``KAITO_AZURE_ACCESS_TOKEN``, e.g. the output
of ``az account get-access-token``) so ``kaito provisioner --provider=azure`` can run outside
Azure for a short while, and against the simulated AKS endpoint of the tests, which only
checks that a token is sent. It is an ``azure.core`` ``AsyncTokenCredential``, like the
credentials of ``azure-identity``, and never refreshes: an expired token fails with ARM's
401, which the provider reports as it would any authentication failure.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken

ACCESS_TOKEN_LIFETIME = 3600
"""Seconds the SDK is told a static token stays valid (ARM tokens live about an hour)."""


class StaticTokenCredential:
    """An ``AsyncTokenCredential`` that always returns the same bearer token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("an access token is required")
        self._token = token

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + ACCESS_TOKEN_LIFETIME)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        return None

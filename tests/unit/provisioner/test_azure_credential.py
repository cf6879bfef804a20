"""The production credential is DefaultAzureCredential, closed by the provider that made it."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.identity.aio import DefaultAzureCredential

from kaito.provisioner.cloud.azure import AzureProvider, default_credential
from kaito.provisioner.cloud.azure_settings import AzureSettings

SETTINGS = AzureSettings("sub", "rg", "aks", "eastus", client_id="cid", tenant_id="tid")


async def test_default_credential_includes_workload_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("federated-token")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AZURE_TENANT_ID", "tid")
    monkeypatch.setenv("AZURE_CLIENT_ID", "cid")
    credential = default_credential(SETTINGS)
    try:
        assert isinstance(credential, DefaultAzureCredential)
        kinds = [type(c).__name__ for c in credential.credentials]
        assert "WorkloadIdentityCredential" in kinds
    finally:
        await credential.close()


async def test_provider_from_settings_owns_its_default_credential() -> None:
    provider = AzureProvider.from_settings(SETTINGS)
    assert provider.arm_id("ws1") == (
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerService"
        "/managedClusters/aks/agentPools/ws1"
    )
    await provider.aclose()

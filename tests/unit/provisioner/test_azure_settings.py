"""AzureSettings.from_env reads upstream gpu-provisioner's variables."""

from __future__ import annotations

import pytest

from kaito.provisioner.cloud.azure_settings import AzureSettings
from kaito.provisioner.cloud.errors import InvalidRequest

FULL = {
    "ARM_SUBSCRIPTION_ID": "sub-1",
    "ARM_RESOURCE_GROUP": "rg-1",
    "AZURE_CLUSTER_NAME": "aks-1",
    "LOCATION": "eastus",
    "AZURE_CLIENT_ID": "client-1",
    "AZURE_TENANT_ID": "tenant-1",
}


def test_reads_every_variable() -> None:
    assert AzureSettings.from_env(FULL) == AzureSettings(
        subscription_id="sub-1",
        resource_group="rg-1",
        cluster_name="aks-1",
        location="eastus",
        client_id="client-1",
        tenant_id="tenant-1",
    )


def test_identity_and_location_are_optional() -> None:
    env = {k: v for k, v in FULL.items() if k.startswith(("ARM_", "AZURE_CLUSTER"))}
    settings = AzureSettings.from_env(env)
    assert settings.client_id is None
    assert settings.tenant_id is None
    assert settings.location == ""


def test_missing_required_variables_are_all_named() -> None:
    env = dict(FULL, ARM_RESOURCE_GROUP=" ")
    del env["AZURE_CLUSTER_NAME"]
    with pytest.raises(InvalidRequest) as info:
        AzureSettings.from_env(env)
    assert "ARM_RESOURCE_GROUP" in info.value.message
    assert "AZURE_CLUSTER_NAME" in info.value.message
    assert "ARM_SUBSCRIPTION_ID" not in info.value.message


def test_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FULL.items():
        monkeypatch.setenv(key, value)
    assert AzureSettings.from_env().cluster_name == "aks-1"

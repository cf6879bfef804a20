"""Where the Azure provider works: subscription, resource group, cluster, identity.

Read from the same environment variables as upstream's gpu-provisioner
(``ARM_SUBSCRIPTION_ID``, ``ARM_RESOURCE_GROUP``, ``AZURE_CLUSTER_NAME``, ``LOCATION``,
``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``), so its Helm values and identity setup work unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from kaito.provisioner.cloud.errors import InvalidRequest

_REQUIRED = {
    "subscription_id": "ARM_SUBSCRIPTION_ID",
    "resource_group": "ARM_RESOURCE_GROUP",
    "cluster_name": "AZURE_CLUSTER_NAME",
}


@attrs.frozen
class AzureSettings:
    """The AKS cluster whose agent pools the provider manages."""

    subscription_id: str
    """Subscription of the AKS cluster (``ARM_SUBSCRIPTION_ID``)."""
    resource_group: str
    """Resource group of the AKS cluster resource, not its node resource group
    (``ARM_RESOURCE_GROUP``)."""
    cluster_name: str
    """Name of the AKS managed cluster (``AZURE_CLUSTER_NAME``)."""
    location: str = ""
    """Azure region of the cluster, e.g. ``eastus`` (``LOCATION``); informational."""
    client_id: str | None = None
    """Client id of the user-assigned managed identity used through workload identity
    (``AZURE_CLIENT_ID``); None lets DefaultAzureCredential pick."""
    tenant_id: str | None = None
    """Tenant of that identity (``AZURE_TENANT_ID``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AzureSettings:
        """Read the settings from ``environ`` (default: the process environment).

        Raises :class:`InvalidRequest` naming every required variable that is unset.
        """
        env = os.environ if environ is None else environ
        missing = [var for var in _REQUIRED.values() if not env.get(var, "").strip()]
        if missing:
            raise InvalidRequest(
                "Azure provider settings incomplete: set " + ", ".join(missing),
            )
        return cls(
            subscription_id=env["ARM_SUBSCRIPTION_ID"].strip(),
            resource_group=env["ARM_RESOURCE_GROUP"].strip(),
            cluster_name=env["AZURE_CLUSTER_NAME"].strip(),
            location=env.get("LOCATION", "").strip(),
            client_id=env.get("AZURE_CLIENT_ID", "").strip() or None,
            tenant_id=env.get("AZURE_TENANT_ID", "").strip() or None,
        )

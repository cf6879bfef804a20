"""The ValidatingWebhookConfiguration that routes Workspace CREATE/UPDATE to kaito.

Upstream registers ``validation.workspace.kaito.sh`` at ``/validate/workspace.kaito.sh``
for both served versions (knative). ``manifests/webhook/`` holds the in-cluster form
(a Service in ``kaito-system``); tests and the local demo build one pointing at a
loopback URL with :func:`validating_webhook_configuration`. Request bodies arrive
in the version the client used (``matchPolicy: Equivalent``); both share one shape.
"""

from __future__ import annotations

import base64
from typing import Any

from kaito.api import constants as c

DEFAULT_SERVICE_NAME = "kaito-webhook"
DEFAULT_SERVICE_NAMESPACE = "kaito-system"
DEFAULT_SERVICE_PORT = 443


def validating_webhook_configuration(
    *,
    ca_bundle: bytes | str | None = None,
    url: str | None = None,
    service_name: str = DEFAULT_SERVICE_NAME,
    service_namespace: str = DEFAULT_SERVICE_NAMESPACE,
    service_port: int = DEFAULT_SERVICE_PORT,
    timeout_seconds: int = 10,
    namespace_selector: dict[str, Any] | None = None,
    name: str = c.WEBHOOK_NAME,
) -> dict[str, Any]:
    """The configuration object. ``url`` (``https://host:port``) replaces the Service;
    ``ca_bundle`` is the PEM of the CA that signed the webhook's serving certificate;
    ``namespace_selector`` limits it to some namespaces (tests sharing a cluster)."""
    client: dict[str, Any]
    if url is not None:
        client = {"url": url.rstrip("/") + c.WEBHOOK_PATH}
    else:
        client = {
            "service": {
                "name": service_name,
                "namespace": service_namespace,
                "path": c.WEBHOOK_PATH,
                "port": service_port,
            }
        }
    if ca_bundle is not None:
        pem = ca_bundle.encode() if isinstance(ca_bundle, str) else ca_bundle
        client["caBundle"] = base64.b64encode(pem).decode()
    webhook: dict[str, Any] = {
        "name": c.WEBHOOK_NAME,
        "admissionReviewVersions": ["v1"],
        "clientConfig": client,
        "rules": [
            {
                "apiGroups": [c.GROUP],
                "apiVersions": [c.V1ALPHA1, c.V1BETA1],
                "operations": ["CREATE", "UPDATE"],
                "resources": [c.WORKSPACE_PLURAL],
                "scope": "Namespaced",
            }
        ],
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "timeoutSeconds": timeout_seconds,
    }
    if namespace_selector is not None:
        webhook["namespaceSelector"] = namespace_selector
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [webhook],
    }

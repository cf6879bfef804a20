"""The webhook registration: manifest in sync with the helper, URL form for tests."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from kaito.api.webhook_config import validating_webhook_configuration

WEBHOOK_DIR = Path(__file__).parents[3] / "manifests" / "webhook"


def test_manifest_matches_helper() -> None:
    docs = list(
        yaml.safe_load_all((WEBHOOK_DIR / "validating-webhook-configuration.yaml").read_text())
    )
    assert docs == [validating_webhook_configuration()]
    (webhook,) = docs[0]["webhooks"]
    assert webhook["name"] == "validation.workspace.kaito.sh"
    assert webhook["rules"][0]["apiVersions"] == ["v1alpha1", "v1beta1"]
    assert webhook["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert webhook["clientConfig"]["service"]["path"] == "/validate/workspace.kaito.sh"
    service = yaml.safe_load((WEBHOOK_DIR / "service.yaml").read_text())
    assert service["metadata"]["name"] == webhook["clientConfig"]["service"]["name"]
    assert service["spec"]["ports"][0]["port"] == webhook["clientConfig"]["service"]["port"]
    kustomization = yaml.safe_load((WEBHOOK_DIR / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [
        "certificate-secret.yaml",  # shipped empty, filled by the first manager replica
        "service.yaml",
        "validating-webhook-configuration.yaml",
    ]


def test_url_form_with_ca_and_selector() -> None:
    cfg = validating_webhook_configuration(
        url="https://127.0.0.1:9443/",
        ca_bundle="-----BEGIN CERTIFICATE-----\n",
        namespace_selector={"matchLabels": {"t": "1"}},
        name="test-hook",
    )
    (webhook,) = cfg["webhooks"]
    assert cfg["metadata"]["name"] == "test-hook"
    assert webhook["clientConfig"]["url"] == "https://127.0.0.1:9443/validate/workspace.kaito.sh"
    assert "service" not in webhook["clientConfig"]
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == b"-----BEGIN CERTIFICATE-----\n"
    assert webhook["namespaceSelector"] == {"matchLabels": {"t": "1"}}

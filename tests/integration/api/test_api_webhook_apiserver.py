"""review() behind a real API server: kubectl prints our denials and warnings.

A small HTTPS server on loopback stands in for the manager's webhook server (which
lives in kaito.runtime); it only decodes the AdmissionReview and calls
``kaito.api.validation.review``. The registration is limited by a namespaceSelector
to this test's namespace, so other tests sharing the control plane are unaffected.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from kaito.api.validation import review
from kaito.api.webhook_config import validating_webhook_configuration
from kaito.testenv import ControlPlane, certs
from kaito.testenv.controlplane import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "manifests" / "samples"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        out = json.dumps(review(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook(
    control_plane: ControlPlane, crds: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Serve review() over TLS, register it for one labelled namespace; yield that label."""
    pki = tmp_path_factory.mktemp("webhook-pki")
    ca = certs.make_ca(pki, "kaito-api-test-webhook-ca")
    serving = certs.issue(
        ca, pki, "serving", common_name="127.0.0.1", hosts=("127.0.0.1",), server=True
    )
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(serving.cert, serving.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    label = f"kaito-api-webhook-{uuid.uuid4().hex[:8]}"
    name = f"{label}.kaito.sh"
    cfg = validating_webhook_configuration(
        url=f"https://127.0.0.1:{port}",
        ca_bundle=ca.cert.read_bytes(),
        namespace_selector={"matchLabels": {label: "true"}},
        name=name,
    )
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(cfg))
    try:
        yield label
    finally:
        control_plane.kubectl("delete", "validatingwebhookconfiguration", name, check=False)
        server.shutdown()
        server.server_close()


@pytest.fixture
def guarded(control_plane: ControlPlane, namespace: str, webhook: str) -> str:
    control_plane.kubectl("label", "namespace", namespace, f"{webhook}=true")
    # Wait until the webhook is in force (configuration changes reach the API server's
    # admission plugin asynchronously): a probe object that only the webhook rejects.
    probe = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "probe"},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"a": "b"}},
        },
        "inference": {"preset": {"name": "no-such-preset-probe"}},
    }

    def rejected() -> bool:
        proc = control_plane.kubectl(
            "create",
            "--dry-run=server",
            "-n",
            namespace,
            "-f",
            "-",
            input=yaml.safe_dump(probe),
            check=False,
        )
        return proc.returncode != 0 and "no-such-preset-probe" in proc.stderr

    wait_until(rejected, timeout=30, what="webhook in force")
    return namespace


def _apply(plane: ControlPlane, namespace: str, text: str) -> tuple[int, str]:
    proc = plane.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_sample_accepted(control_plane: ControlPlane, guarded: str, path: Path) -> None:
    code, out = _apply(control_plane, guarded, path.read_text())
    assert code == 0, out
    if "tuning" in path.name:
        # kubectl prints admission warnings on stderr as "Warning: ..."
        assert "Warning: Tuning preset phi-3-mini" in out


def test_too_small_instance_type_rejected(control_plane: ControlPlane, guarded: str) -> None:
    text = (
        (EXAMPLES / "workspace-phi-3-mini.yaml")
        .read_text()
        .replace("Standard_NC6s_v3", "Standard_NC6")
    )
    code, out = _apply(control_plane, guarded, text)
    assert code != 0
    assert (
        'admission webhook "validation.workspace.kaito.sh" denied the request: validation failed:'
        in out
    )
    assert "Instance type Standard_NC6 has NVIDIA K80 GPUs" in out
    text = text.replace("phi-3-mini-4k-instruct", "falcon-7b")
    code, out = _apply(control_plane, guarded, text)
    assert code != 0
    assert (
        "Insufficient total GPU memory: Instance type Standard_NC6 has a total of 12Gi, "
        "but preset falcon-7b requires at least 14Gi" in out
    )


def test_unknown_preset_rejected(control_plane: ControlPlane, guarded: str) -> None:
    text = (
        (EXAMPLES / "workspace-phi-3-mini.yaml")
        .read_text()
        .replace("phi-3-mini-4k-instruct", "phi-9-mega")
    )
    code, out = _apply(control_plane, guarded, text)
    assert code != 0
    assert "Unsupported inference preset name phi-9-mega" in out


def test_instance_type_change_rejected(control_plane: ControlPlane, guarded: str) -> None:
    text = (EXAMPLES / "workspace-phi-3-mini.yaml").read_text()
    assert _apply(control_plane, guarded, text)[0] == 0
    code, out = _apply(
        control_plane, guarded, text.replace("Standard_NC6s_v3", "Standard_NC12s_v3")
    )
    assert code != 0
    assert (
        "instanceType cannot be changed once set when node auto-provisioning is enabled: "
        "resource.instanceType" in out
    )
    # Annotations may change, and the object can still be deleted.
    control_plane.kubectl("annotate", "workspace", "workspace-phi-3-mini", "-n", guarded, "team=ml")
    control_plane.kubectl("delete", "workspace", "workspace-phi-3-mini", "-n", guarded)

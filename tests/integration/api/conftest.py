"""kaito's CRDs installed (from manifests/crd, as a user would) on the shared control plane,
and ``review()`` served as the admission webhook for ``guarded`` namespaces.

A small HTTPS server on loopback stands in for the manager's webhook server (which
lives in kaito.runtime); it only decodes the AdmissionReview and calls
``kaito.api.validation.review``. The registration is limited by a namespaceSelector
to the test's namespace, so other tests sharing the control plane are unaffected.
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
from kaito.presets import default_catalog
from kaito.testenv import ControlPlane, certs
from kaito.testenv.controlplane import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
CATALOG = default_catalog()
"""What the rules are run with: the manager's catalog and default cloud."""
CLOUD = "azure"


def install_crds(plane: ControlPlane) -> None:
    """Apply manifests/crd and wait until both CRDs are Established."""
    plane.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "crd"))

    def established() -> bool:
        for crd in ("workspaces.kaito.sh", "nodeclaims.karpenter.sh"):
            proc = plane.kubectl(
                "get",
                "crd",
                crd,
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Established")].status}',
                check=False,
            )
            if proc.stdout.strip() != "True":
                return False
        return True

    wait_until(established, timeout=60, what="CRDs established")


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> ControlPlane:
    install_crds(control_plane)
    return control_plane


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        # the local install's contract (upstream's own adapter sample needs transformers)
        decided = review(json.loads(body), catalog=CATALOG, cloud=CLOUD, runtime_contract="kaito")
        out = json.dumps(decided).encode()
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

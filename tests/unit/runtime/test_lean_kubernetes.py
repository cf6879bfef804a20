"""kaito's client leaves kubernetes-asyncio's generated models unloaded, and they still load on
demand (each case in a fresh interpreter: the shells only apply before the first import)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def run(code: str, tmp_path: Path) -> str:
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_client_from_a_kubeconfig_loads_no_generated_model(tmp_path: Path) -> None:
    out = run(
        """
        import asyncio, sys
        from kaito.runtime import Client

        async def main():
            client = await Client.from_kubeconfig("kubeconfig")
            print(client.server)
            await client.close()

        asyncio.run(main())
        generated = [m for m in sys.modules if m.startswith(("kubernetes_asyncio.client.models.",
                                                             "kubernetes_asyncio.client.api."))]
        print(len(generated))
        """,
        tmp_path,
    )
    assert out.splitlines() == ["https://127.0.0.1:1", "0"]


def test_the_whole_generated_client_still_loads_on_first_use(tmp_path: Path) -> None:
    out = run(
        """
        import kaito.runtime.transport
        import kubernetes_asyncio
        from kubernetes_asyncio.client import CoreV1Api, V1Pod
        from kubernetes_asyncio.client.models import V1Node
        print(kubernetes_asyncio.__version__ != "", CoreV1Api.__name__, V1Pod.__name__,
              V1Node.__name__, kubernetes_asyncio.client.ApiClient.__name__)
        """,
        tmp_path,
    )
    assert out == "True CoreV1Api V1Pod V1Node ApiClient"


def test_an_earlier_import_of_kubernetes_asyncio_is_left_alone(tmp_path: Path) -> None:
    out = run(
        """
        import kubernetes_asyncio.client
        import kaito.runtime.client
        client = kubernetes_asyncio.client
        print(hasattr(client, "V1Pod"), "__getattr__" in vars(client))
        """,
        tmp_path,
    )
    assert out == "True False"

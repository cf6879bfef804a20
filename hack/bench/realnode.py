"""Benchmark: a SmolLM2 Workspace on a real local node, from ``kubectl apply`` to the first
``/chat`` answer, and ``/chat`` speed through the Service against the same server run directly.

On a fresh control plane (``kaito.testenv.ControlPlane`` in a temporary directory) the script
starts ``kaito provisioner --provider=local`` and ``kaito manager`` with the images and
weights ``make run`` uses (``hack/images/build.sh``, ``hack/models/smollm2.py --publish``),
applies ``manifests/samples/workspace-smollm2-135m-instruct.yaml`` and reports:

* time to the first answer, split into node boot (NodeClaim created -> Node Ready), image
  pulls (the kubelet's ``Pulled`` events), the weights download (the init container's run)
  and the model load (main container started -> Ready);
* the node's resident memory: containerd, kubelet, kube-proxy (and the pod shims);
* tokens per second of greedy ``/v1/completions`` through the ClusterIP against a
  ``kaito-inference`` process started on the host with the same weights (ratio), both
  loaded at once and asked in turn (one request at a time), so load on the machine weighs
  on both alike.

``--cold-images`` gives the node an empty image store, so the image pulls are measured as on
a new machine; by default the store in ``~/.cache/kaito/node-images`` is reused (warm).
Needs root. Never part of the test run.

    .venv/bin/python hack/bench/realnode.py [--cold-images] [--requests 5] [--tokens 64]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workspaces import KaitoProcess

from kaito.testenv import ControlPlane
from kaito.testenv.controlplane import free_port

REPO = Path(__file__).resolve().parents[2]
NAME = "workspace-smollm2-135m-instruct"
REGISTRY = "10.245.0.1:5000"
PULLED = re.compile(r'Successfully pulled image "([^"]+)" in ((?:[0-9.]+(?:h|ms|m|s))+)')
GO_DURATION = re.compile(r"([0-9.]+)(h|ms|m|s)")
UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: str) -> float:
    """Seconds in a Go duration such as ``2m0.247s`` or ``850ms``."""
    return sum(float(n) * UNIT_SECONDS[unit] for n, unit in GO_DURATION.findall(text))


def run(*argv: str) -> str:
    return subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True).stdout


def ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(plane: ControlPlane, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plane.kubectl("get", *args, "-o", "json").stdout)
    return data


def condition_time(obj: dict[str, Any], kind: str) -> float | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind and cond["status"] == "True":
            return ts(cond["lastTransitionTime"])
    return None


def completions(url: str, tokens: int) -> tuple[int, float]:
    body = {
        "model": "smollm2-135m-instruct",
        "prompt": "Kubernetes is",
        "max_tokens": tokens,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{url}/v1/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=600) as resp:
        answer = json.load(resp)
    return int(answer["usage"]["completion_tokens"]), time.monotonic() - start


def speeds(urls: list[str], requests: int, tokens: int) -> list[float]:
    """Tokens/s of each server, requests alternating between them (A B A B ...) so that a
    busy moment of the machine weighs on both alike."""
    for url in urls:
        completions(url, 4)  # warm-up
    made, spent = [0] * len(urls), [0.0] * len(urls)
    for _ in range(requests):
        for i, url in enumerate(urls):
            n, seconds = completions(url, tokens)
            made[i], spent[i] = made[i] + n, spent[i] + seconds
    return [m / s for m, s in zip(made, spent, strict=True)]


def wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {timeout}s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # run the finally blocks: stop every process started here


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-images", action="store_true")
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    node_bin = run("bash", "hack/node/build.sh").splitlines()[-1]
    run("bash", "hack/images/build.sh")
    env_path = run("bash", "hack/images/build.sh", "--env-file").splitlines()[-1]
    images = dict(
        line.split("=", 1) for line in Path(env_path).read_text().splitlines() if "=" in line
    )
    model_dir = run(
        sys.executable, "hack/models/smollm2.py", "--publish", f"{REGISTRY}/kaito", "--plain-http"
    ).splitlines()[0]

    with tempfile.TemporaryDirectory(prefix="kaito-bench-realnode-") as tmp:
        work = Path(tmp)
        cache = work / "images" if args.cold_images else Path.home() / ".cache/kaito/node-images"
        plane = ControlPlane(workdir=work / "plane")
        plane.start()
        procs: list[KaitoProcess] = []
        direct: subprocess.Popen[bytes] | None = None
        try:
            plane.kubectl("apply", "--server-side", "-k", str(REPO / "manifests/crd"))
            plane.kubectl(
                "wait",
                "--for=condition=Established",
                "crd/workspaces.kaito.sh",
                "crd/nodeclaims.karpenter.sh",
                "--timeout=60s",
            )
            state = Path(tempfile.mkdtemp(prefix="kb-", dir="/tmp"))  # short: unix sockets
            procs.append(
                KaitoProcess(
                    "provisioner",
                    [
                        "provisioner",
                        f"--kubeconfig={plane.kubeconfig}",
                        "--provider=local",
                        f"--local-bin-dir={node_bin}",
                        f"--local-state-dir={state}",
                        f"--local-image-cache={cache}",
                        f"--sandbox-image={images['KAITO_PAUSE_IMAGE']}",
                        f"--insecure-registry={REGISTRY}",
                    ],
                    work,
                )
            )
            procs.append(
                KaitoProcess(
                    "manager",
                    [
                        "manager",
                        f"--kubeconfig={plane.kubeconfig}",
                        "--disable-webhook",
                        "--runtime-contract=kaito",
                        f"--inference-image={images['KAITO_INFERENCE_IMAGE']}",
                        f"--weights-puller-image={images['KAITO_PULLER_IMAGE']}",
                        f"--puller-image={images['KAITO_PULLER_IMAGE']}",
                        f"--preset-registry={REGISTRY}/kaito",
                        f"--insecure-registries={REGISTRY}",
                    ],
                    work,
                )
            )
            for proc in procs:
                proc.wait_ready()

            applied = time.time()
            plane.kubectl("apply", "-f", str(REPO / f"manifests/samples/{NAME}.yaml"))
            plane.kubectl(
                "wait",
                "--for=condition=WorkspaceReady",
                f"workspace/{NAME}",
                "--timeout=1200s",
                timeout=1300,
            )
            svc = get(plane, "svc", NAME)
            url = f"http://{svc['spec']['clusterIP']}"
            wait_healthy(url, 60)
            body = json.dumps({"prompt": "What is Kubernetes?"}).encode()
            request = urllib.request.Request(
                f"{url}/chat", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=600) as resp:
                resp.read()
            answered = time.time()

            claim = get(plane, "nodeclaims")["items"][0]
            node = get(plane, "node", claim["status"]["nodeName"])
            pod = get(plane, "pods", "-l", f"kaito.sh/workspace={NAME}")["items"][0]
            events = get(
                plane,
                "events",
                "--field-selector",
                f"involvedObject.name={pod['metadata']['name']}",
            )["items"]
            pulls = {}
            for event in events:
                if event.get("reason") == "Pulled" and (m := PULLED.search(event["message"])):
                    pulls[m.group(1).rsplit("/", 1)[-1]] = go_duration(m.group(2))
            init = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
            main_started = ts(
                pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
            )
            ready = condition_time(pod, "Ready") or answered
            node_ready = condition_time(node, "Ready") or 0.0

            layout = state / node["metadata"]["name"] / "run"
            rss = {p.stem: rss_mib(int(p.read_text())) for p in layout.glob("*.pid")}

            port = free_port()
            direct = subprocess.Popen(
                [
                    str(REPO / ".venv/bin/kaito-inference"),
                    f"--model={model_dir}",
                    "--served-model-name=smollm2-135m-instruct",
                    "--device=cpu",
                    "--dtype=float32",
                    "--host=127.0.0.1",
                    f"--port={port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_healthy(f"http://127.0.0.1:{port}", 300)
            through_service, direct_speed = speeds(
                [url, f"http://127.0.0.1:{port}"], args.requests, args.tokens
            )
        finally:
            if direct is not None:
                direct.terminate()
                direct.wait()
            plane.kubectl(
                "delete", "workspace", "--all", "--timeout=180s", check=False, timeout=200
            )
            for proc in reversed(procs):
                proc.stop()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "kaito.cli",
                    "local-nodes",
                    "down",
                    f"--local-state-dir={state}",
                    f"--local-bin-dir={node_bin}",
                    f"--local-image-cache={cache}",
                ],
                cwd=REPO,
                check=False,
            )
            plane.stop()

    created = ts(claim["metadata"]["creationTimestamp"])
    print(f"images: {'cold (empty image store)' if args.cold_images else 'warm (cached store)'}")
    print(f"apply -> first /chat answer   {answered - applied:7.1f} s")
    print(f"  NodeClaim -> Node Ready     {node_ready - created:7.1f} s")
    for image, seconds in sorted(pulls.items()):
        print(f"  pull {image:<40} {seconds:7.1f} s")
    print(f"  weights download (init)     {ts(init['finishedAt']) - ts(init['startedAt']):7.1f} s")
    print(f"  model load (start -> Ready) {ready - main_started:7.1f} s")
    print(
        "node RSS (MiB): "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rss.items()))
        + f"; total {sum(rss.values()):.0f}"
    )
    print(
        f"/v1/completions tokens/s: service {through_service:.2f}, direct {direct_speed:.2f}, "
        f"ratio {through_service / direct_speed:.2f} ({args.requests} x {args.tokens} tokens, "
        "greedy, alternating)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: random Workspaces through the admission webhook on a real API server.

Two parts:

* **pure**: ``kaito.api.validation.review`` on many random AdmissionReviews (CREATE and
  UPDATE of random Workspaces, and random JSON), drawn with the hypothesis strategies of
  ``tests/unit/api/api_strategies.py``. Counted: allowed, refused, exceptions (must be 0),
  the longest denial message, and reviews per second.
* **server**: a local control plane (``kaito.testenv.ControlPlane``; or ``--attach DIR``
  for one started with ``kaito testenv up --dir DIR``) with kaito's CRDs from
  ``manifests/crd`` and ``review()`` served over TLS as the validating webhook (the way
  ``tests/integration/api/conftest.py`` does it), registered for one namespace only.
  Each random Workspace is sent as a server-side dry run (``POST ...?dryRun=All``, to the
  path of its own apiVersion); a share of them as dry-run UPDATEs of a stored Workspace
  (``PUT``, so the webhook sees an ``oldObject``). Counted: accepted, refused by the
  webhook, refused by the CRD schema (422) or otherwise by the API server (4xx), and
  webhook errors or 5xx (must be 0), with elapsed time and requests per second.

Exits 1 when any exception, webhook error or 5xx was seen. Never part of the test run.

    .venv/bin/python hack/bench/fuzz_webhook.py                # 500 dry runs, 20000 pure
    .venv/bin/python hack/bench/fuzz_webhook.py --n 2000 --pure 100000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import json
import random
import ssl
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kaito.api import constants as c  # noqa: E402
from kaito.api.validation import review  # noqa: E402
from kaito.api.webhook_config import validating_webhook_configuration  # noqa: E402
from kaito.presets import default_catalog  # noqa: E402
from kaito.runtime.client import Client, ClientConfig  # noqa: E402
from kaito.runtime.errors import ApiError, TransportError  # noqa: E402
from kaito.runtime.resources import ResourceType  # noqa: E402
from kaito.testenv import ControlPlane, certs  # noqa: E402
from kaito.testenv.controlplane import free_port  # noqa: E402
from tests.unit.api import api_strategies as strat  # noqa: E402

NAMESPACE = "fuzz-webhook"
BASE_NAME = "fuzz-base"
WEBHOOK_CONFIG = "kaito-fuzz-webhook.kaito.sh"
SAMPLE = REPO / "manifests" / "samples" / "workspace-phi-3-mini.yaml"
CATALOG = default_catalog()
"""The rules run with the manager's catalog and its default cloud."""
CLOUD = "azure"

SAMPLES = [
    yaml.safe_load(p.read_text()) for p in sorted((REPO / "manifests/samples").glob("*.yaml"))
]
EDITS: dict[str, st.SearchStrategy[Any]] = {
    "resource.count": st.one_of(st.integers(-2, 40), st.integers(-(2**63), 2**63 - 1)),
    "resource.instanceType": strat.skus,
    "resource.labelSelector": strat.label_selectors,
    "metadata.name": st.sampled_from(["ws", "phi-3", "Bad_Name", "a" * 64, "x\n"]),
    "metadata.annotations": st.dictionaries(
        st.sampled_from(
            [
                c.ANNOTATION_RUNTIME,
                c.ANNOTATION_BYPASS_RESOURCE_CHECKS,
                c.ANNOTATION_PERFORMANCE_MODE,
            ]
        ),
        st.one_of(st.sampled_from(["vllm", "transformers", "", "balanced"]), strat.text),
        max_size=2,
    ),
    "inference.preset.name": strat.names,
    "inference.adapters": st.lists(
        strat.obj({}, {"source": strat.data_sources, "strength": strat.strengths}), max_size=12
    ),
    "inference.template": strat.pod_templates,
    "tuning.input": strat.data_sources,
}


def _edited(sample: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(sample)
    *parents, last = path.split(".")
    if parents[0] not in data and parents[0] in ("inference", "tuning"):
        return data  # an inference edit on a tuning sample, or the reverse: left as it is
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    if path == "inference.template":
        data["inference"].pop("preset", None)
    return data


near_valid = st.one_of(
    st.sampled_from(SAMPLES),
    st.builds(
        _edited,
        st.sampled_from(SAMPLES),
        st.sampled_from(sorted(EDITS)),
        st.one_of(*EDITS.values()),
    ),
    st.sampled_from(sorted(EDITS)).flatmap(
        lambda path: st.builds(_edited, st.sampled_from(SAMPLES), st.just(path), EDITS[path])
    ),
)
"""A sample from manifests/samples with (mostly) one field replaced by a random value."""
workspace_bodies = st.one_of(strat.workspaces, near_valid)
"""Half entirely random Workspaces, half near-valid ones, so both verdicts are exercised."""

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {
        "uid": st.just("fuzz"),
        "kind": st.just({"group": c.GROUP, "version": c.V1BETA1, "kind": c.WORKSPACE_KIND}),
        "operation": st.sampled_from(["CREATE", "UPDATE", "DELETE"]),
        "object": st.one_of(workspace_bodies, workspace_bodies, json_values),
        "oldObject": st.one_of(near_valid, strat.workspaces, json_values),
    }
)


def draw(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
    """``n`` examples of ``strategy`` (hypothesis drives generation; no shrinking)."""
    out: list[Any] = []

    @seeded(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        collect()
    return out


# -- part 1: review() alone ------------------------------------------------------------------
def pure(n: int, seed: int) -> int:
    t0 = time.monotonic()
    inputs = draw(requests, n, seed)
    generated = time.monotonic() - t0
    counts: collections.Counter[str] = collections.Counter()
    longest = 0
    first_exception = ""
    t0 = time.monotonic()
    for request in inputs:
        try:
            response = review({"request": request}, catalog=CATALOG, cloud=CLOUD)["response"]
        except Exception:  # the point: count anything that escapes
            counts["exception"] += 1
            first_exception = first_exception or traceback.format_exc()
            continue
        if response["allowed"]:
            counts["allowed"] += 1
        else:
            counts["refused"] += 1
            longest = max(longest, len(response["status"]["message"].encode()))
    elapsed = time.monotonic() - t0
    print(
        f"pure review(): {len(inputs)} requests (generated in {generated:.1f} s), "
        f"allowed {counts['allowed']}, refused {counts['refused']}, "
        f"exceptions {counts['exception']}; longest denial {longest} bytes; "
        f"{elapsed:.2f} s ({len(inputs) / max(elapsed, 1e-9):.0f} reviews/s)"
    )
    if first_exception:
        print(first_exception, file=sys.stderr)
    return counts["exception"]


# -- part 2: through the API server ----------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    failures: collections.Counter[str] = collections.Counter()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            out = json.dumps(review(json.loads(body), catalog=CATALOG, cloud=CLOUD)).encode()
        except Exception:
            _Handler.failures[traceback.format_exc().splitlines()[-1]] += 1
            self.send_response(500)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_webhook(plane: ControlPlane, workdir: Path) -> Callable[[], None]:
    """review() over TLS on loopback, registered for :data:`NAMESPACE`; returns the stopper."""
    pki = workdir / "webhook-pki"
    pki.mkdir(parents=True, exist_ok=True)
    ca = certs.make_ca(pki, "kaito-fuzz-webhook-ca")
    serving = certs.issue(
        ca, pki, "serving", common_name="127.0.0.1", hosts=("127.0.0.1",), server=True
    )
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(serving.cert, serving.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    label = f"kaito-fuzz-{uuid.uuid4().hex[:8]}"
    cfg = validating_webhook_configuration(
        url=f"https://127.0.0.1:{port}",
        ca_bundle=ca.cert.read_bytes(),
        namespace_selector={"matchLabels": {label: "true"}},
        name=WEBHOOK_CONFIG,
    )
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(cfg))
    plane.kubectl("create", "namespace", NAMESPACE, check=False)
    plane.kubectl("label", "--overwrite", "namespace", NAMESPACE, f"{label}=true")

    def stop() -> None:
        plane.kubectl("delete", "validatingwebhookconfiguration", WEBHOOK_CONFIG, check=False)
        plane.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        server.shutdown()
        server.server_close()

    return stop


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def install(plane: ControlPlane) -> None:
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "manifests/crd"))

    def established() -> bool:
        proc = plane.kubectl(
            "get",
            "crd",
            "workspaces.kaito.sh",
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Established")].status}',
            check=False,
        )
        return proc.stdout.strip() == "True"

    wait_until(established, 60, "the Workspace CRD")


def in_force(plane: ControlPlane) -> bool:
    probe = yaml.safe_load(SAMPLE.read_text())
    probe["metadata"]["name"] = "probe"
    probe["inference"]["preset"]["name"] = "no-such-preset-probe"
    proc = plane.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        NAMESPACE,
        "-f",
        "-",
        input=json.dumps(probe),
        check=False,
    )
    return proc.returncode != 0 and "no-such-preset-probe" in proc.stderr


def _resource_type(obj: dict[str, Any]) -> ResourceType:
    version = str(obj.get("apiVersion", "")).rpartition("/")[2] or c.V1BETA1
    if version not in (c.V1ALPHA1, c.V1BETA1):
        version = c.V1BETA1
    return ResourceType(c.GROUP, version, c.WORKSPACE_KIND, c.WORKSPACE_PLURAL)


def classify(exc: BaseException | None) -> str:
    if exc is None:
        return "accepted"
    if isinstance(exc, TransportError):
        return "transport error"
    if isinstance(exc, ApiError):
        if "failed calling webhook" in exc.message or exc.code >= 500:
            return "webhook error / 5xx"
        if "denied the request" in exc.message and c.WEBHOOK_NAME in exc.message:
            return "refused by webhook"
        if exc.code == 422:
            return "refused by schema (422)"
        return f"refused by API server ({exc.code})"
    return "exception"


async def through_server(
    plane: ControlPlane, n: int, seed: int, concurrency: int, update_share: float
) -> int:
    objects = draw(workspace_bodies, n, seed + 1)
    client = await Client.from_kubeconfig(plane.kubeconfig, config=ClientConfig(qps=0))
    base = yaml.safe_load(SAMPLE.read_text())
    base["metadata"] = {"name": BASE_NAME, "namespace": NAMESPACE}
    stored = await client.create(_resource_type(base), base, NAMESPACE)
    rng = random.Random(seed)
    counts: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    longest = 0
    gate = asyncio.Semaphore(concurrency)

    async def send(obj: dict[str, Any]) -> None:
        nonlocal longest
        rt = _resource_type(obj)
        body = {**obj, "metadata": {**obj.get("metadata", {}), "namespace": NAMESPACE}}
        update = rng.random() < update_share
        if update:
            body["metadata"]["name"] = BASE_NAME
            body["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
            method, path = "PUT", rt.path(NAMESPACE, BASE_NAME)
        else:
            method, path = "POST", rt.path(NAMESPACE)
        error: BaseException | None = None
        async with gate:
            try:
                await client.request(method, path, query=[("dryRun", "All")], body=body)
            except (ApiError, TransportError) as exc:
                error = exc
        kind = classify(error)
        counts[("update " if update else "create ") + kind] += 1
        if isinstance(error, ApiError) and kind == "refused by webhook":
            longest = max(longest, len(error.message.encode()))
        if kind not in examples and error is not None:
            examples[kind] = str(error)[:300]

    t0 = time.monotonic()
    try:
        await asyncio.gather(*(send(o) for o in objects))
    finally:
        elapsed = time.monotonic() - t0
        await client.close()
    total = sum(counts.values())
    print(
        f"through the API server: {total} dry runs in {elapsed:.1f} s "
        f"({total / max(elapsed, 1e-9):.0f}/s, concurrency {concurrency})"
    )
    for key in sorted(counts):
        print(f"  {key:40s} {counts[key]}")
    accepted = sum(v for k, v in counts.items() if k.endswith(" accepted"))
    webhook = sum(v for k, v in counts.items() if k.endswith("refused by webhook"))
    errors = sum(
        v
        for k, v in counts.items()
        if k.endswith(("webhook error / 5xx", "transport error", " exception"))
    )
    print(
        f"  accepted {accepted} / refused {total - accepted - errors} (webhook {webhook}) / "
        f"webhook errors or 5xx {errors}; longest webhook denial {longest} bytes"
    )
    if _Handler.failures:
        print(f"  review() raised in the webhook: {dict(_Handler.failures)}")
    for kind, text in sorted(examples.items()):
        print(f"  e.g. {kind}: {text}")
    return errors + sum(_Handler.failures.values())


def run_server(args: argparse.Namespace) -> int:
    workdir = Path(args.attach) if args.attach else Path(tempfile.mkdtemp(prefix="kaito-fuzz-"))
    plane: ControlPlane
    if args.attach:
        plane = ControlPlane.load(workdir)
    else:
        plane = ControlPlane(workdir=workdir / "controlplane")
        t0 = time.monotonic()
        plane.start()
        print(f"control plane started in {time.monotonic() - t0:.1f} s ({workdir})")
    try:
        install(plane)
        stop = serve_webhook(plane, workdir)
        try:
            wait_until(lambda: in_force(plane), 30, "the webhook in force")
            return asyncio.run(
                through_server(plane, args.n, args.seed, args.concurrency, args.update_share)
            )
        finally:
            stop()
    finally:
        if not args.attach:
            plane.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="dry runs through the API server")
    parser.add_argument("--pure", type=int, default=20000, help="review() calls without a server")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--update-share", type=float, default=0.25, help="share sent as UPDATEs")
    parser.add_argument("--attach", help="use the control plane of `kaito testenv up --dir DIR`")
    parser.add_argument("--skip-server", action="store_true", help="only the pure part")
    args = parser.parse_args(argv)
    bad = pure(args.pure, args.seed)
    if not args.skip_server and args.n > 0:
        bad += run_server(args)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

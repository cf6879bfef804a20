"""Benchmark: N phi-3 Workspaces applied at once, until every one is ready (WorkspaceSucceeded).

Two phases, each on its own fresh local control plane (``kaito.testenv.ControlPlane``:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok), so both start from
the same empty cluster:

* **baseline**: no operator. Per workspace the script creates directly what kaito would
  end up with: one NodeClaim and one kwok Node (the manifest the kwok provider makes,
  labelled ``accelerator=nvidia`` as the manager would), the inference ConfigMap, the two
  Services and the workload (rendered by ``kaito.controllers.desired``, ownerReferences
  dropped since no Workspace exists), then waits until every workload is ready (a
  Deployment Available, a StatefulSet's replicas ready).
  That is the cost of the cluster doing the same work (scheduling, kwok pods, deployment
  controller) with zero operator logic: 6 writes per workspace.
* **operator**: ``kaito provisioner --provider=kwok --boot-delay=0`` and
  ``kaito manager --disable-webhook`` run as subprocesses; the script creates N v1alpha1
  Workspaces (distinct names and ``labelSelector`` values) and polls with one list call
  until every Workspace has ``WorkspaceSucceeded=True``. The admission webhook is off so
  admission latency is not part of what is measured.

Reported: time to all ready (and the operator/baseline ratio), API writes per workspace
(``rest_client_requests_total`` of manager and provisioner, POST/PUT/PATCH/DELETE),
reconciles (and writes) in the ``--idle`` seconds after everything is ready (0 is the
target: a settled Workspace needs no work), reconciles per workspace, reconcile p50/p99
(interpolated from ``controller_runtime_reconcile_time_seconds`` buckets the way
``histogram_quantile`` does), the manager's peak RSS (VmHWM) and CPU seconds, and the CPU
each component burnt, so a saturated component is visible. Every process started here is
stopped on exit, Ctrl-C included. Never part of the test run.

    .venv/bin/python hack/bench/workspaces.py --n 100
    .venv/bin/python hack/bench/workspaces.py --n 1000 [--qps 30] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import audit
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kaito import kinds
from kaito.api import constants as c
from kaito.api.wire import workspace_from_dict
from kaito.controllers import desired, nodeclaims
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog, get_sku
from kaito.provisioner.cloud.kwok import node_manifest
from kaito.provisioner.nodeclaim import instance_request
from kaito.runtime import resources as r
from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.resources import ResourceType
from kaito.testenv import ControlPlane
from kaito.testenv.controlplane import SERVICE_CIDR, free_port

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "manifests" / "samples" / "workspace-phi-3-mini.yaml"
NAMESPACE = "bench"
WORKSPACE_V1ALPHA1 = ResourceType(c.GROUP, "v1alpha1", c.WORKSPACE_KIND, c.WORKSPACE_PLURAL)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CREATE_CONCURRENCY = 64
CLK_TCK = os.sysconf("SC_CLK_TCK")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# -- processes and /proc ----------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat


def proc_status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class OperatorProcess:
    """A component under test, as a child in its own session (Ctrl-C reaches only us), with
    loopback metrics and health ports of its own."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=REPO,
                start_new_session=True,
            )

    metrics_port: int
    health_port: int

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.proc.returncode}; see {self.log_path}"
                )
            for probe in ("readyz", "healthz"):
                try:
                    url = f"http://127.0.0.1:{self.health_port}/{probe}"
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def metrics(self) -> Samples:
        """Its Prometheus samples; empty when it serves none."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class KaitoProcess(OperatorProcess):
    """``kaito <command>``, optionally under cProfile (its file is written on SIGTERM)."""

    def __init__(
        self, name: str, args: list[str], log_dir: Path, profile: Path | None = None
    ) -> None:
        self.metrics_port, self.health_port = free_port(), free_port()
        python = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
        argv = [
            *python,
            "-m",
            "kaito.cli",
            *args,
            f"--metrics-bind-address=127.0.0.1:{self.metrics_port}",
            f"--health-probe-bind-address=127.0.0.1:{self.health_port}",
        ]
        super().__init__(name, argv, log_dir)


class CommandProcess(OperatorProcess):
    """Another operator, from a shell command with ``{kubeconfig}``, ``{metrics_port}`` and
    ``{health_port}`` filled in; ``exec`` keeps its pid the one whose RSS and CPU count."""

    def __init__(self, name: str, command: str, kubeconfig: Path, log_dir: Path) -> None:
        self.metrics_port, self.health_port = free_port(), free_port()
        line = command.format(
            kubeconfig=kubeconfig, metrics_port=self.metrics_port, health_port=self.health_port
        )
        super().__init__(name, ["bash", "-c", f"exec {line}"], log_dir)


# -- metrics arithmetic ---------------------------------------------------------------------
def delta(after: Samples, before: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def total(samples: Samples, name: str, **match: str | tuple[str, ...]) -> float:
    out = 0.0
    for (sample, labels), value in samples.items():
        if sample != name:
            continue
        d = dict(labels)
        if all(d.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in match.items()):
            out += value
    return out


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus ``bucketQuantile``: linear interpolation inside the bucket holding rank."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return float("nan")
    rank = q * ordered[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if le == float("inf"):
                return prev_le  # the highest finite bound, as Prometheus does
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def reconcile_quantiles(
    samples: Samples, controller: str, histogram: str = "controller_runtime_reconcile_time_seconds"
) -> tuple[float, float, float]:
    buckets = [
        (float(dict(labels)["le"]), value)
        for (name, labels), value in samples.items()
        if name == f"{histogram}_bucket" and dict(labels).get("controller") == controller
    ]
    count = total(samples, f"{histogram}_count", controller=controller)
    return histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets), count


# -- manifests ------------------------------------------------------------------------------
INSTANCE_TYPE: str | None = None
"""``--instance-type``: replaces the sample's (one both compared operators know)."""


def workspace_manifests(n: int) -> list[dict[str, Any]]:
    sample = yaml.safe_load(SAMPLE.read_text())
    if INSTANCE_TYPE:
        sample["resource"]["instanceType"] = INSTANCE_TYPE
    out = []
    for i in range(n):
        ws = copy.deepcopy(sample)
        # kwok pods have no logs, and upstream v0.12 reads its post-load benchmark from the
        # vLLM pod's log before it calls a Workspace ready (for ever BenchmarkFailed here):
        # both operators are asked to skip it, as on any cluster without real model pods
        ws["metadata"] = {
            "name": f"phi3-{i:04d}",
            "namespace": NAMESPACE,
            "annotations": {c.ANNOTATION_DISABLE_BENCHMARK: "true"},
        }
        ws["resource"]["labelSelector"]["matchLabels"]["apps"] = f"phi-3-{i:04d}"
        out.append(ws)
    return out


def baseline_objects(ws_dict: dict[str, Any]) -> list[tuple[ResourceType, dict[str, Any]]]:
    """What kaito ends up creating for one Workspace, rendered by kaito's own functions."""
    settings = Settings()
    obj = copy.deepcopy(ws_dict)
    obj["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    ws = workspace_from_dict(obj)
    resolved = desired.resolve(ws, default_catalog(), settings)
    claim = nodeclaims.nodeclaim(ws, 0, resolved.preset, settings)
    sku = get_sku(ws.resource.instance_type or "")
    assert sku is not None
    node = node_manifest(instance_request(claim), sku)
    node["metadata"]["labels"][c.LABEL_ACCELERATOR] = "nvidia"  # the manager's label
    kinds_by_name = {
        "ConfigMap": r.CONFIG_MAP,
        "Service": r.SERVICE,
        "Deployment": r.DEPLOYMENT,
        "StatefulSet": r.STATEFUL_SET,
    }
    out: list[tuple[ResourceType, dict[str, Any]]] = [(kinds.NODECLAIM, claim), (r.NODE, node)]
    for manifest in desired.inference_objects(ws, resolved, settings, "1"):
        manifest["metadata"].pop("ownerReferences", None)  # no owner exists: GC would delete
        out.append((kinds_by_name[manifest["kind"]], manifest))
    return out


# -- helpers ---------------------------------------------------------------------------------
def condition_true(obj: dict[str, Any], kind: str) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


def workload_ready(obj: dict[str, Any]) -> bool:
    """A Deployment Available, or a StatefulSet (no such condition) with every replica ready."""
    if obj.get("kind") == "StatefulSet":
        want = (obj.get("spec") or {}).get("replicas", 1)
        return bool(int((obj.get("status") or {}).get("readyReplicas") or 0) >= int(want))
    return condition_true(obj, "Available")


def workspace_ready(obj: dict[str, Any]) -> bool:
    """``WorkspaceSucceeded``: upstream v0.12 writes only it; kaito writes it and its v1alpha1
    twin ``WorkspaceReady``, which always say the same."""
    return condition_true(obj, c.CONDITION_WORKSPACE_SUCCEEDED)


async def gather_limited(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with sem:
            await job()

    await asyncio.gather(*(one(j) for j in jobs))


class CpuWatch:
    """CPU seconds per process since construction, and % over each progress interval."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.last = dict(self.start)
        self.last_t = time.monotonic()

    def interval(self) -> str:
        now, t = {n: cpu_seconds(p) for n, p in self.pids.items()}, time.monotonic()
        span = max(t - self.last_t, 1e-6)
        text = " ".join(
            f"{n}={100 * (now[n] - self.last[n]) / span:.0f}%" for n in self.pids if n in now
        )
        self.last, self.last_t = now, t
        return text

    def totals(self) -> dict[str, float]:
        return {n: cpu_seconds(p) - self.start[n] for n, p in self.pids.items()}


async def wait_all(
    client: Client,
    rt: ResourceType,
    is_ready: Callable[[dict[str, Any]], bool],
    n: int,
    started: float,
    timeout: float,
    cpu: CpuWatch,
    interval: float,
) -> tuple[float | None, int, dict[str, float]]:
    """Poll one list until ``n`` objects are ready; (seconds, ready, milestones)."""
    milestones: dict[str, float] = {}
    last_print = 0.0
    ready = 0
    while True:
        items = (await client.list(rt, NAMESPACE, timeout=120)).items
        ready = sum(is_ready(x) for x in items)
        elapsed = time.monotonic() - started
        for pct in (50, 90, 99):
            if ready >= n * pct / 100 and f"p{pct}" not in milestones:
                milestones[f"p{pct}"] = elapsed
        if ready >= n:
            return elapsed, ready, milestones
        if elapsed - last_print >= 10:
            print(f"  {elapsed:6.0f}s {ready:5d}/{n} ready | cpu {cpu.interval()}", flush=True)
            last_print = elapsed
        if elapsed > timeout:
            return None, ready, milestones
        await asyncio.sleep(interval)


def poll_interval(n: int) -> float:
    return 1.0 if n <= 200 else 2.0


# -- phases ----------------------------------------------------------------------------------
WIDE_SERVICE_CIDR = "10.0.0.0/16"


class WideServiceRangePlane(ControlPlane):
    """The testenv's control plane with a /16 Service range: its /24 holds only ~250
    ClusterIPs, and every Workspace has one ClusterIP Service (the first IP, 10.0.0.1,
    the apiserver certificate names, is the same in both ranges)."""

    def _argv(self, component: str) -> list[str]:
        flag = f"--service-cluster-ip-range={SERVICE_CIDR}"
        wide = f"--service-cluster-ip-range={WIDE_SERVICE_CIDR}"
        argv = [wide if arg == flag else arg for arg in super()._argv(component)]
        if component == "kube-apiserver":
            argv += audit.flags(self.workdir)
        return argv

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"


def start_plane(workdir: Path, manifests: Iterable[Path] = ()) -> WideServiceRangePlane:
    plane = WideServiceRangePlane(workdir=workdir)
    plane.start()
    plane.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "crd"))
    plane.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/workspaces.kaito.sh",
        "crd/nodeclaims.karpenter.sh",
        "--timeout=180s",
    )
    for manifest in manifests:
        plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    plane.kubectl("create", "namespace", NAMESPACE)
    return plane


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def bench_client(plane: ControlPlane) -> Client:
    """The driver's client: unthrottled, and named in the audit log as the bench."""
    config = ClientConfig(qps=0, user_agent=f"{audit.BENCH_AGENT}/0")
    return await Client.from_kubeconfig(plane.kubeconfig, config=config)


async def baseline(plane: ControlPlane, n: int, timeout: float) -> dict[str, Any]:
    objects = [baseline_objects(ws) for ws in workspace_manifests(n)]
    workload = next(rt for rt, _ in objects[0] if rt in (r.DEPLOYMENT, r.STATEFUL_SET))
    client = await bench_client(plane)
    cpu = CpuWatch(dict(plane.pids))
    try:
        started = time.monotonic()

        def job(items: list[tuple[ResourceType, dict[str, Any]]]) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for rt, manifest in items:
                    await client.create(rt, manifest, NAMESPACE if rt.namespaced else None)

            return run

        await gather_limited([job(items) for items in objects], CREATE_CONCURRENCY)
        created = time.monotonic() - started
        print(f"  created {sum(len(x) for x in objects)} objects in {created:.1f}s", flush=True)
        seconds, ready, milestones = await wait_all(
            client, workload, workload_ready, n, started, timeout, cpu, poll_interval(n)
        )
    finally:
        await client.close()
    return {
        "seconds": seconds,
        "ready": ready,
        "create_seconds": created,
        "milestones": milestones,
        "writes_per_workspace": sum(len(x) for x in objects) / n,
        "cpu": cpu.totals(),
    }


async def operator(
    plane: WideServiceRangePlane,
    n: int,
    timeout: float,
    procs: list[OperatorProcess],
    idle: float = 60.0,
) -> dict[str, Any]:
    """Apply N Workspaces with ``procs`` (the operator, then the provisioner) running."""
    pids = {**plane.pids, **{p.name: p.proc.pid for p in procs}}
    before = {p.name: p.metrics() for p in procs}
    client = await bench_client(plane)
    cpu = CpuWatch(pids)
    try:
        started, started_at = time.monotonic(), utcnow()

        def job(ws: dict[str, Any]) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                await client.create(WORKSPACE_V1ALPHA1, ws, NAMESPACE)

            return run

        await gather_limited([job(ws) for ws in workspace_manifests(n)], CREATE_CONCURRENCY)
        created = time.monotonic() - started
        print(f"  created {n} Workspaces in {created:.1f}s", flush=True)
        seconds, ready, milestones = await wait_all(
            client, WORKSPACE_V1ALPHA1, workspace_ready, n, started, timeout, cpu, poll_interval(n)
        )
        claims = len((await client.list(kinds.NODECLAIM)).items)
    finally:
        await client.close()
    await asyncio.sleep(2)  # let the last status writes land in the counters and the log
    settled_at = utcnow()
    after = {p.name: delta(p.metrics(), before[p.name]) for p in procs}
    hwm = {p.name: proc_status_kib(p.proc.pid, "VmHWM") for p in procs}
    cpu_total = {p.name: cpu_seconds(p.proc.pid) for p in procs}
    # Steady state: everything is ready, nothing changes; count what the operator still does.
    settled = {p.name: p.metrics() for p in procs}
    await asyncio.sleep(idle)
    quiet = {p.name: delta(p.metrics(), settled[p.name]) for p in procs}
    return {
        "idle_seconds": idle,
        "idle": quiet,
        "seconds": seconds,
        "ready": ready,
        "create_seconds": created,
        "milestones": milestones,
        "nodeclaims": claims,
        "metrics": after,
        "cpu": cpu.totals(),
        "cpu_since_start": cpu_total,
        "hwm_kib": hwm,
        "apiserver_hwm_kib": proc_status_kib(plane.pids.get("kube-apiserver", 0), "VmHWM"),
        "writes": audit.writes(plane.audit_log, started_at, settled_at),
        "idle_writes": audit.writes(plane.audit_log, settled_at),
    }


# -- report ----------------------------------------------------------------------------------
def fmt_s(value: float | None) -> str:
    return "did not finish" if value is None else f"{value:.1f} s"


NODE_SIDE = "kaito-provisioner"
"""The kwok provisioner both operators run with: its programs are the node side."""


def node_side(programs: Iterable[str]) -> list[str]:
    return [p for p in programs if p.startswith(NODE_SIDE)]


def operator_side(programs: Iterable[str]) -> list[str]:
    return [p for p in programs if not p.startswith(NODE_SIDE)]


def kaito_details(n: int, op: dict[str, Any]) -> None:
    """kaito's own counters: requests by method and code, reconciles, their latency."""
    for name, samples in op["metrics"].items():
        by_method = {
            m: total(samples, "rest_client_requests_total", method=m)
            for m in (*WRITE_METHODS, "GET")
        }
        writes = sum(by_method[m] for m in WRITE_METHODS)
        codes = {
            code: total(samples, "rest_client_requests_total", code=code)
            for code in ("409", "429", "404", "<error>")
        }
        controller = "workspace" if name == "manager" else "nodeclaim"
        p50, p99, count = reconcile_quantiles(samples, controller)
        w50, w99, _ = reconcile_quantiles(samples, controller, "kaito_reconcile_work_seconds")
        results = {
            res: total(
                samples, "controller_runtime_reconcile_total", controller=controller, result=res
            )
            for res in ("success", "error", "requeue", "requeue_after")
        }
        print(
            f"{name}: reconcile-client writes {writes:.0f} ({writes / n:.2f}/workspace: "
            + ", ".join(f"{m} {by_method[m] / n:.2f}" for m in WRITE_METHODS)
            + f"), GETs {by_method['GET'] / n:.2f}/workspace, codes "
            + ", ".join(f"{k}={v:.0f}" for k, v in codes.items())
        )
        print(
            f"  {controller} reconciles {count:.0f} ({count / n:.1f}/workspace; "
            + ", ".join(f"{k} {v:.0f}" for k, v in results.items())
            + f"), reconcile time p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
            f"work outside API waits p50 {w50 * 1000:.1f} ms, p99 {w99 * 1000:.1f} ms"
        )


def summary(n: int, op: dict[str, Any], operator_name: str) -> dict[str, str]:
    """One column of the side-by-side table."""
    writes = op["writes"]
    programs = audit.operator_programs(writes)
    ops, nodes = operator_side(programs), node_side(programs)
    idle_reconciles = total(op["idle"][operator_name], "controller_runtime_reconcile_total")
    has_metrics = bool(op["idle"][operator_name]) or bool(op["metrics"][operator_name])
    idle_writes = audit.total(op["idle_writes"], ops + nodes)
    return {
        "time to all ready": fmt_s(op["seconds"]),
        "writes/Workspace, operator": f"{audit.total(writes, ops) / n:.2f}",
        "writes/Workspace, node side": f"{audit.total(writes, nodes) / n:.2f}",
        "peak RSS (operator)": f"{op['hwm_kib'][operator_name] / 1024:.0f} MiB",
        "CPU s during the run (operator)": f"{op['cpu'][operator_name]:.1f}",
        "CPU s since start (operator)": f"{op['cpu_since_start'][operator_name]:.1f}",
        f"reconciles in the idle {op['idle_seconds']:.0f} s": (
            f"{idle_reconciles:.0f}" if has_metrics else "(no metrics)"
        ),
        f"writes in the idle {op['idle_seconds']:.0f} s": f"{idle_writes}",
    }


def report(
    n: int,
    base: dict[str, Any] | None,
    runs: list[tuple[str, dict[str, Any]]],
    qps: str,
) -> None:
    print(f"\n=== kaito workspaces benchmark: N={n}, {os.cpu_count()} CPUs ===")
    print("admission webhook: off; kaito's kwok provisioner (--boot-delay=0) for every operator")
    print(f"kaito manager/provisioner client QPS: {qps}")
    if base is not None:
        print(
            f"baseline (no operator): all {base['ready']}/{n} workloads ready in "
            f"{fmt_s(base['seconds'])} (objects created in {base['create_seconds']:.1f} s; "
            f"{base['writes_per_workspace']:.0f} writes/workspace); milestones "
            + ", ".join(f"{k} {v:.1f}s" for k, v in base["milestones"].items())
        )
        print("  baseline CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in base["cpu"].items()))
    columns: list[tuple[str, dict[str, str]]] = []
    for label, op in runs:
        print(
            f"{label}: {op['ready']}/{n} ready (WorkspaceSucceeded) in {fmt_s(op['seconds'])} "
            f"(Workspaces created in {op['create_seconds']:.1f} s; {op['nodeclaims']} "
            "NodeClaims); milestones "
            + ", ".join(f"{k} {v:.1f}s" for k, v in op["milestones"].items())
        )
        if label == "kaito":
            kaito_details(n, op)
        for program in audit.operator_programs(op["writes"]):
            print(f"  writes by {program}: {audit.breakdown(op['writes'], program)}")
        for program in audit.operator_programs(op["idle_writes"]):
            print(f"  idle writes by {program}: {audit.breakdown(op['idle_writes'], program)}")
        print("  CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in op["cpu"].items()))
        column = summary(n, op, "manager" if label == "kaito" else label)
        if base is not None and base["seconds"] and op["seconds"]:
            column["ratio to baseline"] = f"{op['seconds'] / base['seconds']:.2f}x"
        columns.append((label, column))
    rows = list(dict.fromkeys(row for _, column in columns for row in column))
    width = max(len(row) for row in rows)
    print("\n" + " " * width + "".join(f"  {label:>16}" for label, _ in columns))
    for row in rows:
        print(f"{row:<{width}}" + "".join(f"  {column.get(row, '-'):>16}" for _, column in columns))
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(f"this script: {own.ru_utime + own.ru_stime:.1f} CPU s (creates and polls)")


# -- main ------------------------------------------------------------------------------------
def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def provisioner(plane: ControlPlane, logs: Path, client_flags: list[str]) -> KaitoProcess:
    return KaitoProcess(
        "provisioner",
        [
            "provisioner",
            f"--kubeconfig={plane.kubeconfig}",
            "--provider=kwok",
            "--boot-delay=0",
            *client_flags,
        ],
        logs,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="number of Workspaces")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per phase")
    parser.add_argument("--qps", type=float, help="--kube-client-qps for manager/provisioner")
    parser.add_argument("--burst", type=int, help="--kube-client-burst for manager/provisioner")
    parser.add_argument("--workers", type=int, help="manager --workers")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--compare",
        metavar="CMD",
        help="also run this operator command (with kaito's kwok provisioner) on its own fresh "
        "control plane; {kubeconfig}, {metrics_port}, {health_port} are filled in",
    )
    parser.add_argument("--compare-name", default="other", help="its column's name")
    parser.add_argument(
        "--compare-apply",
        type=Path,
        action="append",
        default=[],
        help="a manifest the compared operator needs first (CRDs, its namespace, ConfigMaps); "
        "repeatable",
    )
    parser.add_argument(
        "--profile-manager", type=Path, help="run the manager under cProfile, stats to this file"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument(
        "--idle",
        type=float,
        default=60.0,
        help="seconds to watch the settled operator after all are ready (reconciles, writes)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--instance-type",
        help="instead of the sample's Standard_NC6s_v3 (upstream v0.12 no longer knows it; "
        "Standard_NC24ads_A100_v4 suits both)",
    )
    args = parser.parse_args()
    global INSTANCE_TYPE
    INSTANCE_TYPE = args.instance_type
    signal.signal(signal.SIGTERM, _interrupt)

    workdir = Path(tempfile.mkdtemp(prefix="kaito-bench-"))
    print(f"work dir {workdir}", flush=True)
    planes: list[ControlPlane] = []
    procs: list[OperatorProcess] = []
    client_flags = [f"--kube-client-qps={args.qps}"] if args.qps is not None else []
    client_flags += [f"--kube-client-burst={args.burst}"] if args.burst is not None else []
    base: dict[str, Any] | None = None
    runs: list[tuple[str, dict[str, Any]]] = []

    def run_operator(
        label: str,
        make: Callable[[WideServiceRangePlane, Path], OperatorProcess],
        crds: Iterable[Path] = (),
    ) -> dict[str, Any]:
        print(f"{label}: fresh control plane, applying {args.n} Workspaces ...", flush=True)
        planes.append(start_plane(workdir / label, crds))
        plane = planes[-1]
        assert isinstance(plane, WideServiceRangePlane)
        logs = workdir / label / "logs"
        procs[:] = [make(plane, logs), provisioner(plane, logs, client_flags)]
        for p in procs:
            p.wait_ready()
        try:
            return asyncio.run(operator(plane, args.n, args.timeout, procs, args.idle))
        finally:
            for p in procs:
                p.stop()
            procs.clear()
            planes.pop().stop()

    def kaito_manager(plane: WideServiceRangePlane, logs: Path) -> OperatorProcess:
        return KaitoProcess(
            "manager",
            [
                "manager",
                f"--kubeconfig={plane.kubeconfig}",
                "--disable-webhook",
                f"--max-nodeclaims={max(100, args.n)}",
                *client_flags,
            ]
            + ([f"--workers={args.workers}"] if args.workers else []),
            logs,
            profile=args.profile_manager.resolve() if args.profile_manager else None,
        )

    def other(plane: WideServiceRangePlane, logs: Path) -> OperatorProcess:
        return CommandProcess(args.compare_name, args.compare, plane.kubeconfig, logs)

    try:
        if not args.skip_baseline:
            print(f"baseline: fresh control plane, {args.n} Workspaces' objects ...", flush=True)
            planes.append(start_plane(workdir / "baseline"))
            base = asyncio.run(baseline(planes[-1], args.n, args.timeout))
            planes.pop().stop()
        runs.append(("kaito", run_operator("kaito", kaito_manager)))
        if args.compare:
            try:
                compared = run_operator(args.compare_name, other, args.compare_apply)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
                # the numbers of kaito's run are still worth printing
                detail = getattr(err, "stderr", "") or ""
                print(f"{args.compare_name}: no result: {err} {detail}".strip(), flush=True)
            else:
                runs.append((args.compare_name, compared))
        report(
            args.n,
            base,
            runs,
            f"{'default (30)' if args.qps is None else args.qps}, "
            f"burst {'default (50)' if args.burst is None else args.burst}",
        )
        if args.json:
            plain = {
                label: {k: v for k, v in op.items() if k not in ("metrics", "idle")}
                | {"writes": [[*k, v] for k, v in op["writes"].items()]}
                | {"idle_writes": [[*k, v] for k, v in op["idle_writes"].items()]}
                for label, op in runs
            }
            args.json.write_text(json.dumps({"n": args.n, "baseline": base, "runs": plain}))
        complete = len(runs) == (2 if args.compare else 1)
        return 0 if complete and all(op["seconds"] is not None for _, op in runs) else 1
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in procs:
            p.stop()
        for plane in planes:
            plane.stop()
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

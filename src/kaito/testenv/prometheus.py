"""A real Prometheus on this machine, scraping kaito's ``/metrics``, for tests.

kaito ships PromQL that nothing else checks: the Grafana dashboard and the PrometheusRule in
``manifests/prometheus``. A misspelt metric or label does not fail there, it just returns
nothing, so the only proof that they work is a real Prometheus scraping the real manager and
provisioner and evaluating them. This module runs one (the upstream binary built by
``hack/prometheus/build.sh``; Debian's lacks Kubernetes discovery) on a free 127.0.0.1 port,
scraping and evaluating rules every second, with its config and rules files in a work
directory, plus the HTTP API calls tests need (queries, rules, alerts, targets).

Scrape configs come from :func:`static_scrape_config` (host processes) or
:func:`kubernetes_scrape_config` (what ``servicemonitors.yaml`` asks the Prometheus Operator
for, through a kubeconfig); :func:`rules_file` turns a PrometheusRule into a rules file.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from kaito.testenv.binaries import repo_root
from kaito.testenv.controlplane import free_port

KAITO_NAMESPACE = "kaito-system"
KAITO_APPS = ("kaito-manager", "kaito-provisioner")
"""``app.kubernetes.io/name`` of the Services the two ServiceMonitors select."""


class PrometheusError(RuntimeError):
    """Prometheus did not start, or an API call did not answer ``status: success``."""


def build_script() -> Path:
    return repo_root() / "hack" / "prometheus" / "build.sh"


def build_prometheus() -> Path:
    """The directory holding ``prometheus`` and ``promtool``, built first when missing
    (Go modules; minutes cold, instant when cached)."""
    out = subprocess.run(
        ["bash", str(build_script())],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise PrometheusError(f"{build_script()} failed:\n{out.stderr.strip()}")
    return Path(out.stdout.strip().splitlines()[-1])


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def static_scrape_config(
    job: str, targets: Sequence[str], *, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Scrape ``host:port`` targets (processes on this machine) as job ``job``."""
    group: dict[str, Any] = {"targets": list(targets)}
    if labels:
        group["labels"] = dict(labels)
    return {"job_name": job, "static_configs": [group]}


def kubernetes_scrape_config(
    app: str, kubeconfig: Path, *, namespace: str = KAITO_NAMESPACE, port: str = "metrics"
) -> dict[str, Any]:
    """What a ServiceMonitor selecting ``app.kubernetes.io/name: <app>`` with endpoint port
    ``port`` makes the Prometheus Operator generate: endpoints discovery in ``namespace``
    through ``kubeconfig`` (its server, CA and client certificate), keeping only those
    Services' ``port`` endpoints, labelled namespace/service/pod/endpoint, job = Service."""

    def copy(source: str, target: str) -> dict[str, Any]:
        return {"source_labels": [f"__meta_kubernetes_{source}"], "target_label": target}

    def keep(source: str, regex: str) -> dict[str, Any]:
        return {"source_labels": [f"__meta_kubernetes_{source}"], "regex": regex, "action": "keep"}

    return {
        "job_name": f"serviceMonitor/{namespace}/{app}/0",
        "kubernetes_sd_configs": [
            {
                "role": "endpoints",
                "kubeconfig_file": str(kubeconfig),
                "namespaces": {"names": [namespace]},
            }
        ],
        "relabel_configs": [
            keep("service_label_app_kubernetes_io_name", app),
            keep("endpoint_port_name", port),
            copy("namespace", "namespace"),
            copy("service_name", "service"),
            copy("pod_name", "pod"),
            copy("service_name", "job"),
            {"target_label": "endpoint", "replacement": port},
        ],
    }


def kaito_kubernetes_scrape_configs(
    kubeconfig: Path, *, namespace: str = KAITO_NAMESPACE
) -> list[dict[str, Any]]:
    """The scrape configs of both ServiceMonitors (manager and provisioner)."""
    return [kubernetes_scrape_config(app, kubeconfig, namespace=namespace) for app in KAITO_APPS]


def rules_file(manifest: Path | Mapping[str, Any], *, for_: str | None = None) -> dict[str, Any]:
    """The Prometheus rules file of a ``monitoring.coreos.com/v1`` PrometheusRule (a path to
    its YAML or the parsed object): its ``spec.groups``. ``for_`` replaces every alert's
    ``for:`` (tests shorten them; a shipped ``for: 15m`` would outlast any test)."""
    obj = yaml.safe_load(manifest.read_text()) if isinstance(manifest, Path) else manifest
    if obj.get("kind") != "PrometheusRule":
        raise ValueError(f"not a PrometheusRule: kind {obj.get('kind')!r}")
    groups: list[dict[str, Any]] = json.loads(json.dumps(obj["spec"]["groups"]))  # deep copy
    if for_ is not None:
        for group in groups:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = for_
    return {"groups": groups}


@attrs.define
class Prometheus:
    """One Prometheus server: ``start()`` writes ``prometheus.yml`` and ``rules-<n>.yaml``
    into ``workdir``, starts the binary (its own session, log in ``workdir``) and waits for
    ``/-/ready``; ``stop()`` ends that process and only that one."""

    workdir: Path
    scrape_configs: Sequence[Mapping[str, Any]] = ()
    rule_files: Sequence[Mapping[str, Any]] = ()
    """Rules files' contents (``{"groups": [...]}``, see :func:`rules_file`)."""
    interval: float = 1.0
    """Seconds between scrapes and between rule evaluations."""
    bin_dir: Path = attrs.field(factory=build_prometheus)
    port: int = attrs.field(factory=free_port)
    _proc: subprocess.Popen[bytes] | None = attrs.field(default=None, alias="_proc")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def config(self) -> dict[str, Any]:
        interval = _duration(self.interval)
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [f"rules-{i}.yaml" for i in range(len(self.rule_files))],
            "scrape_configs": [dict(c) for c in self.scrape_configs],
        }

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for i, content in enumerate(self.rule_files):
            (self.workdir / f"rules-{i}.yaml").write_text(yaml.safe_dump(dict(content)))
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(self.bin_dir / "prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PrometheusError(f"prometheus did not become ready:\n{self.log_tail()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self, grace: float = 20) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    # -- the HTTP API --------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``'s ``data``; :class:`PrometheusError` unless it succeeded."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:  # 400/422/503 carry the error as JSON too
            try:
                body = json.loads(err.read())
            except ValueError:
                raise PrometheusError(f"GET {url}: HTTP {err.code}") from err
        if body.get("status") != "success":
            raise PrometheusError(
                f"GET {url}: {body.get('errorType', '?')}: {body.get('error', body)}"
            )
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: ``[{"metric": {...}, "value": [ts, "v"]}, ...]`` (a
        scalar or string result comes back as one such element without labels)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        """The rule groups as loaded and last evaluated (``/api/v1/rules``)."""
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts (``/api/v1/alerts``)."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with their labels, health and last error."""
        active: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return active

    def wait_scraped(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until ``count`` targets are discovered and each was scraped successfully (
        ``/-/ready`` comes first: a counter's first increment is lost to rate() if it
        happens before the first scrape); return them."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if len(targets) >= count and all(t["health"] == "up" for t in targets):
                return targets
            if time.monotonic() > deadline:
                raise PrometheusError(f"{count} targets not all up after {timeout}s: {targets}")
            time.sleep(0.2)

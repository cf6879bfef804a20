"""kaito's Grafana dashboard and alerts, evaluated by a real Prometheus scraping the real
``kaito manager`` and ``kaito provisioner --provider=kwok`` processes.

After a Workspace became ready, every dashboard query returns data, Prometheus loaded every
alert of ``manifests/prometheus/prometheusrule.yaml`` and evaluates it without error, and each
alert's data part (the expression without its threshold, tests/support/promql.py) returns data,
so no alert reads a metric or label that does not exist. Killing both processes (SIGKILL)
makes the no-leader alerts fire; restarting them resolves them. The rules file loaded here is
the shipped one with every ``for:`` shortened to a couple of seconds.

The Kubernetes service discovery that the in-cluster Prometheus uses (the ServiceMonitors'
selection) is checked separately against Services and Endpoints of a test namespace.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.testenv import ControlPlane
from kaito.testenv.prometheus import (
    Prometheus,
    kaito_kubernetes_scrape_configs,
    rules_file,
    static_scrape_config,
)
from kaito.testenv.registry import HOST_ADDRESS, HostAddressError, host_address_present
from tests.e2e.conftest import Operator, install_crds
from tests.e2e.helpers import apply_workspace, sample, wait_ready
from tests.support.promql import (
    PROMETHEUS_RULE,
    Expression,
    active_alerts,
    alert_rules,
    assert_all_return_data,
    dashboard_expressions,
    data_expressions,
    wait_alert_inactive,
    wait_alert_state,
    wait_rules_healthy,
)
from tests.support.waiting import wait_until

SHORT_FOR = "2s"
NO_LEADER = ("KaitoManagerNoLeader", "KaitoProvisionerNoLeader")


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """Manager and provisioner with leader election on, as deployed (Leases in kaito-system);
    named like conftest's fixture so failing tests get the processes' logs."""
    install_crds(control_plane)
    control_plane.kubectl("create", "namespace", "kaito-system", check=False)
    elect = ("--leader-elect", "--leader-election-namespace=kaito-system")
    op = Operator(
        control_plane,
        tmp_path_factory.mktemp("operator-prometheus"),
        ["--sync-period=20s", *elect],
        provisioner_args=elect,
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture(scope="module")
def prometheus(
    operator: Operator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    prom = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        scrape_configs=[
            static_scrape_config(
                f"kaito-{p.name}",
                [f"127.0.0.1:{p.metrics_port}"],
                labels={"namespace": "kaito-system"},
            )
            for p in (operator.manager, operator.provisioner)
        ],
        rule_files=[rules_file(PROMETHEUS_RULE, for_=SHORT_FOR)],
    )
    prom.start()
    try:
        prom.wait_scraped(2)
        yield prom
    finally:
        prom.stop()


def test_every_dashboard_query_and_alert_input_returns_data(
    operator: Operator, control_plane: ControlPlane, namespace: str, prometheus: Prometheus
) -> None:
    ws = sample("workspace-phi-3-mini.yaml")
    apply_workspace(control_plane, ws, namespace)
    wait_ready(control_plane, ws["metadata"]["name"], namespace)

    assert_all_return_data(prometheus, dashboard_expressions())

    alerts = alert_rules()
    loaded = wait_rules_healthy(prometheus, [a.name for a in alerts])
    assert sorted(loaded) == sorted(a.name for a in alerts), "Prometheus loaded other rules"
    assert_all_return_data(
        prometheus,
        [Expression(f"alert {a.name}", data) for a in alerts for data in data_expressions(a.expr)],
    )
    # A healthy install raises no alert (each is evaluated every second with for: 2s).
    assert [a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"] == []


def test_no_leader_alerts_fire_while_the_processes_are_down(
    operator: Operator, prometheus: Prometheus
) -> None:
    wait_rules_healthy(prometheus, NO_LEADER)
    for name in NO_LEADER:  # both lead: nothing pending or firing
        wait_alert_inactive(prometheus, name, timeout=60)

    operator.manager.kill()
    operator.provisioner.kill()
    for name in NO_LEADER:
        alert = wait_alert_state(prometheus, name, "firing", timeout=60)
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"]

    operator.provisioner.start()
    operator.manager.start()
    # The killed leaders never released their Leases: the new processes take over after
    # the 15 s lease duration.
    for name in NO_LEADER:
        wait_alert_inactive(prometheus, name, timeout=90)
    assert not active_alerts(prometheus, NO_LEADER[0])


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"kaito_sd_probe 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _host_address() -> bool:
    try:
        return host_address_present()
    except HostAddressError:
        return False


def test_kubernetes_discovery_keeps_the_servicemonitors_endpoints(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """What the in-cluster Prometheus is configured with: endpoints of Services labelled
    kaito-manager / kaito-provisioner, port ``metrics`` only; nothing else in the namespace.
    With the kaito host address on this machine the targets are scraped for real too."""
    server: http.server.ThreadingHTTPServer | None = None
    if _host_address():
        server = http.server.ThreadingHTTPServer((HOST_ADDRESS, 0), _Metrics)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        address, port = HOST_ADDRESS, server.server_address[1]
    else:
        address, port = "192.0.2.10", 8080  # TEST-NET: discovered, never scraped
    objects = []
    for service, app, ports in (
        ("kaito-manager-metrics", "kaito-manager", {"metrics": port, "health": port + 1}),
        ("kaito-provisioner-metrics", "kaito-provisioner", {"metrics": port}),
        ("something-else", "something-else", {"metrics": port}),
    ):
        labels = {"app.kubernetes.io/name": app}
        objects += [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": service, "namespace": namespace, "labels": labels},
                "spec": {"ports": [{"name": n, "port": p} for n, p in ports.items()]},
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": service, "namespace": namespace, "labels": labels},
                "subsets": [
                    {
                        "addresses": [{"ip": address}],
                        "ports": [{"name": n, "port": p} for n, p in ports.items()],
                    }
                ],
            },
        ]
    control_plane.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )

    prom = Prometheus(
        tmp_path / "prometheus",
        scrape_configs=kaito_kubernetes_scrape_configs(
            control_plane.kubeconfig, namespace=namespace
        ),
    )
    try:
        prom.start()
        targets = wait_until(
            lambda: t if len(t := prom.targets()) >= 2 else None,
            timeout=30,
            what="two discovered targets",
        )
        got = sorted((t["labels"]["job"], t["labels"]["endpoint"], t["scrapeUrl"]) for t in targets)
        url = f"http://{address}:{port}/metrics"
        assert got == [
            ("kaito-manager-metrics", "metrics", url),
            ("kaito-provisioner-metrics", "metrics", url),
        ]
        assert {t["labels"]["namespace"] for t in targets} == {namespace}
        assert {t["labels"]["service"] for t in targets} == {
            "kaito-manager-metrics",
            "kaito-provisioner-metrics",
        }
        if server is not None:
            scraped = wait_until(
                lambda: r if len(r := prom.query("kaito_sd_probe")) == 2 else None,
                timeout=30,
                what="both discovered targets scraped",
            )
            assert {s["metric"]["job"] for s in scraped} == {
                "kaito-manager-metrics",
                "kaito-provisioner-metrics",
            }
    finally:
        prom.stop()
        if server is not None:
            server.shutdown()

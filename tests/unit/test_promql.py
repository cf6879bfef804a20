"""The PromQL extraction of tests/support/promql.py and the config builders of
kaito.testenv.prometheus (no Prometheus needed; tests/e2e/test_prometheus.py runs one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito.testenv.prometheus import (
    kaito_kubernetes_scrape_configs,
    rules_file,
    static_scrape_config,
)
from tests.support.promql import (
    PROMETHEUS_RULE,
    alert_rules,
    dashboard_expressions,
    data_expressions,
    has_data,
    substitute_variables,
)


@pytest.mark.parametrize(
    ("expr", "data"),
    [
        ("up > 0", ["up"]),
        ("sum(rate(x[5m])) / sum(rate(y[5m])) > 0.1", ["sum(rate(x[5m])) / sum(rate(y[5m]))"]),
        ('absent(up{job="x"} == 1)', ['up{job="x"}']),
        ("(a > bool 1) and on (x) group_left (y) (deriv(b[5m]) >= -1e3)", ["a", "deriv(b[5m])"]),
        ("a > 1 or b < 2 unless c", ["a", "b", "c"]),
        ('a{l=~"x|(>)"} > b', ['a{l=~"x|(>)"} > b']),  # no number threshold: kept whole
        ("(a) + (b) < 3", ["(a) + (b)"]),
        ("sum by (le, or) (x) > 1", ["sum by (le, or) (x)"]),
    ],
)
def test_data_expressions_drop_thresholds(expr: str, data: list[str]) -> None:
    assert data_expressions(expr) == data


def test_grafana_variables_are_substituted_and_unknown_ones_refused() -> None:
    assert substitute_variables("rate(x[$__rate_interval])") == "rate(x[1m])"
    assert substitute_variables('x{a="${a:regex}", b="[[b]]"}', {"a": "1", "b": "2"}) == (
        'x{a="1", b="2"}'
    )
    with pytest.raises(ValueError, match=r"\$nope"):
        substitute_variables('x{a=~"$nope"}')


def test_dashboard_expressions_include_nested_row_panels(tmp_path: Path) -> None:
    dashboard = {
        "panels": [
            {"title": "top", "targets": [{"refId": "A", "expr": "up"}, {"refId": "B"}]},
            {
                "type": "row",
                "title": "row",
                "panels": [
                    {"title": "inner", "targets": [{"refId": "A", "expr": "rate(x[$__range])"}]}
                ],
            },
        ]
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dashboard))
    found = dashboard_expressions(path)
    assert [(e.where, e.expr) for e in found] == [
        ("panel 'top' target A", "up"),
        ("panel 'inner' target A", "rate(x[1h])"),
    ]


def test_shipped_dashboard_and_alerts_parse() -> None:
    assert len(dashboard_expressions()) >= 10
    alerts = alert_rules()
    names = {a.name for a in alerts}
    assert {"KaitoReconcileErrors", "KaitoManagerNoLeader", "KaitoProvisionerNoLeader"} <= names
    for alert in alerts:
        assert alert.for_, alert.name
        assert {"summary", "description"} <= set(alert.annotations), alert.name
        assert alert.labels.get("severity") in ("warning", "critical"), alert.name
        for data in data_expressions(alert.expr):
            assert data != " ".join(alert.expr.split()), f"{alert.name}: no threshold found"


def test_rules_file_is_the_spec_groups_with_shortened_for() -> None:
    shipped = rules_file(PROMETHEUS_RULE)
    short = rules_file(PROMETHEUS_RULE, for_="2s")
    assert [g["name"] for g in short["groups"]] == [g["name"] for g in shipped["groups"]]
    assert all(r["for"] == "2s" for g in short["groups"] for r in g["rules"])
    assert any(r["for"] != "2s" for g in shipped["groups"] for r in g["rules"])
    with pytest.raises(ValueError, match="not a PrometheusRule"):
        rules_file({"kind": "ConfigMap"})


def test_scrape_configs() -> None:
    static = static_scrape_config("m", ["127.0.0.1:1"], labels={"a": "b"})
    assert static == {
        "job_name": "m",
        "static_configs": [{"targets": ["127.0.0.1:1"], "labels": {"a": "b"}}],
    }
    manager, provisioner = kaito_kubernetes_scrape_configs(Path("/k"), namespace="ns")
    sd = manager["kubernetes_sd_configs"][0]
    assert sd == {"role": "endpoints", "kubeconfig_file": "/k", "namespaces": {"names": ["ns"]}}
    keep = [r for r in manager["relabel_configs"] if r.get("action") == "keep"]
    assert [r["regex"] for r in keep] == ["kaito-manager", "metrics"]
    assert provisioner["relabel_configs"][0]["regex"] == "kaito-provisioner"


def test_has_data_ignores_nan() -> None:
    assert not has_data([])
    assert not has_data([{"metric": {}, "value": [1, "NaN"]}])
    assert has_data([{"metric": {}, "value": [1, "NaN"]}, {"metric": {}, "value": [1, "0"]}])

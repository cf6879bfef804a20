"""The PromQL kaito ships (``manifests/prometheus``), for tests that evaluate it against a live
Prometheus (:class:`kaito.testenv.prometheus.Prometheus`).

* :func:`dashboard_expressions`: every target ``expr`` of every panel of the Grafana dashboard,
  rows' nested panels included, Grafana variables (``$__rate_interval`` ...) substituted;
* :func:`alert_rules`: every alert of the PrometheusRule;
* :func:`data_expressions`: an alert expression without its thresholds, i.e. the series it
  reads. An alert that never fires proves nothing by itself; evaluating its data part shows
  that the metrics and labels it names exist. The PrometheusRule keeps every alert in the shape
  this understands: ``<data> <comparison> <number>``, optionally inside ``absent(...)`` and
  joined by ``and`` / ``or`` / ``unless``;
* :func:`assert_all_return_data`: waits until each expression returns at least one sample that
  is not NaN, and names every one that never did.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from kaito.testenv.prometheus import Prometheus
from tests.support.waiting import wait_until

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "prometheus"
DASHBOARD = MANIFESTS / "grafana-dashboard.json"
PROMETHEUS_RULE = MANIFESTS / "prometheusrule.yaml"

GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
}
"""What Grafana's built-in variables stand for when a test evaluates a panel's query."""

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


@attrs.frozen
class Expression:
    """One PromQL expression and where it comes from (for failure messages)."""

    where: str
    expr: str


@attrs.frozen
class Alert:
    name: str
    expr: str
    for_: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def substitute_variables(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """``expr`` with Grafana's ``$var``, ``${var}``, ``${var:format}`` and ``[[var]]`` replaced;
    an unknown variable is a ValueError (a query Grafana itself could not run)."""
    values = {**GRAFANA_VARIABLES, **(variables or {})}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or ())  # a row's (collapsed) panels


def dashboard_expressions(
    path: Path = DASHBOARD, variables: Mapping[str, str] | None = None
) -> list[Expression]:
    """Every non-empty ``expr`` of every panel target, in dashboard order."""
    dashboard = json.loads(path.read_text())
    found = []
    for panel in _panels(dashboard.get("panels") or ()):
        for target in panel.get("targets") or ():
            if expr := (target.get("expr") or "").strip():
                where = f"panel {panel.get('title')!r} target {target.get('refId', '?')}"
                found.append(Expression(where, substitute_variables(expr, variables)))
    return found


def alert_rules(path: Path = PROMETHEUS_RULE) -> list[Alert]:
    """Every alerting rule of the PrometheusRule manifest, in file order."""
    rule = yaml.safe_load(path.read_text())
    return [
        Alert(
            name=r["alert"],
            expr=r["expr"].strip(),
            for_=r.get("for"),
            labels=r.get("labels") or {},
            annotations=r.get("annotations") or {},
        )
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    ]


# -- alert expressions without their thresholds ---------------------------------------------
_OPEN, _CLOSE = "([{", ")]}"
_SET_OPERATOR = re.compile(r"\b(and|or|unless)\b", re.IGNORECASE)
_MATCHING = re.compile(r"^\s*(?:(?:on|ignoring|group_left|group_right)\s*(?:\([^)]*\))?\s*)+")
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)")
_THRESHOLD = re.compile(r"^\s*(?:bool\s+)?[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?\s*$")
_ABSENT = re.compile(r"^\s*absent(?:_over_time)?\s*\((.*)\)\s*$", re.DOTALL)


def _depths(expr: str) -> list[int]:
    """For each character: its bracket depth, or -1 inside a string literal. A closing
    bracket counts as inside (its depth is the one it closes)."""
    depth, quote, escaped, out = 0, "", False, []
    for char in expr:
        if quote:
            out.append(-1)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'`":
            quote = char
            out.append(-1)
            continue
        depth += char in _OPEN
        out.append(depth)
        depth -= char in _CLOSE
    return out


def _split(expr: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """``expr`` cut at the top-level matches of ``pattern``: (operator before, part) pairs."""
    depths = _depths(expr)
    parts, start, operator = [], 0, ""
    for match in pattern.finditer(expr):
        if depths[match.start()] == 0:
            parts.append((operator, expr[start : match.start()]))
            operator, start = match.group(1), match.end()
    parts.append((operator, expr[start:]))
    return parts


def _unwrap(expr: str) -> str:
    """``expr`` without redundant outer parentheses."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depths = _depths(expr)
        if any(d == 0 for d in depths[1:-1]):  # "(a) + (b)": the first one closes early
            break
        expr = expr[1:-1].strip()
    return expr


def data_expressions(expr: str) -> list[str]:
    """The data parts of an alert expression: split at top-level ``and``/``or``/``unless``,
    each part's trailing ``<comparison> <number>`` removed and ``absent(...)`` unwrapped
    (recursively). ``absent(up{job="x"} == 1)`` gives ``up{job="x"}``; ``a > 10 and
    deriv(b[5m]) > 0`` gives ``a`` and ``deriv(b[5m])``."""
    found = []
    for _, part in _split(expr, _SET_OPERATOR):
        part = _unwrap(_MATCHING.sub("", part, count=1))
        pieces = _split(part, _COMPARISON)
        if len(pieces) > 1 and _THRESHOLD.match(pieces[-1][1]):
            part = _unwrap(part[: len(part) - len(pieces[-1][1]) - len(pieces[-1][0])])
        if absent := _ABSENT.match(part):
            found += data_expressions(absent.group(1))
        else:
            found.append(" ".join(part.split()))
    return found


# -- against a live Prometheus --------------------------------------------------------------
def has_data(result: Sequence[Mapping[str, Any]]) -> bool:
    """At least one series with a sample that is a number (Grafana draws NaN as nothing)."""
    return any(not math.isnan(float(series["value"][1])) for series in result if "value" in series)


def assert_all_return_data(
    prometheus: Prometheus, expressions: Sequence[Expression], *, timeout: float = 60
) -> None:
    """Wait until every expression returns data; fail naming each that never did."""
    missing: list[Expression] = list(expressions)

    def all_have_data() -> bool:
        missing[:] = [e for e in missing if not has_data(prometheus.query(e.expr))]
        return not missing

    try:
        wait_until(all_have_data, timeout=timeout, interval=0.5, what="every expression's data")
    except AssertionError:
        lines = "\n".join(f"  {e.where}: {e.expr}" for e in missing)
        raise AssertionError(
            f"{len(missing)} of {len(expressions)} expressions returned no data after "
            f"{timeout}s:\n{lines}"
        ) from None


def loaded_alert_rules(prometheus: Prometheus) -> dict[str, dict[str, Any]]:
    """The alerting rules Prometheus has loaded, by name (health, lastError, state ...)."""
    return {
        rule["name"]: rule
        for group in prometheus.rules()
        for rule in group["rules"]
        if rule.get("type") == "alerting"
    }


def wait_rules_healthy(
    prometheus: Prometheus, names: Sequence[str], *, timeout: float = 30
) -> dict[str, dict[str, Any]]:
    """Wait until each named alert rule is loaded and was evaluated with health ``ok``; an
    evaluation error fails at once with the rule's last error."""

    def healthy() -> dict[str, dict[str, Any]] | None:
        rules = loaded_alert_rules(prometheus)
        for name in names:
            if (rules.get(name) or {}).get("health") == "err":
                raise AssertionError(f"alert {name}: {rules[name].get('lastError')}")
        ok = all((rules.get(n) or {}).get("health") == "ok" for n in names)
        return rules if ok else None

    return wait_until(healthy, timeout=timeout, what=f"alert rules {list(names)} healthy")


def active_alerts(prometheus: Prometheus, name: str) -> list[dict[str, Any]]:
    """The pending or firing instances of alert ``name``."""
    return [a for a in prometheus.alerts() if a["labels"].get("alertname") == name]


def wait_alert_state(
    prometheus: Prometheus, name: str, state: str = "firing", *, timeout: float = 60
) -> dict[str, Any]:
    """Wait until an instance of alert ``name`` is in ``state`` (pending or firing)."""
    return wait_until(
        lambda: next((a for a in active_alerts(prometheus, name) if a["state"] == state), None),
        timeout=timeout,
        what=f"alert {name} {state}",
    )


def wait_alert_inactive(prometheus: Prometheus, name: str, *, timeout: float = 60) -> None:
    """Wait until alert ``name`` is neither pending nor firing."""
    wait_until(
        lambda: not active_alerts(prometheus, name),
        timeout=timeout,
        what=f"alert {name} inactive",
    )

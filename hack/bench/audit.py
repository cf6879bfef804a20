"""API writes counted where every client is seen: the kube-apiserver's audit log.

An operator's own ``rest_client_requests_total`` says what it sent, but not every operator
exports it (nor names its components the same way), and it misses what a component did
before a scrape. The API server's audit log names each request's user agent, so the same
count works for kaito and for any other operator run beside it. The policy logs metadata of
writes only (create, update, patch, delete, deletecollection), at ResponseComplete.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
"""

CLUSTER_AGENTS = ("kube-controller-manager", "kube-scheduler", "kube-apiserver", "kwok")
"""Programs that are the cluster, not an operator: their writes happen with or without one."""

BENCH_AGENT = "kaito-bench"
"""The bench's own client (it creates the Workspaces)."""


def flags(workdir: Path) -> list[str]:
    """kube-apiserver flags that write the audit log to ``workdir/audit.log``."""
    policy = workdir / "audit-policy.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(POLICY)
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={workdir / 'audit.log'}",
        "--audit-log-format=json",
        "--audit-log-maxbackup=0",
        "--audit-log-maxsize=0",
    ]


def program(user_agent: str) -> str:
    """``kaito-manager`` of ``kaito-manager/0.1.0``; client-go's ``workspace/v0.0.0 (...)``
    gives ``workspace``."""
    return user_agent.split("/", 1)[0].split(" ", 1)[0] or "(none)"


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


Key = tuple[str, str, str]
"""(program, resource[/subresource], verb)"""


def writes(path: Path, since: dt.datetime, until: dt.datetime | None = None) -> Counter[Key]:
    """Writes received in ``[since, until)``, by program, resource and verb."""
    counts: Counter[Key] = Counter()
    if not path.exists():
        return counts
    with path.open() as log:
        for line in log:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by a rotation or a crash
            received = _time(event["requestReceivedTimestamp"])
            if received < since or (until is not None and received >= until):
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "?")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[(program(event.get("userAgent", "")), resource, event["verb"])] += 1
    return counts


def operator_programs(counts: Counter[Key]) -> list[str]:
    """Programs that are neither the cluster nor the bench, most writes first."""
    by_program: Counter[str] = Counter()
    for (name, _, _), n in counts.items():
        if name not in CLUSTER_AGENTS and name != BENCH_AGENT:
            by_program[name] += n
    return [name for name, _ in by_program.most_common()]


def total(counts: Counter[Key], programs: Iterable[str]) -> int:
    wanted = set(programs)
    return sum(n for (name, _, _), n in counts.items() if name in wanted)


def breakdown(counts: Counter[Key], name: str) -> str:
    """``workspaces/status patch 3, nodeclaims create 1, ...`` for one program."""
    rows = sorted(
        ((resource, verb, n) for (prog, resource, verb), n in counts.items() if prog == name),
        key=lambda row: -row[2],
    )
    return ", ".join(f"{resource} {verb} {n}" for resource, verb, n in rows)

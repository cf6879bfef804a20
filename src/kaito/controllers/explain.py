"""Why is my Workspace not ready? The answer in plain words, for ``kaito status``.

A pure function over the objects a person would otherwise chase with five kubectl
commands (the Workspace, its NodeClaims, their Nodes, the workload, its pods, recent
Warning events), returning the stage the Workspace is stuck at and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.controllers.pod_failures import first_failure
from kaito.runtime.conditions import find_object_condition, is_object_condition_true

Obj = dict[str, Any]

ADVICE = {
    "QuotaExceeded": "raise the GPU quota of the subscription for this VM family, or pick "
    "another instance type",
    "SkuNotAvailable": "the instance type is not offered in this region or zone; pick another",
    "SkuUnavailable": "the instance type is not offered in this region or zone; pick another",
    "ImagePullError": "check the image name and that an imagePullSecret can read the registry",
    "ContainerCrashLoopBackOff": "read the container log: kubectl logs <pod> --previous",
    "ContainerOOMKilled": "the model needs more memory: use a larger instance type",
    "Unschedulable": "no node fits the pod: check the labelSelector, taints and GPU capacity",
    "InvalidSpec": "fix the Workspace spec (kubectl edit workspace ...)",
    "NodeNotReady": "label existing GPU nodes with the Workspace's labelSelector, or enable "
    "node auto-provisioning",
}


@attrs.frozen
class Diagnosis:
    stage: str
    """nodes, workload, tuning, ready, deleting or invalid."""
    summary: str
    details: tuple[str, ...] = ()
    advice: str | None = None

    def render(self) -> str:
        lines = [f"{self.stage.upper()}: {self.summary}"]
        lines += [f"  - {line}" for line in self.details]
        if self.advice:
            lines.append(f"What to do: {self.advice}")
        return "\n".join(lines)


def diagnose(
    ws: Obj,
    nodeclaims: Sequence[Obj],
    nodes: Sequence[Obj],
    workload: Obj | None,
    pods: Sequence[Obj],
    events: Sequence[Obj] = (),
) -> Diagnosis:
    name = ws["metadata"]["name"]
    warnings = tuple(
        f"{e.get('reason')}: {e.get('message')}"
        for e in sorted(events, key=lambda e: e.get("lastTimestamp") or "")[-3:]
        if e.get("type") == "Warning"
    )
    if ws["metadata"].get("deletionTimestamp"):
        left = [x["metadata"]["name"] for x in nodeclaims]
        return Diagnosis(
            "deleting",
            f"workspace {name} is being deleted",
            tuple(f"waiting for NodeClaim {n} (its node is being removed)" for n in left),
        )
    summary = find_object_condition(ws, "WorkspaceSucceeded") or {}
    if summary.get("reason") == "InvalidSpec":
        return Diagnosis(
            "invalid",
            "the Workspace is invalid",
            (str(summary.get("message")),),
            ADVICE["InvalidSpec"],
        )
    if not is_object_condition_true(ws, "ResourceReady"):
        resource = find_object_condition(ws, "ResourceReady") or {}
        details = []
        for claim in nodeclaims:
            claim_name = claim["metadata"]["name"]
            launched = find_object_condition(claim, "Launched")
            if launched and launched.get("status") == "False":
                details.append(
                    f"NodeClaim {claim_name} failed to launch: {launched.get('reason')}: "
                    f"{launched.get('message')}"
                )
            elif not is_object_condition_true(claim, "Ready"):
                node = (claim.get("status") or {}).get("nodeName") or "no node yet"
                details.append(f"NodeClaim {claim_name} is not Ready ({node})")
        if not nodeclaims:
            details.append("no NodeClaims yet")
        reason = str(resource.get("reason") or "")
        message = str(resource.get("message") or "")
        return Diagnosis(
            "nodes",
            message
            if reason == c.REASON_NODECLAIM_NOT_READY and message
            else f"waiting for nodes: {message or 'not reported yet'}",
            (*details, *warnings),
            ADVICE.get(reason),
        )
    if ws.get("tuning") is not None:
        if is_object_condition_true(ws, "WorkspaceSucceeded"):
            return Diagnosis("ready", f"tuning workspace {name} succeeded")
        job = find_object_condition(ws, "JobStarted") or {}
        return Diagnosis(
            "tuning",
            str(summary.get("message") or job.get("message") or "tuning job pending"),
            warnings,
        )
    if is_object_condition_true(ws, "WorkspaceSucceeded") and is_object_condition_true(
        ws, "InferenceReady"
    ):
        ready = [n["metadata"]["name"] for n in nodes]
        return Diagnosis(
            "ready",
            f"workspace {name} is ready",
            (f"serving on node(s) {', '.join(sorted(ready))}",) if ready else (),
        )
    failure = first_failure(pods)
    if workload is None:
        return Diagnosis("workload", "the inference workload has not been created yet", warnings)
    status = workload.get("status") or {}
    desired = (workload.get("spec") or {}).get("replicas", 1)
    details = [f"{status.get('readyReplicas', 0)}/{desired} replicas ready"]
    if failure is not None:
        details.append(f"{failure.reason}: {failure.message}")
    return Diagnosis(
        "workload",
        f"{workload.get('kind', 'workload')} {workload['metadata']['name']} is not ready",
        (*details, *warnings),
        ADVICE.get(failure.reason) if failure else None,
    )

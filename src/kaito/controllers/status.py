"""Workspace status computed from the observed world, never remembered.

Every reconcile rebuilds the conditions from what exists now (nodes, NodeClaims,
the workload and its pods, the tuning Job): a status that once said ready and
now has a crashing pod says so. Reasons and messages are upstream Kaito's words,
with the specific cause (a cloud quota error, an image that cannot be pulled) in
the message so ``kubectl describe workspace`` tells a person what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.controllers.pod_failures import PodFailure, first_failure
from kaito.runtime.conditions import Condition, find_object_condition

POD_FAILURE_REASONS = frozenset(
    {
        c.REASON_CONTAINER_OOM_KILLED,
        c.REASON_IMAGE_PULL_ERROR,
        c.REASON_CONTAINER_START_ERROR,
        c.REASON_CONTAINER_CRASH_LOOP_BACKOFF,
        c.REASON_POD_EVICTED,
        c.REASON_UNSCHEDULABLE,
    }
)


@attrs.frozen(kw_only=True)
class NodeObservation:
    """What the controller saw of the Workspace's GPU nodes."""

    required: int
    ready_nodes: Sequence[str]
    nodeclaims: Sequence[dict[str, Any]] = ()
    auto_provisioning: bool = True
    selector: str = ""
    gpu: bool = True
    """Whether the nodes must have GPUs (not for a CPU preset or instance type)."""


def nodeclaim_problem(claims: Sequence[dict[str, Any]]) -> Condition | None:
    """The first NodeClaim that failed to launch, with the cloud's reason and message."""
    for claim in sorted(claims, key=lambda x: x["metadata"]["name"]):
        for kind in ("Launched", "Registered", "Initialized"):
            cond = find_object_condition(claim, kind)
            if cond is not None and cond.get("status") == "False" and cond.get("message"):
                name = claim["metadata"]["name"]
                return Condition(
                    c.CONDITION_RESOURCE_READY,
                    "False",
                    cond.get("reason") or c.REASON_NODECLAIM_NOT_READY,
                    f"NodeClaim {name} {kind}=False: {cond['message']}"[:1024],
                )
    return None


def resource_condition(obs: NodeObservation) -> Condition:
    ready = len(obs.ready_nodes)
    kind = "GPU nodes" if obs.gpu else "nodes"
    if ready >= obs.required:
        return Condition(
            c.CONDITION_RESOURCE_READY,
            "True",
            c.REASON_RESOURCE_SUCCESS,
            "workspace resource is ready",
        )
    if not obs.auto_provisioning:
        return Condition(
            c.CONDITION_RESOURCE_READY,
            "False",
            c.REASON_NODE_NOT_READY,
            f"{ready}/{obs.required} ready {kind} match labelSelector {obs.selector} and node "
            f"auto-provisioning is disabled: label existing {kind} with these labels",
        )
    problem = nodeclaim_problem(obs.nodeclaims)
    if problem is not None:
        return problem
    names = sorted(str(claim["metadata"]["name"]) for claim in obs.nodeclaims)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return Condition(
        c.CONDITION_RESOURCE_READY,
        "False",
        c.REASON_NODECLAIM_NOT_READY,
        f"waiting for {kind}: {ready}/{obs.required} ready, "
        f"{len(names)} NodeClaim(s) provisioning" + (f" ({shown})" if names else ""),
    )


def workload_ready(workload: dict[str, Any]) -> bool:
    """Deployment/StatefulSet rolled out: every replica updated and ready."""
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    desired = int(spec.get("replicas", 1))
    generation = int((workload.get("metadata") or {}).get("generation", 0))
    return (
        int(status.get("observedGeneration", 0)) >= generation
        and int(status.get("updatedReplicas", 0)) >= desired
        and int(status.get("readyReplicas", 0)) >= desired
        and int(status.get("replicas", 0)) <= desired
    )


def inference_condition(
    workload: dict[str, Any] | None, pods: Sequence[dict[str, Any]], resource: Condition
) -> Condition:
    kind = c.CONDITION_INFERENCE_READY
    if workload is None:
        waiting = "waiting for nodes" if not resource.is_true else "creating the workload"
        return Condition(
            kind, "False", c.REASON_INFERENCE_PENDING, f"Inference workload is not ready: {waiting}"
        )
    failure: PodFailure | None = first_failure(pods)
    # a crash-looping pod can be Ready between its crashes (no readiness probe): not ready
    if workload_ready(workload) and (
        failure is None or failure.reason != c.REASON_CONTAINER_CRASH_LOOP_BACKOFF
    ):
        return Condition(
            kind, "True", c.REASON_INFERENCE_SUCCESS, "Inference has been deployed successfully"
        )
    if failure is not None:
        return Condition(kind, "False", failure.reason, failure.message)
    status = workload.get("status") or {}
    desired = int((workload.get("spec") or {}).get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    return Condition(
        kind,
        "False",
        c.REASON_INFERENCE_PENDING,
        f"Inference workload is not ready: {ready}/{desired} replicas ready",
    )


PROGRESS_REASONS = frozenset(
    {c.REASON_NODECLAIM_NOT_READY, c.REASON_INFERENCE_PENDING, c.REASON_WORKSPACE_PENDING}
)
"""Reasons of a Workspace on its way (nodes or pods coming): nothing for a user to act on."""


def only_progress(conditions: Sequence[Condition]) -> bool:
    """Whether every condition that is not True just says the Workspace is on its way (such a
    status may wait a moment: :mod:`kaito.runtime.status_hold`); a problem (a quota refusal,
    a crash loop, nodes to label) is news at once."""
    return all(cond.is_true or cond.reason in PROGRESS_REASONS for cond in conditions)


def summary(status: str, reason: str, message: str) -> list[Condition]:
    """WorkspaceSucceeded and its v1alpha1 twin WorkspaceReady, which always say the same
    (the WORKSPACEREADY column of v1alpha1 reads the twin)."""
    return [
        Condition(c.CONDITION_WORKSPACE_SUCCEEDED, status, reason, message),
        Condition(c.CONDITION_WORKSPACE_READY, status, reason, message),
    ]


def invalid_spec(message: str) -> list[Condition]:
    """The summary of a Workspace that cannot run as written (``InvalidSpec``)."""
    return summary("False", c.REASON_INVALID_SPEC, message[:1024])


def summary_conditions(resource: Condition, inference: Condition) -> list[Condition]:
    """WorkspaceSucceeded and its v1alpha1 twin WorkspaceReady (same status/reason/message)."""
    if resource.is_true and inference.is_true:
        status, reason, message = "True", c.REASON_WORKSPACE_SUCCEEDED, "workspace succeeds"
    elif inference.reason in POD_FAILURE_REASONS:
        status, reason, message = "False", c.REASON_WORKSPACE_FAILED, inference.message
    elif not resource.is_true:
        status, reason = "False", c.REASON_WORKSPACE_PENDING
        message = "workspace is waiting for nodes"
    else:
        status, reason = "False", c.REASON_WORKSPACE_PENDING
        message = "workspace is waiting for inference workload readiness"
    return summary(status, reason, message)


def inference_state(summary: Condition, inference: Condition) -> str:
    if summary.is_true:
        return c.STATE_READY
    if inference.reason in POD_FAILURE_REASONS:
        return c.STATE_NOT_READY
    return c.STATE_PENDING


def _job_condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The Job's ``Complete``/``Failed`` condition when it is True."""
    cond = find_object_condition(job, kind)
    return cond if cond is not None and cond.get("status") == "True" else None


def tuning_conditions(
    job: dict[str, Any] | None, pods: Sequence[dict[str, Any]], resource: Condition
) -> tuple[list[Condition], str]:
    """JobStarted, WorkspaceSucceeded, WorkspaceReady and the state of a tuning Workspace."""
    started_kind = c.CONDITION_JOB_STARTED
    status = (job or {}).get("status") or {}
    failed = _job_condition(job, "Failed") if job else None
    complete = _job_condition(job, "Complete") if job else None
    active = sum(int(status.get(k, 0) or 0) for k in ("active", "ready", "succeeded", "failed"))
    if failed is not None:
        detail = failed.get("message") or failed.get("reason") or ""
        message = f"tuning job failed: {detail}".rstrip(": ")[:256]
        started = Condition(started_kind, "False", c.REASON_TUNING_FAILED, message)
        overall = ("False", c.REASON_WORKSPACE_FAILED, message)
        state = c.STATE_FAILED
    elif complete is not None:
        started = Condition(started_kind, "True", c.REASON_TUNING_STARTED, "Tuning job has started")
        overall = ("True", c.REASON_WORKSPACE_SUCCEEDED, "workspace succeeds")
        state = c.STATE_SUCCEEDED
    elif job is not None and active > 0:
        started = Condition(started_kind, "True", c.REASON_TUNING_STARTED, "Tuning job has started")
        failure = first_failure(pods)
        message = "workspace has not completed yet, tuning job is running"
        if failure is not None:
            message = f"{message}: {failure.reason}: {failure.message}"[:256]
        overall = ("False", c.REASON_WORKSPACE_PENDING, message)
        state = c.STATE_RUNNING
    else:
        failure = first_failure(pods)
        message = "Tuning job has not started"
        if job is None and not resource.is_true:
            message += ": waiting for nodes"
        elif failure is not None:
            message = f"{message}: {failure.reason}: {failure.message}"[:256]
        started = Condition(started_kind, "False", c.REASON_TUNING_PENDING, message)
        overall = (
            "False",
            c.REASON_WORKSPACE_PENDING,
            "workspace is initializing, tuning job has not started",
        )
        state = c.STATE_PENDING
    return [started, *summary(*overall)], state

"""Status is recomputed from observed objects; reasons name the real cause."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kaito.controllers import status as s
from kaito.controllers.pod_failures import classify_pod


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": status}


def waiting(reason: str, **extra: Any) -> dict[str, Any]:
    return {"name": "model", "image": "img:1", "state": {"waiting": {"reason": reason}}, **extra}


@pytest.mark.parametrize(
    ("pod_status", "reason"),
    [
        ({"containerStatuses": [waiting("ImagePullBackOff")]}, "ImagePullError"),
        ({"containerStatuses": [waiting("ErrImagePull")]}, "ImagePullError"),
        ({"initContainerStatuses": [waiting("ErrImagePull")]}, "ImagePullError"),
        ({"containerStatuses": [waiting("CrashLoopBackOff")]}, "ContainerCrashLoopBackOff"),
        (
            {
                "containerStatuses": [
                    waiting("CrashLoopBackOff", lastState={"terminated": {"reason": "OOMKilled"}})
                ]
            },
            "ContainerOOMKilled",
        ),
        ({"containerStatuses": [waiting("CreateContainerConfigError")]}, "ContainerStartError"),
        ({"reason": "Evicted", "message": "low memory"}, "PodEvicted"),
        (
            {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                    }
                ]
            },
            "Unschedulable",
        ),
    ],
)
def test_pod_failures_are_classified(pod_status: dict[str, Any], reason: str) -> None:
    failure = classify_pod(pod("p-0", **pod_status))
    assert failure is not None
    assert failure.reason == reason
    assert "p-0" in failure.message
    assert len(failure.message) <= 256


def test_running_pod_is_not_a_failure() -> None:
    running = {"name": "model", "state": {"running": {}}, "ready": True}
    assert classify_pod(pod("p", phase="Running", containerStatuses=[running])) is None
    assert classify_pod(pod("p", containerStatuses=[waiting("ContainerCreating")])) is None


def test_resource_ready_when_enough_nodes() -> None:
    cond = s.resource_condition(s.NodeObservation(required=1, ready_nodes=["n1"]))
    assert (cond.status, cond.reason) == ("True", "workspaceResourceStatusSuccess")


def test_resource_shows_the_cloud_error_of_a_nodeclaim() -> None:
    claim = {
        "metadata": {"name": "ws123"},
        "status": {
            "conditions": [
                {
                    "type": "Launched",
                    "status": "False",
                    "reason": "QuotaExceeded",
                    "message": "Operation could not be completed as it results in exceeding quota",
                }
            ]
        },
    }
    cond = s.resource_condition(s.NodeObservation(required=1, ready_nodes=[], nodeclaims=[claim]))
    assert cond.status == "False"
    assert cond.reason == "QuotaExceeded"
    assert "ws123" in cond.message
    assert "exceeding quota" in cond.message


def test_byo_without_nodes_says_what_to_do() -> None:
    obs = s.NodeObservation(
        required=1, ready_nodes=[], auto_provisioning=False, selector="apps=phi-3"
    )
    cond = s.resource_condition(obs)
    assert cond.status == "False"
    assert "apps=phi-3" in cond.message
    assert "auto-provisioning is disabled" in cond.message


def deployment(ready: int, replicas: int = 1, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
        },
    }


RESOURCE_OK = s.Condition("ResourceReady", "True", "workspaceResourceStatusSuccess", "")


def test_inference_ready_and_summary_true() -> None:
    inference = s.inference_condition(deployment(ready=1), [], RESOURCE_OK)
    assert inference.is_true
    summary = s.summary_conditions(RESOURCE_OK, inference)
    assert [(x.type, x.status) for x in summary] == [
        ("WorkspaceSucceeded", "True"),
        ("WorkspaceReady", "True"),
    ]
    assert s.inference_state(summary[0], inference) == "Ready"


def test_inference_pod_failure_surfaces_in_reason_and_summary() -> None:
    pods = [pod("ws-abc", containerStatuses=[waiting("ImagePullBackOff")])]
    inference = s.inference_condition(deployment(ready=0), pods, RESOURCE_OK)
    assert (inference.status, inference.reason) == ("False", "ImagePullError")
    summary = s.summary_conditions(RESOURCE_OK, inference)
    assert summary[0].reason == "workspaceFailed"
    assert s.inference_state(summary[0], inference) == "NotReady"


def test_unobserved_generation_is_not_ready() -> None:
    dep = deployment(ready=1)
    dep["metadata"]["generation"] = 2
    assert not s.workload_ready(dep)


def job(**status: Any) -> dict[str, Any]:
    return {"status": status}


@pytest.mark.parametrize(
    ("the_job", "started", "summary", "state"),
    [
        (None, "False", "False", "Pending"),
        (job(active=1), "True", "False", "Running"),
        (
            job(succeeded=1, conditions=[{"type": "Complete", "status": "True"}]),
            "True",
            "True",
            "Succeeded",
        ),
        (
            job(
                failed=1,
                conditions=[
                    {
                        "type": "Failed",
                        "status": "True",
                        "message": "Job has reached the specified backoff limit",
                    }
                ],
            ),
            "False",
            "False",
            "Failed",
        ),
    ],
)
def test_tuning_conditions(
    the_job: dict[str, Any] | None, started: str, summary: str, state: str
) -> None:
    conds, got_state = s.tuning_conditions(the_job, [], RESOURCE_OK)
    assert [x.status for x in conds] == [started, summary, summary]
    assert got_state == state
    if state == "Failed":
        assert "backoff limit" in conds[1].message


def test_a_failed_weights_pull_says_so_in_the_registrys_words() -> None:
    oras = (
        "Error: failed to resolve 10.245.0.1:5000/kaito/kaito-gone:1: "
        "10.245.0.1:5000/kaito/kaito-gone:1: not found\n"
    )
    downloader = {
        "name": "model-weights-downloader",
        "image": "oras:1",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": oras}},
    }
    failure = classify_pod(pod("p-0", initContainerStatuses=[downloader]))
    assert failure is not None
    assert failure.reason == "ModelWeightsPullFailed"
    assert failure.message.startswith("pod p-0: cannot pull the model weights: Error: failed")
    assert failure.message.endswith("kaito-gone:1: not found")


def test_a_crashing_server_reports_its_last_log_lines_not_the_back_off() -> None:
    log = (
        "INFO loading meta-llama/Llama-3.1-8B-Instruct\n"
        "Traceback (most recent call last):\n"
        "OSError: You are trying to access a gated repo. 401 Client Error: Unauthorized\n"
    )
    server = waiting(
        "CrashLoopBackOff",
        lastState={"terminated": {"exitCode": 1, "reason": "Error", "message": log}},
    )
    server["state"]["waiting"]["message"] = "back-off 40s restarting failed container"
    failure = classify_pod(pod("p-0", containerStatuses=[server]))
    assert failure is not None and failure.reason == "ContainerCrashLoopBackOff"
    assert "(last exit code 1)" in failure.message
    assert failure.message.endswith("401 Client Error: Unauthorized")
    assert "back-off" not in failure.message


NOW = dt.datetime(2026, 12, 2, 12, 0, 0, tzinfo=dt.UTC)


def restarted(seconds_up: int, *, exit_code: int = 3) -> dict[str, Any]:
    """A container running again ``seconds_up`` after a run that exited with ``exit_code``."""
    started = (NOW - dt.timedelta(seconds=seconds_up)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "name": "model",
        "image": "img:1",
        "ready": True,
        "restartCount": 2,
        "state": {"running": {"startedAt": started}},
        "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error"}},
    }


def test_a_container_that_just_exited_non_zero_is_crash_looping() -> None:
    exited = {"name": "model", "restartCount": 1, "state": {"terminated": {"exitCode": 3}}}
    failure = classify_pod(pod("p-0", containerStatuses=[exited]), NOW)
    assert failure is not None and failure.reason == "ContainerCrashLoopBackOff"
    assert "last exit code 3" in failure.message


def test_a_container_running_again_right_after_a_crash_is_still_crash_looping() -> None:
    """Between two crashes a server without a readiness probe is Running and Ready; the
    Workspace must not flap to ready with every restart."""
    failure = classify_pod(pod("p-0", containerStatuses=[restarted(2)]), NOW)
    assert failure is not None and failure.reason == "ContainerCrashLoopBackOff"
    assert "last exit code 3" in failure.message and "restarted 2 time(s)" in failure.message
    ready_workload = {
        "kind": "Deployment",
        "metadata": {"name": "ws", "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
        },
    }
    resource = s.Condition("ResourceReady", "True", "workspaceResourceStatusSuccess", "")
    assert s.workload_ready(ready_workload)
    crashing = pod("ws-0", containerStatuses=[restarted(2)])
    crashing["status"]["containerStatuses"][0]["state"]["running"]["startedAt"] = dt.datetime.now(
        dt.UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    cond = s.inference_condition(ready_workload, [crashing], resource)
    assert (cond.status, cond.reason) == ("False", "ContainerCrashLoopBackOff")


@pytest.mark.parametrize(
    "container",
    [restarted(61), restarted(2, exit_code=0)],
    ids=["up-for-a-minute", "last-run-exited-0"],
)
def test_a_restart_that_held_or_a_clean_exit_is_no_failure(container: dict[str, Any]) -> None:
    assert classify_pod(pod("p-0", containerStatuses=[container]), NOW) is None


def test_only_progress_lets_a_pending_status_wait_but_never_a_problem() -> None:
    from kaito.api import constants as c
    from kaito.controllers.status import only_progress
    from kaito.runtime.conditions import Condition

    pending = Condition(c.CONDITION_RESOURCE_READY, "False", c.REASON_NODECLAIM_NOT_READY, "")
    ready = Condition(c.CONDITION_RESOURCE_READY, "True", c.REASON_RESOURCE_SUCCESS, "")
    quota = Condition(c.CONDITION_RESOURCE_READY, "False", "QuotaExceeded", "no quota")
    assert only_progress([pending, ready])
    assert not only_progress([quota, ready])

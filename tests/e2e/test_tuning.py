"""Tuning Workspaces end to end: the Job with its init container and pusher sidecar,
JobStarted / WorkspaceSucceeded from the Job's fate (kwok runs the pods), re-runs on change."""

from __future__ import annotations

from typing import Any

from kaito.testenv import ControlPlane
from tests.e2e.conftest import Operator
from tests.e2e.helpers import apply_workspace, sample, workspace
from tests.support.waiting import condition, get_json, wait_until

FAIL_URL = "https://kaito.invalid/kwok/fail.parquet"


def _conditions(plane: ControlPlane, name: str, namespace: str, **want: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        ws = workspace(plane, name, namespace)
        ok = all((c := condition(ws, k)) is not None and c["status"] == v for k, v in want.items())
        return ws if ok else None

    return wait_until(probe, timeout=120, what=f"{name} conditions {want}")


def test_tuning_workspace_runs_its_job_to_success(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-tuning-phi-3-mini.yaml")
    name = ws["metadata"]["name"]
    apply_workspace(control_plane, ws, namespace)

    job = wait_until(
        lambda: get_json(control_plane, "job", name, "-n", namespace), what="tuning Job created"
    )
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["data-downloader"]
    urls = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}["DATA_URLS"]
    assert urls == ws["tuning"]["input"]["urls"][0]
    assert pod["initContainers"][0]["command"][:3] == ["python3", "-m", "kaito.tuning.fetch"]
    assert [c["name"] for c in pod["containers"]] == [name, "pusher"]
    assert f"--image={ws['tuning']['output']['image']}" in pod["containers"][1]["command"]
    assert get_json(control_plane, "configmap", f"{name}-tuning-params", "-n", namespace)

    done = _conditions(
        control_plane,
        name,
        namespace,
        ResourceReady="True",
        JobStarted="True",
        WorkspaceSucceeded="True",
        WorkspaceReady="True",
    )
    assert done["status"]["state"] == "Succeeded"
    table = control_plane.kubectl("get", "workspace", name, "-n", namespace).stdout.splitlines()
    assert table[1].split()[1:][:1] == ["Standard_NC6s_v3"]
    assert "Succeeded" in table[1].split()

    # A new input is a new revision: the Job is replaced and runs again.
    ws["tuning"]["input"]["urls"] = ["https://example.com/datasets/other.parquet"]
    apply_workspace(control_plane, ws, namespace)

    def rerun() -> dict[str, Any] | None:
        got = get_json(control_plane, "job", name, "-n", namespace)
        revision = ((got or {}).get("metadata", {}).get("annotations") or {}).get(
            "workspace.kaito.io/revision"
        )
        return got if revision == "2" else None

    rerun_job = wait_until(rerun, timeout=120, what="Job re-created for revision 2")
    env = rerun_job["spec"]["template"]["spec"]["initContainers"][0]["env"]
    assert {"name": "DATA_URLS", "value": "https://example.com/datasets/other.parquet"} in env
    _conditions(control_plane, name, namespace, WorkspaceSucceeded="True")


def test_failing_tuning_pod_shows_the_failure(
    operator: Operator, control_plane: ControlPlane, namespace: str
) -> None:
    ws = sample("workspace-tuning-phi-3-mini.yaml")
    ws["metadata"]["name"] = "tuning-fails"
    ws["tuning"]["input"]["urls"] = [FAIL_URL]
    apply_workspace(control_plane, ws, namespace)

    def failed_state() -> dict[str, Any] | None:
        got = workspace(control_plane, "tuning-fails", namespace)
        return got if (got or {}).get("status", {}).get("state") == "Failed" else None

    failed = wait_until(failed_state, timeout=120, what="tuning workspace Failed")
    summary = condition(failed, "WorkspaceSucceeded")
    assert summary is not None
    assert (summary["status"], summary["reason"]) == ("False", "workspaceFailed")
    assert "tuning job failed" in summary["message"]
    started = condition(failed, "JobStarted")
    assert started is not None
    assert (started["status"], started["reason"]) == ("False", "WorkspaceTuningJobStatusFailed")

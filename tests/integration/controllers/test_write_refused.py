"""A write the reconciler makes, refused by the API server with a 422 for a reason kaito's own
validation cannot know, ends in ``InvalidSpec`` with the server's message, and no retry loop
(issue #15, item 3).

The refusal is real: a ValidatingAdmissionPolicy (CEL, ``admissionregistration.k8s.io/v1``)
bound to the test's namespace denies Deployments whose images are not from
``approved.example/``, as a cluster's own policy might. A policy denial without a ``reason`` is
``422 Invalid`` (checked below against the real API server before anything relies on it; a
``reason: Forbidden`` would make it a 403, which the reconciler retries on purpose). The
Workspace itself is valid: kaito's pre-validation (``_invalid``) passes it, its revision is
recorded, and only the workload's write is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kaito import kinds
from kaito.api import constants as c
from kaito.runtime import metrics
from kaito.runtime import resources as r
from kaito.runtime.errors import ApiError, Invalid, NotFound
from kaito.runtime.events import EventRecorder
from kaito.runtime.reconcile import Request, Result
from tests.integration.controllers.conftest import (
    NC6,
    Cluster,
    template_workspace,
    workspace_reconciler,
)
from tests.support.waiting import async_wait_until, condition

POLICY = r.ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingAdmissionPolicy",
    "validatingadmissionpolicies",
    namespaced=False,
)
BINDING = r.ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingAdmissionPolicyBinding",
    "validatingadmissionpolicybindings",
    namespaced=False,
)
RULE = "images must come from approved.example/, not "


@contextlib.asynccontextmanager
async def approved_images_only(cluster: Cluster) -> AsyncIterator[None]:
    """The policy and its binding (cluster-scoped, matching the test's namespace only), in
    force once a dry-run create of an unapproved Deployment is refused; removed on exit."""
    name = f"approved-images-{cluster.namespace}"[:63]
    await cluster.client.create(
        POLICY,
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "object.spec.template.spec.containers.all(x, "
                        "x.image.startsWith('approved.example/'))",
                        "messageExpression": f"'{RULE}' + "
                        "object.spec.template.spec.containers[0].image",
                    }
                ],
            },
        },
    )
    try:
        await cluster.client.create(
            BINDING,
            {
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}
                        }
                    },
                },
            },
        )
        refusal = await async_wait_until(
            lambda: _dry_run_refusal(cluster), timeout=60, interval=0.2, what="the policy"
        )
        # what the real API server answers a denial by this policy: 422 Invalid
        assert isinstance(refusal, Invalid), refusal
        assert (refusal.code, refusal.reason) == (422, "Invalid"), refusal.status
        yield
    finally:
        for rt in (BINDING, POLICY):
            with contextlib.suppress(NotFound):
                await cluster.client.delete(rt, name)


async def _dry_run_refusal(cluster: Cluster) -> ApiError | None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "probe"},
        "spec": {
            "selector": {"matchLabels": {"probe": "1"}},
            "template": {
                "metadata": {"labels": {"probe": "1"}},
                "spec": {"containers": [{"name": "probe", "image": "elsewhere.example/x:1"}]},
            },
        },
    }
    try:
        await cluster.client.request(
            "POST", r.DEPLOYMENT.path(cluster.namespace), query=[("dryRun", "All")], body=body
        )
    except ApiError as exc:
        return exc
    return None


def _sample_sum(metric: str, **labels: str) -> float:
    """The sum of a metric's samples (this process's registry) whose labels include ``labels``."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == metric and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def refused_writes() -> int:
    """Requests the API server answered with 422 (the test itself sends none after the probe)."""
    return int(_sample_sum("rest_client_requests_total", code="422"))


async def _until(what: str, probe: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    return await async_wait_until(probe, timeout=timeout, interval=0.1, what=what)


async def _poke_and_settle(cluster: Cluster, name: str, value: str) -> int:
    """An annotation on the Workspace: one watch event, so one more reconcile, which meets the
    same 422 (only this namespace's policy refuses anything) and writes nothing to the
    Workspace. Returns the refused writes so far once that reconcile's has been counted.

    The reconcile counters of the process cannot serve as the barrier: the controller
    watches every namespace, and other tests' Workspaces are reconciled by it too."""
    before = refused_writes()
    await cluster.client.patch(
        kinds.WORKSPACE,
        name,
        {"metadata": {"annotations": {"test.kaito.sh/poke": value}}},
        cluster.namespace,
    )

    async def refused() -> int | None:
        now = refused_writes()
        return now if now > before else None

    settled_at: int = await _until(f"the refused write of poke {value}", refused)
    return settled_at


async def test_a_422_from_a_write_is_invalid_spec_with_the_servers_message_and_no_retry(
    cluster: Cluster,
) -> None:
    selector = f"refused-{cluster.namespace}"[:63]
    await cluster.ready_nodes(1, {"apps": selector, c.LABEL_INSTANCE_TYPE: NC6})
    async with approved_images_only(cluster), cluster.controller() as manager:
        await cluster.create_workspace(template_workspace("refused", selector, "example.com/llm:1"))

        async def invalid_spec() -> dict[str, Any] | None:
            ws = await cluster.workspace("refused")
            ready = condition(ws, c.CONDITION_WORKSPACE_READY)
            if ready and ready["reason"] == c.REASON_INVALID_SPEC:
                return ws
            return None

        ws = await _until("WorkspaceReady=False InvalidSpec", invalid_spec)
        server_says = f"denied request: {RULE}example.com/llm:1"
        for kind in (c.CONDITION_WORKSPACE_READY, c.CONDITION_WORKSPACE_SUCCEEDED):
            cond = condition(ws, kind)
            assert cond is not None, (kind, ws.get("status"))
            assert cond["status"] == "False", cond
            assert cond["message"].startswith(
                "the API server refused an object made from this Workspace: 422 Invalid: "
            ), cond
            assert "ValidatingAdmissionPolicy" in cond["message"], cond
            assert server_says in cond["message"], cond
        # kaito's own validation passed it: the revision was recorded before the write
        assert ws["metadata"]["annotations"][c.ANNOTATION_WORKSPACE_REVISION] == "1"
        with pytest.raises(NotFound):
            await cluster.client.get(r.DEPLOYMENT, "refused", cluster.namespace)

        async def warning() -> dict[str, Any] | None:
            found = await cluster.events("refused", c.REASON_INVALID_SPEC)
            return found[0] if found else None

        event = await _until("an InvalidSpec Event", warning)
        assert event["type"] == "Warning", event
        assert server_says in event["message"], event

        # Barriers, not sleeps: each poke is one more watch event, met by one refused write.
        first = await _poke_and_settle(cluster, "refused", "1")
        second = await _poke_and_settle(cluster, "refused", "2")
        # nothing wrote in between: a retry of the refused write would be one more 422
        assert second - first == 1, (first, second)
        # and a pass over the refused Workspace asks for no retry of any kind: no
        # exception (the work queue's rate-limited retry), no requeue, no requeue_after
        reconciler = workspace_reconciler(
            manager.client,
            manager.cache,
            settings=cluster.settings(),
            recorder=EventRecorder(manager.client, component="kaito-workspace-test"),
        )
        result = await reconciler.reconcile(Request(cluster.namespace, "refused"))
        assert result == Result(), result
        assert refused_writes() == second + 1  # that pass met the same 422 once

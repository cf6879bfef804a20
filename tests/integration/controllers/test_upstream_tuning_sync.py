"""Under the ``upstream`` contract the reconciler creates upstream's tuning Job and copies the
default training ConfigMap from the release namespace, as upstream does.

Real API server, in-process reconciler (``runtime_contract=upstream``), a BYO kwok GPU node so
that the Job is created. The copy is made once, verbatim (labels, annotations, data), with no
ownerReference, and an existing copy is left as it is; a release namespace without the
template gets kaito's packaged copy. The Job's fields are compared with upstream's in
``tests/integration/parity``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

from kaito.contracts import tuning_configmaps
from kaito.runtime import resources as r
from kaito.runtime.errors import NotFound
from tests.integration.controllers.test_bounded_nodeclaims import (  # noqa: F401  (fixture)
    Harness,
    make_harness,
)
from tests.integration.controllers.test_revision_upgrade import PUSH_SECRET, _tuning_workspace
from tests.support.kwok_nodes import gpu_node
from tests.support.waiting import async_wait_until

TEMPLATE = "qlora-params-template"


async def _tuned(h: Harness, name: str) -> dict[str, Any]:
    """Reconcile ``name`` until its Job exists; the Job."""

    async def job() -> dict[str, Any] | None:
        await h.reconcile(name)
        return h.cache.get(r.JOB, name, h.namespace)

    return await async_wait_until(job, timeout=60, what=f"the tuning Job of {name}")


async def _release(h: Harness, name: str, template: dict[str, Any] | None) -> None:
    await h.client.create(r.NAMESPACE, {"metadata": {"name": name}})
    if template is not None:
        await h.client.create(r.CONFIG_MAP, template, name)


async def _drop(h: Harness, release: str, node: str) -> None:
    for rt, name in ((r.NAMESPACE, release), (r.NODE, node)):
        with contextlib.suppress(NotFound):
            await h.client.delete(rt, name)


async def test_the_default_config_is_copied_once_and_the_job_is_upstreams(
    make_harness: Callable[..., Any],  # noqa: F811  (the fixture imported above)
    namespace: str,
) -> None:
    release = f"{namespace}-release"
    h: Harness = await make_harness(
        runtime_contract="upstream",
        node_auto_provisioning=False,
        system_namespace=release,
        preset_registry="mcr.microsoft.com/aks/kaito",
    )
    node = f"{namespace}-gpu"[:63]
    template = copy.deepcopy(tuning_configmaps.configmap("qlora"))
    template["metadata"] = {
        "name": TEMPLATE,
        "labels": {"installed-by": "test"},
        "annotations": {"kaito.sh/note": "from the release namespace"},
    }
    await _release(h, release, template)
    try:
        await h.client.create(r.NODE, gpu_node(node, labels={"apps": "first"}))
        await h.client.create(r.SECRET, PUSH_SECRET, h.namespace)
        await h.apply(_tuning_workspace("first"))
        job = await _tuned(h, "first")

        pod = job["spec"]["template"]["spec"]
        assert [x["name"] for x in pod["initContainers"]] == [
            "model-weights-downloader",
            "data-downloader",
        ]
        assert [x["name"] for x in pod["containers"]] == ["first", "pusher", "pause"]
        assert pod["containers"][0]["image"] == "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0"
        assert pod["shareProcessNamespace"] is True
        (config,) = [v for v in pod["volumes"] if v["name"] == "config-volume"]
        assert config["configMap"]["name"] == TEMPLATE

        copied = await h.client.get(r.CONFIG_MAP, TEMPLATE, h.namespace)
        assert copied["data"] == template["data"]
        assert copied["metadata"]["labels"] == {"installed-by": "test"}
        assert copied["metadata"]["annotations"] == template["metadata"]["annotations"]
        assert "ownerReferences" not in copied["metadata"]  # it outlives the Workspace

        # An existing copy is the namespace's: a second Workspace mounts it as it is.
        edited = await h.client.replace(
            r.CONFIG_MAP, {**copied, "data": {**copied["data"], "note": "edited here"}}
        )
        await async_wait_until(lambda: _cached_note(h), timeout=30, what="the edited copy cached")
        await h.client.patch(r.NODE, node, {"metadata": {"labels": {"apps": "second"}}})
        await h.apply(_tuning_workspace("second"))
        await _tuned(h, "second")
        again = await h.client.get(r.CONFIG_MAP, TEMPLATE, h.namespace)
        assert again["metadata"]["resourceVersion"] == edited["metadata"]["resourceVersion"]
    finally:
        await _drop(h, release, node)


async def _cached_note(h: Harness) -> bool | None:
    cm = h.cache.get(r.CONFIG_MAP, TEMPLATE, h.namespace)
    return True if cm and (cm.get("data") or {}).get("note") == "edited here" else None


async def test_without_a_template_in_the_release_namespace_kaitos_copy_is_used(
    make_harness: Callable[..., Any],  # noqa: F811  (the fixture imported above)
    namespace: str,
) -> None:
    release = f"{namespace}-release"
    h: Harness = await make_harness(
        runtime_contract="upstream", node_auto_provisioning=False, system_namespace=release
    )
    node = f"{namespace}-gpu"[:63]
    await _release(h, release, None)
    try:
        await h.client.create(r.NODE, gpu_node(node, labels={"apps": "bare"}))
        await h.client.create(r.SECRET, PUSH_SECRET, h.namespace)
        await h.apply(_tuning_workspace("bare"))
        await _tuned(h, "bare")
        copied = await h.client.get(r.CONFIG_MAP, TEMPLATE, h.namespace)
        assert copied["data"] == tuning_configmaps.configmap("qlora")["data"]
        assert copied["metadata"]["namespace"] == h.namespace
    finally:
        await _drop(h, release, node)

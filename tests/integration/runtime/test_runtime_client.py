"""Client against the real apiserver: typed errors, patch types, SSA, status, delete."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from kaito.runtime import metrics
from kaito.runtime.client import Client, ClientConfig, PatchType
from kaito.runtime.errors import AlreadyExists, Conflict, Invalid, NotFound, TransportError
from kaito.runtime.resources import CONFIG_MAP, NAMESPACE, ResourceType
from kaito.testenv import ControlPlane


def cm(name: str, ns: str, **data: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns}, "data": dict(data)}


async def test_crud_and_typed_errors(client: Client, namespace: str) -> None:
    created = await client.create(CONFIG_MAP, cm("a", namespace, x="1"))
    assert created["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        await client.create(CONFIG_MAP, cm("a", namespace))
    with pytest.raises(NotFound):
        await client.get(CONFIG_MAP, "missing", namespace)
    with pytest.raises(Invalid) as invalid:
        await client.create(CONFIG_MAP, cm("Not_Valid", namespace))
    assert "RFC 1123" in invalid.value.message
    stale = dict(created, data={"x": "2"})
    await client.replace(CONFIG_MAP, stale)
    with pytest.raises(Conflict):  # same resourceVersion again: optimistic lock fails
        await client.replace(CONFIG_MAP, dict(created, data={"x": "3"}))
    with pytest.raises(ValueError):
        await client.get(CONFIG_MAP, "a")  # namespaced kind needs a namespace


async def test_patch_types_and_server_side_apply(client: Client, namespace: str) -> None:
    await client.create(CONFIG_MAP, cm("p", namespace, a="1", b="2"))
    merged = await client.patch(CONFIG_MAP, "p", {"data": {"b": None, "c": "3"}}, namespace)
    assert merged["data"] == {"a": "1", "c": "3"}
    patched = await client.patch(
        CONFIG_MAP,
        "p",
        [{"op": "replace", "path": "/data/a", "value": "9"}],
        namespace,
        patch_type=PatchType.JSON,
    )
    assert patched["data"]["a"] == "9"
    with pytest.raises(Invalid):  # a failing JSON-patch test op
        await client.patch(
            CONFIG_MAP,
            "p",
            [{"op": "test", "path": "/data/a", "value": "0"}],
            namespace,
            patch_type=PatchType.JSON,
        )
    applied = await client.apply(CONFIG_MAP, cm("p", namespace, d="4"), field_manager="kaito-test")
    assert applied["data"]["d"] == "4"
    managers = {f["manager"] for f in applied["metadata"]["managedFields"]}
    assert "kaito-test" in managers


async def test_status_subresource(client: Client, namespace: str, gizmo_crd: ResourceType) -> None:
    obj = await client.create(
        gizmo_crd, {"metadata": {"name": "g", "namespace": namespace}, "spec": {"size": 1}}
    )
    # writes to the main resource ignore status, and /status ignores spec
    with_status = await client.patch(
        gizmo_crd,
        "g",
        {"status": {"phase": "Ready"}, "spec": {"size": 5}},
        namespace,
        subresource="status",
    )
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["spec"] == {"size": 1}
    assert with_status["metadata"]["generation"] == obj["metadata"]["generation"]
    replaced = await client.replace(
        gizmo_crd, dict(with_status, status={"phase": "Done"}), subresource="status"
    )
    assert replaced["status"] == {"phase": "Done"}
    ignored = await client.patch(gizmo_crd, "g", {"status": {"phase": "X"}}, namespace)
    assert ignored["status"] == {"phase": "Done"}


async def test_list_is_paginated_and_complete(client: Client, namespace: str) -> None:
    for i in range(7):
        await client.create(CONFIG_MAP, cm(f"item-{i}", namespace))
    result = await client.list(CONFIG_MAP, namespace, page_size=2, label_selector=None)
    names = sorted(
        o["metadata"]["name"] for o in result.items if o["metadata"]["name"].startswith("item-")
    )
    assert names == [f"item-{i}" for i in range(7)]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in result.items)
    assert int(result.resource_version) > 0
    page = await client.list_page(CONFIG_MAP, namespace, limit=2)
    assert len(page.items) == 2 and page.continue_token


async def test_delete_with_propagation(client: Client, namespace: str) -> None:
    await client.create(CONFIG_MAP, cm("d", namespace))
    answer = await client.delete(CONFIG_MAP, "d", namespace, propagation_policy="Foreground")
    # foreground deletion leaves the object with a finalizer until dependents are gone
    assert answer["metadata"].get("deletionTimestamp")
    for _ in range(100):
        try:
            await client.get(CONFIG_MAP, "d", namespace)
        except NotFound:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("foreground-deleted ConfigMap never went away")
    with pytest.raises(NotFound):
        await client.delete(CONFIG_MAP, "d", namespace)


async def test_every_request_is_counted(client: Client, namespace: str) -> None:
    def count(code: str, method: str) -> float:
        value = metrics.registry.get_sample_value(
            "rest_client_requests_total", {"code": code, "method": method, "host": client.host}
        )
        return value or 0.0

    before = (count("200", "GET"), count("404", "GET"), count("201", "POST"))
    await client.list(NAMESPACE)
    with pytest.raises(NotFound):
        await client.get(CONFIG_MAP, "nothing", namespace)
    await client.create(CONFIG_MAP, cm("counted", namespace))
    after = (count("200", "GET"), count("404", "GET"), count("201", "POST"))
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)


def bare_client(host: str, timeout: float) -> Client:
    configuration = Configuration()
    configuration.host = host
    configuration.verify_ssl = False
    return Client(ApiClient(configuration), ClientConfig(timeout=timeout, qps=0))


async def test_refused_connection_is_a_counted_transport_error() -> None:
    async with bare_client("https://127.0.0.1:1", 2) as unreachable:
        with pytest.raises(TransportError):
            await unreachable.list(NAMESPACE)
        labels = {"code": "<error>", "method": "GET", "host": "127.0.0.1:1"}
        assert metrics.registry.get_sample_value("rest_client_requests_total", labels) >= 1


async def test_every_request_has_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with bare_client(f"http://127.0.0.1:{port}", 0.5) as hanging:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(TransportError):
                await hanging.get(CONFIG_MAP, "x", "default")
            assert loop.time() - start < 5
    finally:
        server.close()


async def test_client_side_qps_limit(control_plane: ControlPlane) -> None:
    async with await Client.from_kubeconfig(
        control_plane.kubeconfig, config=ClientConfig(qps=5, burst=2)
    ) as limited:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(limited.list(NAMESPACE) for _ in range(7)))
        elapsed = loop.time() - start
    # 2 immediately, then 5 more at 5/s: at least ~1 s
    assert elapsed >= 0.95

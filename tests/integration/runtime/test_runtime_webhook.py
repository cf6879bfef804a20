"""Admission webhook server called by the real apiserver over HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from kaito.runtime.client import Client
from kaito.runtime.errors import ApiError, Forbidden
from kaito.runtime.resources import (
    CONFIG_MAP,
    MUTATING_WEBHOOK_CONFIGURATION,
    VALIDATING_WEBHOOK_CONFIGURATION,
)
from kaito.runtime.webhook import AdmissionResponse, WebhookServer
from kaito.testenv import ControlPlane


def hook(name: str, port: int, path: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": {"url": f"https://127.0.0.1:{port}{path}"},
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["configmaps"],
            }
        ],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    }


async def validate(request: dict[str, Any]) -> AdmissionResponse:
    data = (request.get("object") or {}).get("data") or {}
    if "bad" in data:
        return AdmissionResponse.deny("data key 'bad' is not allowed")
    return AdmissionResponse.allow("this ConfigMap was checked")


async def mutate(request: dict[str, Any]) -> AdmissionResponse:
    labels = ((request.get("object") or {}).get("metadata") or {}).get("labels")
    ops: list[dict[str, Any]] = (
        [] if labels else [{"op": "add", "path": "/metadata/labels", "value": {}}]
    )
    ops.append({"op": "add", "path": "/metadata/labels/mutated", "value": "yes"})
    return AdmissionResponse.allow(patch=ops)


async def test_validating_and_mutating_webhooks(
    client: Client, namespace: str, control_plane: ControlPlane
) -> None:
    server = WebhookServer(
        "127.0.0.1",
        0,
        client=client,
        validating_configuration=f"{namespace}-validate",
        mutating_configuration=f"{namespace}-mutate",
    )
    server.register("/validate", validate)
    server.register("/mutate", mutate)
    port = await server.start()
    try:
        await client.create(
            VALIDATING_WEBHOOK_CONFIGURATION,
            {
                "metadata": {"name": f"{namespace}-validate"},
                "webhooks": [hook("validate.runtime-test.kaito.sh", port, "/validate", namespace)],
            },
        )
        await client.create(
            MUTATING_WEBHOOK_CONFIGURATION,
            {
                "metadata": {"name": f"{namespace}-mutate"},
                "webhooks": [hook("mutate.runtime-test.kaito.sh", port, "/mutate", namespace)],
            },
        )
        await server.inject_ca_bundle()
        stored = await client.get(VALIDATING_WEBHOOK_CONFIGURATION, f"{namespace}-validate")
        assert stored["webhooks"][0]["clientConfig"]["caBundle"] == server.tls.ca_bundle
        rv = stored["metadata"]["resourceVersion"]
        await server.inject_ca_bundle()  # already there: no write
        again = await client.get(VALIDATING_WEBHOOK_CONFIGURATION, f"{namespace}-validate")
        assert again["metadata"]["resourceVersion"] == rv

        # the apiserver picks configurations up asynchronously: wait for the first denial
        denial: ApiError | None = None
        for i in range(100):
            try:
                await client.create(
                    CONFIG_MAP,
                    {
                        "metadata": {"name": f"bad-{i}", "namespace": namespace},
                        "data": {"bad": "1"},
                    },
                )
            except ApiError as exc:
                if "data key 'bad' is not allowed" in exc.message:
                    denial = exc
                    break
            await asyncio.sleep(0.2)
        assert isinstance(denial, Forbidden), denial
        assert "denied the request: data key 'bad' is not allowed" in denial.message

        ok = await client.create(
            CONFIG_MAP, {"metadata": {"name": "good", "namespace": namespace}, "data": {"a": "1"}}
        )
        assert ok["metadata"]["labels"] == {"mutated": "yes"}
        made = await asyncio.to_thread(  # not on the loop: it serves the webhook
            control_plane.kubectl,
            "create",
            "configmap",
            "viakubectl",
            "-n",
            namespace,
            "--from-literal=a=b",
        )
        assert "Warning: this ConfigMap was checked" in made.stderr
    finally:
        await server.stop()
        for rt, name in server.configurations:
            with contextlib.suppress(ApiError):
                await client.delete(rt, name)


async def test_handler_exceptions_deny_with_500(client: Client) -> None:
    import aiohttp

    async def broken(request: dict[str, Any]) -> AdmissionResponse:
        raise RuntimeError("boom")

    server = WebhookServer("127.0.0.1", 0)
    server.register("/broken", broken)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            review = {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"uid": "u-1"},
            }
            async with session.post(
                f"https://127.0.0.1:{port}/broken", json=review, ssl=False
            ) as response:
                body = await response.json()
            assert body["response"] == {
                "uid": "u-1",
                "allowed": False,
                "status": {"message": "internal error: boom", "code": 500, "reason": ""},
            }
            async with session.post(
                f"https://127.0.0.1:{port}/broken", data=b"nope", ssl=False
            ) as bad:
                assert bad.status == 400
    finally:
        await server.stop()
    with pytest.raises(ValueError):
        server.register("/broken", broken)

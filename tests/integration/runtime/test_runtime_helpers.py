"""Status patcher and Event recorder against the real apiserver."""

from __future__ import annotations

from kaito.runtime import metrics
from kaito.runtime.client import Client
from kaito.runtime.conditions import condition, set_status_condition
from kaito.runtime.events import WARNING, EventRecorder
from kaito.runtime.resources import EVENT, ResourceType
from kaito.runtime.status import patch_status


def requests(client: Client, method: str, code: str) -> float:
    labels = {"code": code, "method": method, "host": client.host}
    return metrics.registry.get_sample_value("rest_client_requests_total", labels) or 0.0


async def test_status_patch_skips_noops_and_retries_conflicts(
    client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    obj = await client.create(
        gizmo_crd, {"metadata": {"name": "s", "namespace": namespace}, "spec": {"size": 1}}
    )

    def ready(o: dict) -> None:
        generation = o["metadata"]["generation"]
        set_status_condition(
            o["status"].setdefault("conditions", []),
            condition("Ready", True, "Done", "all good", generation),
        )

    updated = await patch_status(client, gizmo_crd, obj, ready)
    assert updated["status"]["conditions"][0]["status"] == "True"
    assert updated["status"]["conditions"][0]["observedGeneration"] == 1

    # the same condition again: nothing to send, no request at all
    before = requests(client, "PATCH", "200"), requests(client, "GET", "200")
    same = await patch_status(client, gizmo_crd, updated, ready)
    assert same is updated
    assert (requests(client, "PATCH", "200"), requests(client, "GET", "200")) == before

    # a stale copy: the optimistic lock answers 409, the patcher re-reads and retries
    conflicts = requests(client, "PATCH", "409")
    phase = await patch_status(client, gizmo_crd, obj, lambda o: o["status"].update(phase="Up"))
    assert requests(client, "PATCH", "409") == conflicts + 1
    assert phase["status"]["phase"] == "Up"
    assert phase["status"]["conditions"][0]["type"] == "Ready"  # kept from the fresh read


async def test_events_are_aggregated_like_client_go(
    client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    obj = await client.create(gizmo_crd, {"metadata": {"name": "e", "namespace": namespace}})
    recorder = EventRecorder(client, "kaito-test", max_similar=4)
    for _ in range(3):
        await recorder.event(obj, WARNING, "Failed", "same thing")
    listed = (await client.list(EVENT, namespace)).items
    assert len(listed) == 1
    event = listed[0]
    assert event["count"] == 3
    assert event["involvedObject"]["name"] == "e" and event["involvedObject"]["kind"] == "Gizmo"
    assert event["source"]["component"] == "kaito-test" and event["type"] == "Warning"
    assert event["lastTimestamp"] >= event["firstTimestamp"]

    for i in range(5):  # different messages, same reason: combined after 4 distinct ones
        await recorder.event(obj, WARNING, "Failed", f"message {i}")
    listed = (await client.list(EVENT, namespace)).items
    combined = [e for e in listed if e["message"].startswith("(combined from similar events)")]
    assert len(combined) == 1
    assert combined[0]["count"] == 3  # message 2, 3, 4 were folded into it
    assert len(listed) == 4  # "same thing", "message 0", "message 1", combined

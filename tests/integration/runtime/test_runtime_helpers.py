"""Status patcher and Event recorder against the real apiserver."""

from __future__ import annotations

from kaito.runtime import metrics
from kaito.runtime.client import Client
from kaito.runtime.conditions import Condition
from kaito.runtime.events import WARNING, EventRecorder
from kaito.runtime.resources import EVENT, ResourceType
from kaito.runtime.status import write_status


def requests(client: Client, method: str, code: str) -> float:
    labels = {"code": code, "method": method, "host": client.host}
    return metrics.registry.get_sample_value("rest_client_requests_total", labels) or 0.0


async def test_write_status_sends_only_what_changed(
    client: Client, namespace: str, gizmo_crd: ResourceType
) -> None:
    obj = await client.create(
        gizmo_crd, {"metadata": {"name": "s", "namespace": namespace}, "spec": {"size": 1}}
    )
    ready = [Condition("Ready", "True", "Done", "all good")]

    assert await write_status(client, gizmo_crd, obj, ready, {"phase": "Up"})
    written = await client.get(gizmo_crd, "s", namespace)
    (cond,) = written["status"]["conditions"]
    assert (cond["status"], cond["reason"], cond["observedGeneration"]) == ("True", "Done", 1)
    assert cond["lastTransitionTime"]
    assert written["status"]["phase"] == "Up"

    # the same again: nothing to send, no request at all
    before = requests(client, "PATCH", "200")
    assert not await write_status(client, gizmo_crd, written, ready, {"phase": "Up"})
    assert requests(client, "PATCH", "200") == before

    # a new reason keeps the transition time (the status did not change); a stale copy is no
    # conflict (no resourceVersion is sent: one writer per status)
    assert await write_status(client, gizmo_crd, obj, [Condition("Ready", "True", "Again")])
    again = (await client.get(gizmo_crd, "s", namespace))["status"]["conditions"][0]
    assert again["reason"] == "Again"

    # an object deleted meanwhile is not an error
    await client.delete(gizmo_crd, "s", namespace)
    gone = dict(written, status={})
    assert not await write_status(client, gizmo_crd, gone, ready)


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

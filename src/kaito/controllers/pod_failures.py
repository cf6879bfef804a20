"""Why a model pod is not running, in one reason a person can act on.

Upstream Kaito HEAD classifies pod failures into condition reasons
(``ImagePullError``, ``ContainerCrashLoopBackOff``, ``ContainerOOMKilled`` ...)
instead of a bare ``InferenceReady=False``; this is that classification, as a
pure function over pod dicts so it is unit-tested without a cluster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.controllers.pod_parts import WEIGHTS_DOWNLOADER

MAX_MESSAGE = 256

_IMAGE_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_START = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
RESTART_GRACE = dt.timedelta(seconds=60)
"""A container running again after a failed run counts as crash-looping for this long: a
server without a readiness probe is Ready between its crashes, and calling the Workspace ready
then would flap with every restart. The reconciler rechecks a Workspace that is not ready
every 30 s, so one that stays up is ready again about a minute after its restart."""


def _since(timestamp: str | None, now: dt.datetime) -> dt.timedelta | None:
    if not timestamp:
        return None
    try:
        when = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return now - when


@attrs.frozen
class PodFailure:
    reason: str
    message: str


def _truncate(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _last_lines(text: str, keep: int = 2, limit: int = 180) -> str:
    """The last non-empty lines of a log tail, joined, at most ``limit`` characters kept from
    the end: where programs say why they stopped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = " | ".join(lines[-keep:])
    return joined if len(joined) <= limit else "..." + joined[-(limit - 3) :]


def _container_failure(pod: str, status: dict[str, Any], now: dt.datetime) -> PodFailure | None:
    name = status.get("name", "?")
    state = status.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    why = waiting.get("reason", "")
    detail = waiting.get("message") or terminated.get("message") or ""
    prefix = f"pod {pod} container {name}"
    # the container's last log lines, where it reports them (FallbackToLogsOnError)
    logged = (terminated.get("message") or last.get("message") or "").strip()
    failed = (terminated.get("exitCode") or last.get("exitCode") or 0) != 0
    if name == WEIGHTS_DOWNLOADER and failed and why not in _IMAGE_PULL:
        words = (
            _last_lines(logged) or f"exit code {terminated.get('exitCode') or last.get('exitCode')}"
        )
        return PodFailure(
            c.REASON_WEIGHTS_PULL_FAILED, f"pod {pod}: cannot pull the model weights: {words}"
        )
    if why in _IMAGE_PULL:
        image = status.get("image", "")
        text = f"{prefix}: {why}: cannot pull image {image}" + (f": {detail}" if detail else "")
        return PodFailure(c.REASON_IMAGE_PULL_ERROR, text)
    if terminated.get("reason") == "OOMKilled" or (
        why == "CrashLoopBackOff" and last.get("reason") == "OOMKilled"
    ):
        return PodFailure(
            c.REASON_CONTAINER_OOM_KILLED,
            f"{prefix} was OOMKilled: the model needs more memory than the pod has",
        )
    if why == "CrashLoopBackOff":
        code = last.get("exitCode")
        text = f"{prefix}: CrashLoopBackOff" + (f" (last exit code {code})" if code else "")
        if logged:  # the program's own last words (a hub's 401, a missing file) say most
            text += f": {_last_lines(logged)}"
        elif detail:  # the kubelet's words: "back-off 40s restarting failed container=..."
            text += f": {detail}"
        return PodFailure(c.REASON_CONTAINER_CRASH_LOOP_BACKOFF, _truncate(text))
    if why in _START:
        return PodFailure(c.REASON_CONTAINER_START_ERROR, f"{prefix}: {why}: {detail}".rstrip(": "))
    if terminated.get("exitCode"):  # just exited; the kubelet restarts it or backs off
        text = f"{prefix}: exited (last exit code {terminated['exitCode']})"
        if logged:
            text += f": {_last_lines(logged)}"
        return PodFailure(c.REASON_CONTAINER_CRASH_LOOP_BACKOFF, _truncate(text))
    running = (state.get("running") or {}).get("startedAt")
    up = _since(running, now)
    if (
        up is not None
        and up < RESTART_GRACE
        and last.get("exitCode")
        and status.get("restartCount")
    ):
        text = (
            f"{prefix}: restarted {status['restartCount']} time(s), running again for "
            f"{max(int(up.total_seconds()), 0)}s (last exit code {last['exitCode']})"
        )
        if logged:
            text += f": {_last_lines(logged)}"
        return PodFailure(c.REASON_CONTAINER_CRASH_LOOP_BACKOFF, _truncate(text))
    return None


def classify_pod(pod: dict[str, Any], now: dt.datetime | None = None) -> PodFailure | None:
    """The first failure of ``pod`` worth reporting, or None when it is fine or just starting
    (``now``: when the pod is judged, for :data:`RESTART_GRACE`; default the current time)."""
    now = now or dt.datetime.now(dt.UTC)
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return PodFailure(
            c.REASON_POD_EVICTED,
            _truncate(f"pod {name} was evicted: {status.get('message', '')}".rstrip(": ")),
        )
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        failure = _container_failure(name, container, now)
        if failure is not None:
            return PodFailure(failure.reason, _truncate(failure.message))
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            message = condition.get("message", "")
            return PodFailure(
                c.REASON_UNSCHEDULABLE, _truncate(f"pod {name} cannot be scheduled: {message}")
            )
    return None


def first_failure(
    pods: Iterable[dict[str, Any]], now: dt.datetime | None = None
) -> PodFailure | None:
    """The failure of the first failing pod, pods taken in name order."""
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        failure = classify_pod(pod, now)
        if failure is not None:
            return failure
    return None

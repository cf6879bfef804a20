"""Why a model pod is not running, in one reason a person can act on.

Upstream Kaito HEAD classifies pod failures into condition reasons
(``ImagePullError``, ``ContainerCrashLoopBackOff``, ``ContainerOOMKilled`` ...)
instead of a bare ``InferenceReady=False``; this is that classification, as a
pure function over pod dicts so it is unit-tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.controllers.workload import WEIGHTS_DOWNLOADER

MAX_MESSAGE = 256

_IMAGE_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_START = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


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


def _container_failure(pod: str, status: dict[str, Any]) -> PodFailure | None:
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
    return None


def classify_pod(pod: dict[str, Any]) -> PodFailure | None:
    """The first failure of ``pod`` worth reporting, or None when it is fine or just starting."""
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
        failure = _container_failure(name, container)
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


def first_failure(pods: Iterable[dict[str, Any]]) -> PodFailure | None:
    """The failure of the first failing pod, pods taken in name order."""
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        failure = classify_pod(pod)
        if failure is not None:
            return failure
    return None

"""Polling helpers for tests against the real control plane.

Kubernetes is eventually consistent: tests wait for a condition with a deadline
and, when it never holds, fail with the last thing they saw.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kaito.testenv import ControlPlane

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = 60,
    interval: float = 0.25,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def async_wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 60,
    interval: float = 0.25,
    what: str = "condition",
) -> T:
    """``wait_until`` for coroutines."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def eventually(
    check: Callable[[], Any], timeout: float = 30, what: str = "", *, interval: float = 0.05
) -> Any:
    """From async code, poll a plain ``check`` until it returns something truthy; return that.

    A check may also assert: an :class:`AssertionError` counts as "not yet", and the last one
    is re-raised when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            failure: AssertionError | None = None
        except AssertionError as exc:
            failure = exc
        if time.monotonic() > deadline:
            if failure is not None:
                raise failure
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(interval)


def get_json(plane: ControlPlane, *args: str) -> dict[str, Any] | None:
    """``kubectl get ... -o json`` as a dict, or None when it does not exist."""
    proc = plane.kubectl("get", *args, "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The status condition of type ``kind`` of ``obj``, if any."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            result: dict[str, Any] = cond
            return result
    return None


def apply(plane: ControlPlane, manifest: dict[str, Any] | str, *extra: str) -> str:
    """``kubectl apply -f -`` of a dict (as JSON) or YAML text; returns stdout."""
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return plane.kubectl("apply", "-f", "-", *extra, input=text).stdout

"""Write an object's status the controller-runtime way: only when it changed, retrying 409.

:func:`patch_status` hands a deep copy of the object to a ``mutate`` function, compares the
resulting ``status`` with the original and sends nothing if they are equal. Otherwise it sends
a JSON merge patch of the difference to the ``/status`` subresource, with
``metadata.resourceVersion`` as an optimistic lock (controller-runtime
``MergeFromWithOptimisticLock``). On 409 Conflict (or 429/5xx, as Kaito's ``retry.OnError``)
it re-reads the object and applies ``mutate`` again, up to client-go's ``retry.DefaultRetry``
(5 attempts, 10 ms apart, jitter 0.1).
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable

from kaito.runtime.client import Client
from kaito.runtime.errors import Conflict, ServerError, TooManyRequests
from kaito.runtime.patch import merge_patch_diff
from kaito.runtime.resources import Object, ResourceType, meta

RETRY_STEPS = 5
RETRY_DELAY = 0.010
RETRY_JITTER = 0.1


async def patch_status(
    client: Client,
    rt: ResourceType,
    obj: Object,
    mutate: Callable[[Object], None],
    *,
    steps: int = RETRY_STEPS,
) -> Object:
    """Apply ``mutate`` (which edits ``obj["status"]`` of the copy it gets) and write the
    status difference; return the object as the server now has it (``obj`` itself when
    nothing changed and no request was made)."""
    current = obj
    for attempt in range(steps):
        desired = copy.deepcopy(current)
        desired.setdefault("status", {})
        mutate(desired)
        old_status = current.get("status") or {}
        new_status = desired.get("status") or {}
        diff = merge_patch_diff(old_status, new_status)
        if not diff:
            return current
        metadata = meta(current)
        body = {
            "metadata": {"resourceVersion": metadata.get("resourceVersion")},
            "status": diff,
        }
        try:
            return await client.patch(
                rt, str(metadata.get("name")), body, metadata.get("namespace"), subresource="status"
            )
        except (Conflict, TooManyRequests, ServerError):
            if attempt == steps - 1:
                raise
        await asyncio.sleep(RETRY_DELAY * (1 + RETRY_JITTER * random.random()))
        current = await client.get(rt, str(metadata.get("name")), metadata.get("namespace"))
    raise AssertionError("unreachable")  # pragma: no cover

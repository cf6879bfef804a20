"""Controllers: watches feed keys into a work queue; N workers call a Reconciler.

Mirrors controller-runtime ``pkg/reconcile`` and ``pkg/internal/controller/controller.go``:

* a :class:`Reconciler` gets a :class:`Request` (namespace/name) and returns a :class:`Result`;
* error → rate-limited requeue (the Result is ignored); :class:`TerminalError` → no requeue;
  ``requeue_after > 0`` → forget, then add after that delay; ``requeue`` → rate-limited
  requeue; otherwise → forget, and (unlike controller-runtime) drop any delayed add still
  pending from an earlier pass: a reconcile that asks for nothing more means steady state,
  so no leftover timer reconciles it again (watches and the resync period still catch
  drift). Every outcome is counted in ``controller_runtime_reconcile_total``;
* an exception in a reconciler never kills its worker; the work queue guarantees that one key
  is never reconciled by two workers at once;
* ``for_`` enqueues the object itself, ``owns`` its controlling owner of the ``for_`` kind,
  ``watches`` whatever a mapper says (controller-runtime ``handler.EnqueueRequestForObject``,
  ``EnqueueRequestForOwner(OnlyControllerOwner)``, ``EnqueueRequestsFromMapFunc``);
  predicates filter events first;
* workers start only after the informers they need have synced (``CacheSyncTimeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import attrs

from kaito.runtime import metrics
from kaito.runtime.api_wait import ApiWait
from kaito.runtime.cache import InformerCache
from kaito.runtime.clock import REAL_CLOCK, Clock, clock_timeout
from kaito.runtime.informer import CacheSyncTimeout, EventHandler, Informer
from kaito.runtime.predicates import Predicate
from kaito.runtime.ratelimit import RateLimiter
from kaito.runtime.reconcile import Mapper, Reconciler, Request, Result, TerminalError, owner_mapper
from kaito.runtime.resources import Object, ResourceType
from kaito.runtime.workqueue import QueueShutDown, WorkQueue

log = logging.getLogger(__name__)

reconcile_id: contextvars.ContextVar[str] = contextvars.ContextVar("reconcile_id", default="")
"""The UUID of the reconcile running in this task (for log correlation)."""


ReconcileFunc = Callable[[Request], Awaitable[Result]]


@attrs.frozen
class _Watch:
    rt: ResourceType
    mapper: Mapper
    predicates: tuple[Predicate, ...]
    namespace: str | None = None
    label_selector: str | None = None


class Controller:
    """A named controller: its watches, its queue and its workers.

    Build it, hand it to :meth:`Manager.add <kaito.runtime.manager.Manager.add>`::

        Controller("workspace", reconciler, max_concurrent_reconciles=5)
            .for_(WORKSPACE, predicates=[GENERATION_CHANGED])
            .owns(DEPLOYMENT)
            .watches(NODE, nodes_to_workspaces)
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler | ReconcileFunc,
        *,
        max_concurrent_reconciles: int = 1,
        rate_limiter: RateLimiter[Request] | None = None,
        reconcile_timeout: float | None = None,
        cache_sync_timeout: float = 120.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        self.name = name
        self._reconcile: ReconcileFunc = (
            reconciler.reconcile if hasattr(reconciler, "reconcile") else reconciler
        )
        self.workers = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self.cache_sync_timeout = cache_sync_timeout
        self._clock = clock
        self.queue: WorkQueue[Request] = WorkQueue(
            name, rate_limiter=rate_limiter, clock=clock, metrics=metrics.queue_metrics(name)
        )
        metrics.track_unfinished_work(name, self.queue)
        metrics.init_controller_metrics(name, max_concurrent_reconciles)
        self._for: ResourceType | None = None
        self._watches: list[_Watch] = []
        self._informers: list[Informer] = []
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- building -------------------------------------------------------------------------
    def for_(
        self,
        rt: ResourceType,
        *,
        predicates: Sequence[Predicate] = (),
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> Controller:
        """Reconcile objects of ``rt`` themselves (one per controller)."""
        if self._for is not None:
            raise ValueError(f"controller {self.name}: for_ already set to {self._for.kind}")
        self._for = rt
        self._watches.append(
            _Watch(
                rt, lambda o: [Request.for_object(o)], tuple(predicates), namespace, label_selector
            )
        )
        return self

    def owns(
        self,
        rt: ResourceType,
        *,
        predicates: Sequence[Predicate] = (),
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> Controller:
        """Reconcile the controlling owner (of the ``for_`` kind) when an ``rt`` changes."""
        if self._for is None:
            raise ValueError(f"controller {self.name}: call for_ before owns")
        mapper = owner_mapper(self._for, self._for.namespaced)
        self._watches.append(_Watch(rt, mapper, tuple(predicates), namespace, label_selector))
        return self

    def watches(
        self,
        rt: ResourceType,
        mapper: Mapper,
        *,
        predicates: Sequence[Predicate] = (),
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> Controller:
        """Reconcile whatever ``mapper`` returns for each changed ``rt`` object."""
        self._watches.append(_Watch(rt, mapper, tuple(predicates), namespace, label_selector))
        return self

    # -- wiring ---------------------------------------------------------------------------
    def bind(self, cache: InformerCache) -> None:
        """Register this controller's event handlers on the shared informers of ``cache``."""
        for watch in self._watches:
            informer = cache.informer(
                watch.rt, namespace=watch.namespace, label_selector=watch.label_selector
            )
            informer.add_event_handler(self._handler(watch))
            self._informers.append(informer)

    def _handler(self, watch: _Watch) -> EventHandler:
        predicates = watch.predicates

        def enqueue(obj: Object) -> None:
            for request in watch.mapper(obj):
                self.queue.add(request)

        def on_add(obj: Object) -> None:
            if all(p.create(obj) for p in predicates):
                enqueue(obj)

        def on_update(old: Object, new: Object) -> None:
            if all(p.update(old, new) for p in predicates):
                if old is not new:  # owners/mappings of the old state may need a look too
                    enqueue(old)
                enqueue(new)

        def on_delete(obj: Object) -> None:
            if all(p.delete(obj) for p in predicates):
                enqueue(obj)

        return EventHandler(on_add, on_update, on_delete)

    # -- running --------------------------------------------------------------------------
    async def run(self) -> None:
        """Wait for this controller's informers to sync, then run the workers until stopped."""
        for informer in self._informers:
            try:
                await informer.wait_for_sync(self.cache_sync_timeout)
            except CacheSyncTimeout:
                raise CacheSyncTimeout(
                    f"controller {self.name}: timed out after {self.cache_sync_timeout}s waiting "
                    f"for the {informer.rt.kind} cache to sync"
                ) from None
        log.info("controller %s: starting %d workers", self.name, self.workers)
        self._tasks = [
            asyncio.ensure_future(self._worker()) for _ in range(self.workers) if not self._stopping
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()

    def stop(self) -> None:
        """Stop taking work: each worker finishes its current reconcile and exits."""
        self._stopping = True
        self.queue.shut_down()

    async def _worker(self) -> None:
        active = metrics.active_workers.labels(self.name)
        while True:
            try:
                request = await self.queue.get()
            except QueueShutDown:
                return
            if self._stopping:
                self.queue.done(request)
                return
            active.inc()
            try:
                await self.reconcile_handler(request)
            finally:
                active.dec()
                self.queue.done(request)

    async def reconcile_handler(self, request: Request) -> None:
        """Reconcile one request and requeue or forget it (controller-runtime's table)."""
        token = reconcile_id.set(str(uuid.uuid4()))
        start = self._clock.now()
        api_wait = ApiWait(self._clock)
        result: Result | None
        try:
            try:
                with api_wait.active():
                    if self.reconcile_timeout:
                        async with clock_timeout(self._clock, self.reconcile_timeout):
                            result = await self._reconcile(request)
                    else:
                        result = await self._reconcile(request)
            except TerminalError as exc:
                metrics.terminal_reconcile_errors.labels(self.name).inc()
                self._count_error()
                self._log_error(request, exc)
                return
            except Exception as exc:
                if isinstance(exc, TimeoutError) and self.reconcile_timeout:
                    metrics.reconcile_timeouts.labels(self.name).inc()
                self.queue.add_rate_limited(request)
                self._count_error()
                self._log_error(request, exc)
                return
            result = result if result is not None else Result()
            if result.requeue_after > 0:
                self.queue.forget(request)
                self.queue.add_after(request, result.requeue_after)
                metrics.reconcile_total.labels(self.name, "requeue_after").inc()
            elif result.requeue:
                self.queue.add_rate_limited(request)
                metrics.reconcile_total.labels(self.name, "requeue").inc()
            else:
                self.queue.forget(request)
                self.queue.cancel_after(request)
                metrics.reconcile_total.labels(self.name, "success").inc()
        finally:
            elapsed = self._clock.now() - start
            metrics.reconcile_time.labels(self.name).observe(elapsed)
            metrics.reconcile_work.labels(self.name).observe(max(0.0, elapsed - api_wait.seconds))
            reconcile_id.reset(token)

    def _count_error(self) -> None:
        metrics.reconcile_errors.labels(self.name).inc()
        metrics.reconcile_total.labels(self.name, "error").inc()

    def _log_error(self, request: Request, exc: BaseException) -> None:
        log.error(
            "Reconciler error: controller=%s request=%s reconcileID=%s: %s",
            self.name,
            request,
            reconcile_id.get(),
            exc,
            exc_info=not isinstance(exc, TerminalError),
        )

    async def wait_stopped(self, grace: float) -> None:
        """After :meth:`stop`: wait up to ``grace`` seconds for in-flight reconciles, then
        cancel what is left."""
        pending = [t for t in self._tasks if not t.done()]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=grace)
        for task in still:
            task.cancel()
        for task in still:
            with contextlib.suppress(asyncio.CancelledError):
                await task

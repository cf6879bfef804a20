"""The FastAPI application: routes, error handlers, body limit, metrics, background model load.

Request bodies over ``max_body_bytes`` get 413 (FastAPI's ``max_body_size``), bodies slower than
``body_timeout`` get 408 (:mod:`kaito.inference.slow_clients`). The server starts
listening before the model is loaded (weights can take minutes): ``/health``
answers 503 until loading finishes, which is what the pod's startup and readiness probes wait
for. A load failure is kept for ``/health`` to report and handed to ``on_load_error`` (the
command exits non-zero so the pod restarts, visible as a crash loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from kaito.inference.admission import Admission
from kaito.inference.config import InferenceConfig
from kaito.inference.engines import create_engine
from kaito.inference.engines.base import Engine
from kaito.inference.errors import install_error_handlers
from kaito.inference.metrics import InferenceMetrics, MetricsMiddleware
from kaito.inference.routes import chat, openai, ops
from kaito.inference.service import Service
from kaito.inference.slow_clients import BodyTimeoutMiddleware

log = logging.getLogger(__name__)


async def _load(service: Service, on_error: Callable[[BaseException], None] | None) -> None:
    try:
        await service.engine.load()
    except Exception as exc:
        service.load_error = f"Model failed to load: {exc}"
        log.exception("model failed to load")
        if on_error is not None:
            on_error(exc)
        return
    service.metrics.model_loaded.set(1)
    log.info("model %s ready", service.engine.model_name)


def create_app(
    config: InferenceConfig,
    engine: Engine | None = None,
    *,
    on_load_error: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """Build the app; the model loads in the background once the app starts.

    An ``engine`` passed in stays the caller's (loaded once, shared by several apps in tests);
    one created here is closed when the app shuts down.
    """
    owns_engine = engine is None
    engine = engine if engine is not None else create_engine(config)
    the_engine = engine
    metrics = InferenceMetrics()
    admission = Admission(config.max_concurrent_requests, config.max_queue_size)
    metrics.track(in_flight=lambda: admission.admitted, running=lambda: the_engine.running)
    service = Service(engine=engine, config=config, metrics=metrics, admission=admission)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_load(service, on_load_error))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if owns_engine:
                await engine.aclose()

    app = FastAPI(
        title="kaito-inference",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        max_body_size=config.max_body_bytes,
        # upstream's server took JSON without a Content-Type header; so do we
        strict_content_type=False,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(chat.router)
    app.include_router(openai.router)
    app.add_middleware(BodyTimeoutMiddleware, timeout=config.body_timeout)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app

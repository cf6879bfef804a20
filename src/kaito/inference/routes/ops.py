"""``GET /``, ``GET /health`` (503 until the model is loaded) and Prometheus ``GET /metrics``.

These never touch the model, so they answer at once even while every generation slot is busy:
kubelet probes ``/health`` and Prometheus scrapes ``/metrics`` during long generations.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kaito.inference.errors import NotReady
from kaito.inference.routes.deps import ServiceDep

router = APIRouter()


@router.get("/")
async def root() -> dict[str, str]:
    return {"message": "Server is running"}


@router.get("/health")
async def health(service: ServiceDep) -> dict[str, str]:
    if not service.engine.loaded:
        raise NotReady(service.load_error or "Model not initialized")
    return {"status": "Healthy"}


@router.get("/metrics")
async def metrics(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

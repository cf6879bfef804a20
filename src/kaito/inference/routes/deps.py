"""FastAPI dependency giving handlers the app's :class:`~kaito.inference.service.Service`."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from kaito.inference.service import Service


def get_service(request: Request) -> Service:
    return cast(Service, request.app.state.service)


ServiceDep = Annotated[Service, Depends(get_service)]

"""Every failure becomes a short JSON answer with the right status; no stack trace leaks.

``/chat`` and the operational routes answer like upstream's FastAPI server (``{"detail": ...}``);
``/v1/*`` answers like the OpenAI API (``{"error": {"message", "type", "param", "code"}}``) so
OpenAI clients raise their usual exceptions. Validation errors are 400 (OpenAI's and upstream's
status) with the offending field named; unexpected errors are logged here and answered with a
generic 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaito.inference.admission import QueueFull
from kaito.inference.engines.base import EngineInputError

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotReady(ApiError):
    """The model is not loaded yet (503)."""

    def __init__(self, message: str = "Model not initialized") -> None:
        super().__init__(503, message)


def is_openai_path(path: str) -> bool:
    return path.startswith("/v1/")


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    if is_openai_path(path):
        kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return {"detail": message}


def error_response(request: Request, status: int, message: str) -> JSONResponse:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return JSONResponse(error_body(request.url.path, status, message), status, headers=headers)


def describe_validation(errors: Sequence[Any]) -> str:
    """One line naming each bad field, e.g. ``messages.0.content: Field required``."""
    parts: list[str] = []
    for error in errors[:5]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            return f"Request body is not valid JSON: {reason}"
        loc = [str(x) for x in error.get("loc", ()) if x != "body"]
        if not loc and error.get("type") == "missing":
            return "Request body is required (a JSON object)"
        where = ".".join(loc)
        message = str(error.get("msg", "invalid value"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "Invalid request"


def install_error_handlers(app: FastAPI) -> None:
    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, describe_validation(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request, exc.status_code, str(exc.detail))

    async def on_api(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.message)

    async def on_input(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, 400, str(exc))

    async def on_full(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, 429, str(exc))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, 500, "Internal server error")

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ApiError, on_api)
    app.add_exception_handler(EngineInputError, on_input)
    app.add_exception_handler(QueueFull, on_full)
    app.add_exception_handler(Exception, on_unexpected)

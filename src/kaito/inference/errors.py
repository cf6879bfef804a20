"""Every failure becomes a short JSON answer with the right status; no stack trace leaks.

``/chat`` and the operational routes answer like upstream's FastAPI server (``{"detail": ...}``);
``/v1/*`` answers like the OpenAI API (``{"error": {"message", "type", "param", "code"}}``) so
OpenAI clients raise their usual exceptions. Validation errors are 400 (OpenAI's and upstream's
status) with the offending field named (for a union, the member that explains the problem);
a body that arrived too slowly is a 408 that closes the connection. Unexpected errors are logged
here and answered with a generic 500. A message that quotes the client's text is escaped so it
can always be encoded.
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
    408: "invalid_request_error",
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
    # a message may quote the client's text: lone surrogates would make it unencodable
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if is_openai_path(path):
        kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return {"detail": message}


def error_response(request: Request, status: int, message: str) -> JSONResponse:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    if status == 408:  # the rest of the request never came: nothing more to read on this connection
        headers = {"Connection": "close"}
    return JSONResponse(error_body(request.url.path, status, message), status, headers=headers)


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict", "tuple"})


def _is_union_tag(segment: Any) -> bool:
    """pydantic names the member of a union in ``loc`` (``constrained-int``, ``list[str]``)."""
    return isinstance(segment, str) and ("[" in segment or "-" in segment or segment in _UNION_TAGS)


def _relevant(errors: Sequence[Any]) -> list[Any]:
    """Drop "should be a valid <type>" errors of union members when another member of the same
    union says what is wrong with the value (``-5`` for ``int >= 0 | list[int]``)."""

    def union_at(error: Any) -> tuple[Any, ...] | None:
        loc = tuple(error.get("loc", ()))
        tags = [i for i, segment in enumerate(loc) if _is_union_tag(segment)]
        return loc[: tags[0]] if tags else None

    def wrong_type(error: Any) -> bool:
        return str(error.get("type", "")).endswith("_type")

    explained = {union_at(e) for e in errors if not wrong_type(e) and union_at(e) is not None}
    return [e for e in errors if not (wrong_type(e) and union_at(e) in explained)]


def describe_validation(errors: Sequence[Any]) -> str:
    """One line naming each bad field, e.g. ``messages.0.content: Field required``."""
    parts: list[str] = []
    for error in _relevant(errors)[:5]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            return f"Request body is not valid JSON: {reason}"
        loc = [str(x) for x in error.get("loc", ()) if x != "body" and not _is_union_tag(x)]
        if not loc and error.get("type") == "missing":
            return "Request body is required (a JSON object)"
        where = ".".join(loc)
        message = str(error.get("msg", "invalid value"))
        part = f"{where}: {message}" if where else message
        if part not in parts:
            parts.append(part)
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

"""Errors of the REST adapter, each in the error shape of the route family the request belongs to.

Three families, three shapes (documented in specs/rest.md):
- Distri (`/v1/...`, `/api/v1/...`): `{"error": "<message>"}`, as the Distri client reads it.
- BlobHub (`/revisions/...`): `{"error": "<named error>", "message": "<text>"}`.
- Resource routes (everything else): `{"error": {"code": "<code>", "message": "<text>"}}`.
No response ever carries a stack trace; unexpected failures are logged and answered 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from session_engine.adapters.blobhub.errors import CommandError, status_for
from session_engine.engine.errors import EngineError
from session_engine.engine.objects.errors import UnreadableArgument

log = logging.getLogger("session_engine.rest")


class Family(Enum):
    DISTRI = "distri"
    BLOBHUB = "blobhub"
    RESOURCE = "resource"


def family_of(path: str) -> Family:
    if path.startswith(("/v1/", "/api/v1/")) or path in ("/v1", "/api/v1"):
        return Family.DISTRI
    if path.startswith("/revisions/"):
        return Family.BLOBHUB
    return Family.RESOURCE


class ApiError(Exception):
    """A refusal decided by the adapter itself (auth, bad expiry, body limits...)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(family: Family, code: str, message: str) -> dict[str, Any]:
    if family is Family.DISTRI:
        return {"error": message}
    if family is Family.BLOBHUB:
        return {"error": code, "message": message}
    return {"error": {"code": code, "message": message}}


def error_response(
    path: str, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(family_of(path), code, message), status_code=status, headers=headers)


def validation_message(errors: Any) -> str:
    """The first problem, with its field path (`body.expiry: ...`)."""
    items = list(errors)
    if not items:
        return "invalid request"
    first = items[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))


# -- OpenAPI models of the three shapes ---------------------------------------------------------


class DistriError(BaseModel):
    error: str


class BlobHubError(BaseModel):
    error: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ResourceError(BaseModel):
    error: ErrorDetail


def responses(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting a family's error shape for the given statuses."""
    return {status: {"model": model, "description": "error"} for status in statuses}


# -- 405 ------------------------------------------------------------------------------------------

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""The methods an `Allow` header may name (no route takes any other)."""


def allowed_methods(request: Request) -> str:
    """`Allow` for the request's path: every method some route takes there.

    Starlette's 405 names the methods of the first route matching the path only, while one path
    is often served by several routes (GET and POST `.../values`, four methods on a record). So
    the router itself is asked, once per method, whether a route takes the path with it.
    """
    routes = request.app.router.routes
    allowed = []
    for method in METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return ", ".join(allowed)


# -- handlers ------------------------------------------------------------------------------------


def api_error_response(path: str, error: ApiError) -> JSONResponse:
    return error_response(path, error.status, error.code, error.message, error.headers)


def engine_error_response(method: str, path: str, error: EngineError) -> JSONResponse:
    if isinstance(error, UnreadableArgument):  # this family answers every such argument alike
        return error_response(path, 400, "invalid_request", str(error))
    status = status_for(error)
    if status == 500:
        log.error("engine error on %s %s", method, path, exc_info=error)
        return error_response(path, 500, "internal_error", "internal server error")
    return error_response(path, status, error.code, str(error))


def crash_response(method: str, path: str, error: BaseException) -> JSONResponse:
    log.error("unhandled error on %s %s", method, path, exc_info=error)
    return error_response(path, 500, "internal_error", "internal server error")


def install(app: FastAPI) -> None:
    """Replace FastAPI's default error answers (422, HTML-ish detail) with the family shapes."""

    async def on_api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return api_error_response(request.url.path, error)

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError | ValidationError)
        return error_response(request.url.path, 400, "invalid_request", validation_message(error.errors()))

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        message = str(error.detail) if error.detail else code
        headers = error.headers
        if error.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return error_response(request.url.path, error.status_code, code, message, headers)

    async def on_command(request: Request, error: Exception) -> Response:
        assert isinstance(error, CommandError)
        if error.status >= 500:  # the dispatcher turned an engine failure into `internal_error`
            cause = error.__cause__ or error
            log.error("engine error on %s %s", request.method, request.url.path, exc_info=cause)
        return error_response(request.url.path, error.status, error.error, error.message)

    async def on_engine(request: Request, error: Exception) -> Response:
        assert isinstance(error, EngineError)
        return engine_error_response(request.method, request.url.path, error)

    async def on_crash(request: Request, error: Exception) -> Response:
        return crash_response(request.method, request.url.path, error)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(CommandError, on_command)
    app.add_exception_handler(EngineError, on_engine)
    app.add_exception_handler(Exception, on_crash)

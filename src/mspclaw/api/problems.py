"""Typed problem responses: every error leaves the API as ``{error, message, detail}``."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from mspclaw.errors import MSPclawError

log = structlog.get_logger(__name__)


class Problem(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    detail: Any = None
    request_id: str | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc}
    for code, desc in {
        400: "Bad request",
        401: "Not authenticated",
        403: "Permission denied",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
        429: "Too many requests",
    }.items()
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def problem(request: Request, status: int, error: str, message: str, detail: Any = None) -> JSONResponse:
    """A JSON problem response carrying the request id."""
    request_id = getattr(request.state, "request_id", None)
    body = Problem(error=error, message=message, detail=detail, request_id=request_id)
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem response."""

    @app.exception_handler(MSPclawError)
    async def _domain(request: Request, exc: MSPclawError) -> JSONResponse:
        return problem(request, exc.status_code, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_path(tuple(e.get("loc", ()))),
                "message": e.get("msg", "invalid"),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(request, 422, "invalid_input", f"the request is invalid: {summary}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return problem(request, exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem(
            request,
            500,
            "internal_error",
            "MSPclaw hit an unexpected error; the request id in this response helps the operator find it in the logs",
        )


def document_validation_errors_as_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say what we send for 422s: a Problem, not FastAPI's default shape."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        if "HTTPValidationError" in components:
            components["HTTPValidationError"] = {"$ref": "#/components/schemas/Problem"}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

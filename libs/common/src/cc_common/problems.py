"""One error model for every service: RFC 9457 problem details (``application/problem+json``).

The app factory installs :func:`install_problem_handlers`, so every 4xx and 5xx a service answers
(raised :class:`~fastapi.HTTPException`, request validation, an unexpected crash) has the same
body: ``type``, ``title``, ``status``, ``detail``, ``instance`` and, for validation, ``errors``
naming each bad field. A database out of connections (the pool's wait ran out, or PostgreSQL's
connection limit) is 503 with ``Retry-After``, not a 500: it passes when the load does.
:func:`document_problems` writes the same model into the OpenAPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cc_common.db.busy import BUSY_ERRORS, is_database_busy
from cc_common.logging import get_logger

log = get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_DETAIL = 2000
"""Longest ``detail`` or field message sent back: an error never echoes a huge input."""
MAX_FIELD_ERRORS = 50


class FieldProblem(BaseModel):
    """One reason a request was invalid: where (``loc``), what (``msg``) and its kind."""

    loc: list[str | int] = Field(description="Path to the bad value: body, query, path, header.")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail, the body of every error response."""

    type: str = Field(default="about:blank", description="URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem (the HTTP reason).")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong with this request.")
    instance: str | None = Field(default=None, description="The request path it happened on.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="For validation problems: each bad field and why."
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _clip(text: str) -> str:
    """Cut ``text`` short and make it encodable: a message may quote a request's lone surrogate."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."


def _clean(error: FieldProblem) -> FieldProblem:
    loc = [part if isinstance(part, int) else _clip(part) for part in error.loc]
    return FieldProblem(loc=loc, msg=_clip(error.msg), type=_clip(error.type))


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    instance: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build a ``application/problem+json`` response."""
    problem = Problem(
        title=_title(status),
        status=status,
        detail=None if detail is None else _clip(detail),
        instance=None if instance is None else _clip(instance),
        errors=None if errors is None else [_clean(error) for error in errors],
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def _detail_text(detail: Any) -> str | None:
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail
    return str(jsonable_encoder(detail))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = None if exc.detail == _title(exc.status_code) else _detail_text(exc.detail)
    return problem_response(exc.status_code, detail, instance=request.url.path, headers=exc.headers)


def field_problems(errors: Any) -> list[FieldProblem]:
    """Turn pydantic's error list into field problems, without echoing the bad input."""
    out = []
    for err in list(errors)[:MAX_FIELD_ERRORS]:
        loc = [part if isinstance(part, int) else _clip(str(part)) for part in err.get("loc", ())]
        out.append(
            FieldProblem(loc=loc, msg=_clip(str(err.get("msg", ""))), type=str(err.get("type", "")))
        )
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = field_problems(exc.errors())
    summary = "; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems[:5])
    return problem_response(
        422, f"request is invalid: {summary}", instance=request.url.path, errors=problems
    )


BUSY_RETRY_AFTER_SECONDS = 1
"""What a 503 for a database out of connections tells the client to wait: the pool's wait
(``db_pool_timeout_seconds``) has already passed, and a connection frees as a request ends."""


def busy_response(instance: str | None) -> JSONResponse:
    """Answer 503 with ``Retry-After``: the database had no free connection for this request."""
    return problem_response(
        503,
        "the service is overloaded (no database connection free); retry later",
        instance=instance,
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_busy(exc):
        raise exc  # a real failure: on to the crash handler (500), as before
    log.warning("http.database_busy", path=request.url.path, error=type(exc).__name__)
    return busy_response(request.url.path)


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    if is_database_busy(exc):  # raised in a middleware (crm-api's idempotency), not a route
        return await _database_error(request, exc)
    log.error("http.unhandled", path=request.url.path, error=f"{type(exc).__name__}: {exc}"[:500])
    return problem_response(500, "internal error; see the service log", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error the app answers a problem detail."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for busy in BUSY_ERRORS:
        app.add_exception_handler(busy, _database_error)
    app.add_exception_handler(Exception, _crash)


# --- OpenAPI -------------------------------------------------------------------------------------

_REF = {"$ref": "#/components/schemas/Problem"}


def problem_doc(description: str) -> dict[str, Any]:
    """One documented error response (for a route's ``responses=``)."""
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _REF}}}


def document_problems(
    schema: dict[str, Any], *, body_limited: bool, service_token_scheme: str | None
) -> dict[str, Any]:
    """Write the problem model into an OpenAPI document: every error response of every operation.

    Adds 401 to operations guarded by ``service_token_scheme``, 400 and 413 to those taking a
    body and 422 to those taking any input, and replaces FastAPI's own validation body with
    :class:`Problem`.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _document_operation(operation, body_limited, service_token_scheme)
    return schema


def _document_operation(
    operation: dict[str, Any], body_limited: bool, service_token_scheme: str | None
) -> None:
    responses: dict[str, Any] = operation["responses"]
    guarded = any(service_token_scheme in req for req in operation.get("security", ()))
    if guarded:
        responses.setdefault("401", problem_doc("No or wrong service token (Bearer)."))
    if body_limited and "requestBody" in operation:
        responses.setdefault("413", problem_doc("The request body is larger than allowed."))
    if "requestBody" in operation:
        responses.setdefault("400", problem_doc("The request body could not be read."))
    if "requestBody" in operation or operation.get("parameters"):
        current = responses.get("422")
        if current is None or current.get("description") == "Validation Error":
            responses["422"] = problem_doc("The request is invalid; `errors` says where and why.")
    for code, response in responses.items():
        if code.isdigit() and int(code) >= 400 and not _own_body(response):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _REF}}


def _own_body(response: dict[str, Any]) -> bool:
    """True for an error response documented with a model of its own (readiness's 503)."""
    schemas = [media.get("schema") for media in response.get("content", {}).values()]
    return any(schema and schema != _REF for schema in schemas)

"""OpenAPI helpers: documented error responses and examples on every operation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """An RFC 9457 problem detail, as every error is answered."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "this API key lacks the 'write' scope (it has: read)",
                }
            ]
        },
    )

    type: str | None = Field(default=None, description="A URI naming the kind of problem.")
    title: str | None = Field(default=None, description="Short summary of the kind of problem.")
    status: int | None = Field(default=None, description="The HTTP status code.")
    detail: Any = Field(default=None, description="What went wrong with this request.")
    errors: list[Any] | None = Field(default=None, description="Each invalid field, for 422.")


_TEXT = {
    400: "The request is malformed (a bad cursor, range or parameter).",
    401: "No API key, or an unknown, revoked or expired one.",
    403: "The API key lacks the scope this operation needs.",
    404: "No such resource.",
    409: "The resource's state forbids this (it exists already, it is in use ...).",
    413: "The request body is too large.",
    422: "The request failed validation; `errors` (or `detail`) says which field and why.",
    429: "Too many requests for this key; wait the Retry-After seconds.",
    502: "An internal service failed the request.",
    503: "An internal service is unavailable; retry later.",
}


def _problem(code: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model": Problem,
        "description": _TEXT[code],
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    if code == 429:
        entry["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }
    return entry


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses`` entry for an operation: its errors plus the ones all share."""
    shared = (400, 401, 403, 413, 422, 429, 502, 503)
    return {code: _problem(code) for code in sorted({*codes, *shared})}


def example(model: type[BaseModel], *examples: dict[str, Any]) -> None:
    """Attach examples to a model's schema (used for requests and responses alike)."""
    extra = model.model_config.get("json_schema_extra")
    if not isinstance(extra, dict):
        extra = {}
    extra["examples"] = list(examples)
    model.model_config["json_schema_extra"] = extra
    model.model_rebuild(force=True)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description=(
            "Send a unique value (a UUID) to make a retry safe: a repeat with the same key and "
            "body returns the first response and acts once (kept 24 hours)."
        ),
        examples=["4f9d5a0e-6f5e-4c59-9a8b-1f1b8c4d2e10"],
    ),
]

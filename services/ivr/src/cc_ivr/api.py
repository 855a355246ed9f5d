"""The ivr service's internal HTTP API: flows (create, validate, activate, roll back, versions)
and the numbers bound to them.

A flow arrives as JSON or YAML (``Content-Type: application/yaml``). A flow that fails
validation is refused with 422 and a problem detail whose ``errors`` name the node and field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cc_common.problems import FieldProblem, problem_response
from cc_ivr.adapters.store import FlowConflict, FlowNotFound, FlowStore, VersionInfo
from cc_ivr.core import FlowError, InvalidFlow
from cc_ivr.core.flow import DIAL_TARGET, QUEUE
from cc_ivr.flows import read_document

router = APIRouter(prefix="/v1", tags=["ivr"])


def get_store(request: Request) -> FlowStore:
    """Dependency: the app's flow store."""
    store: FlowStore = request.app.state.flows
    return store


StoreDep = Annotated[FlowStore, Depends(get_store)]
FlowName = Annotated[str, Field(pattern=QUEUE)]


def _invalid(exc: InvalidFlow) -> JSONResponse:
    errors = [
        FieldProblem(loc=["body", *(["nodes", e.node] if e.node else []), e.field], msg=e.message,
                     type="invalid_flow")
        for e in exc.errors
    ]  # fmt: skip
    detail = f"the flow has {len(errors)} problem(s); the first: {exc.errors[0]}"
    return problem_response(422, detail, errors=errors)


def _known(exc: FlowNotFound | FlowConflict) -> JSONResponse:
    return problem_response(404 if isinstance(exc, FlowNotFound) else 409, str(exc))


async def _document(request: Request) -> dict[str, Any]:
    raw = await request.body()
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if kind in ("application/yaml", "application/x-yaml", "text/yaml"):
        return read_document(raw.decode("utf-8", errors="replace"))
    try:
        document = json.loads(raw or b"null")
    except ValueError as exc:
        raise InvalidFlow([FlowError(None, "document", f"not JSON: {exc}")]) from None
    if not isinstance(document, dict):
        raise InvalidFlow([FlowError(None, "document", "a flow is a JSON object")])
    return document


def _version(info: VersionInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "active": info.active,
        "created_at": info.created_at.isoformat(),
    }


def _notify(request: Request) -> None:
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:
        relay.notify()


@router.post("/flows/validate", response_model=None)
async def validate_flow(request: Request, store: StoreDep) -> JSONResponse | dict[str, Any]:
    """Check a flow without storing it."""
    try:
        flow = store.check(await _document(request))
    except InvalidFlow as exc:
        return _invalid(exc)
    return {"valid": True, "name": flow.name, "nodes": len(flow.nodes)}


@router.post("/flows", status_code=status.HTTP_201_CREATED, response_model=None)
async def create_flow(request: Request, store: StoreDep) -> JSONResponse | dict[str, Any]:
    """Store a new version of a flow (validated; not live until activated)."""
    try:
        info = await store.create(await _document(request))
    except InvalidFlow as exc:
        return _invalid(exc)
    _notify(request)
    return _version(info)


@router.get("/flows/{name}/versions", response_model=None)
async def list_versions(name: FlowName, store: StoreDep) -> JSONResponse | dict[str, Any]:
    """List a flow's versions, newest first, and which one is live."""
    try:
        versions = await store.versions(name)
    except FlowNotFound as exc:
        return _known(exc)
    return {"name": name, "versions": [_version(v) for v in versions]}


@router.get("/flows/{name}", response_model=None)
async def get_flow(
    name: FlowName, store: StoreDep, version: int | None = None
) -> JSONResponse | dict[str, Any]:
    """Return the live version's document (or a given version's)."""
    try:
        number, document = await store.document(name, version)
    except FlowNotFound as exc:
        return _known(exc)
    return {"name": name, "version": number, "document": document}


@router.post("/flows/{name}/versions/{version}/activate", response_model=None)
async def activate(
    name: FlowName, version: int, request: Request, store: StoreDep
) -> JSONResponse | dict[str, Any]:
    """Make a version live for new calls; calls in progress finish on theirs."""
    try:
        await store.activate(name, version)
    except InvalidFlow as exc:
        return _invalid(exc)
    except (FlowNotFound, FlowConflict) as exc:
        return _known(exc)
    _notify(request)
    return {"name": name, "active_version": version}


@router.post("/flows/{name}/rollback", response_model=None)
async def rollback(
    name: FlowName, request: Request, store: StoreDep
) -> JSONResponse | dict[str, Any]:
    """Put the previously live version back."""
    try:
        version = await store.rollback(name)
    except (FlowNotFound, FlowConflict) as exc:
        return _known(exc)
    _notify(request)
    return {"name": name, "active_version": version}


class Binding(BaseModel):
    """A dialled number's flow."""

    flow: FlowName


@router.put("/numbers/{number}", response_model=None)
async def bind_number(
    number: Annotated[str, Field(pattern=DIAL_TARGET)],
    binding: Binding,
    request: Request,
    store: StoreDep,
) -> JSONResponse | dict[str, Any]:
    """Send calls to this number into a flow."""
    try:
        await store.bind(number, binding.flow)
    except FlowNotFound as exc:
        return _known(exc)
    _notify(request)
    return {"number": number, "flow": binding.flow}

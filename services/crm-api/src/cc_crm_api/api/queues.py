"""``/v1/queues``: queues (strategy, skill requirements, thresholds, wrap-up, overflow) and
their live figures; configuration reaches routing's internal API and applies at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cc_common.names import MAX_NAME_LENGTH, NAME_PATTERN
from cc_crm_api.adapters import config as store
from cc_crm_api.api.deps import DbDep, Reader, RuntimeDep, Writer
from cc_crm_api.api.docs import IdempotencyKey, errors, example

router = APIRouter(prefix="/v1/queues", tags=["queues"])

NAME = NAME_PATTERN
"""Queue, agent and team names: the platform's one rule (``cc_common.names``), so every name
the public API takes is one routing takes too, and one a URL path carries as written."""
QueueName = Annotated[
    str, Path(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME, examples=["support"])
]
Strategy = Literal[
    "longest-idle-agent",
    "ring-all",
    "round-robin",
    "top-down",
    "agent-with-least-talk-time",
    "agent-with-fewest-calls",
    "sequentially-by-agent-order",
    "random",
    "ring-progressively",
]
Seconds = Annotated[float, Field(gt=0, le=86_400)]


class Destination(BaseModel):
    """Where a call goes when it leaves the queue other than to an agent."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["queue", "transfer", "hangup"]
    target: str = Field(min_length=1, max_length=190, pattern=r"^[A-Za-z0-9_.@ +:-]+$")


class RequirementStep(BaseModel):
    """From ``after_seconds`` of waiting on, the call needs agents matching ``requirement``."""

    model_config = ConfigDict(extra="forbid")

    after_seconds: float = Field(ge=0, le=86_400)
    requirement: str | None = Field(
        default=None,
        max_length=500,
        description="A skill expression, e.g. `language.fr >= 3 and billing`; null: anyone.",
    )


class QueueChange(BaseModel):
    """Fields to change on a queue; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    strategy: Strategy | None = None
    requirements: list[RequirementStep] | None = Field(default=None, max_length=20)
    ring_timeout_seconds: Seconds | None = None
    wrap_up_seconds: float | None = Field(default=None, ge=0, le=3600)
    service_level_threshold_seconds: Seconds | None = None
    service_level_target: float | None = Field(default=None, gt=0, le=1)
    max_wait_seconds: Seconds | None = None
    max_wait_destination: Destination | None = None
    overflow_after_seconds: Seconds | None = None
    overflow_destination: Destination | None = None
    max_length: int | None = Field(default=None, ge=0, le=100_000)
    full_destination: Destination | None = None
    no_agents: Literal["queue", "block"] | None = None
    no_agents_destination: Destination | None = None
    announce_every_seconds: Seconds | None = None
    expected_handle_seconds: Seconds | None = None
    disposition_codes: list[str] | None = Field(
        default=None, max_length=200, description="The wrap-up codes agents may record."
    )


class QueueIn(QueueChange):
    """A queue to create."""

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME)


class QueueOut(QueueIn):
    """A queue's configuration, and its live figures when routing has them."""

    model_config = ConfigDict(extra="ignore")

    live: dict[str, Any] | None = Field(
        default=None, description="Calls waiting, oldest wait, agents by state, service level."
    )


class QueuePage(BaseModel):
    """A page of queues in name order."""

    items: list[QueueOut]
    next_cursor: str | None


_QUEUE = {
    "name": "support",
    "strategy": "longest-idle-agent",
    "requirements": [
        {"after_seconds": 0, "requirement": "language.fr >= 3"},
        {"after_seconds": 60, "requirement": None},
    ],
    "ring_timeout_seconds": 20,
    "wrap_up_seconds": 30,
    "service_level_threshold_seconds": 20,
    "service_level_target": 0.8,
    "overflow_after_seconds": 300,
    "overflow_destination": {"kind": "queue", "target": "support-overflow"},
    "disposition_codes": ["sale", "no-sale", "callback"],
}
_LIVE = {
    "queue": "support",
    "calls": 3,
    "waiting": 2,
    "ringing": 1,
    "oldest_wait_seconds": 42.5,
    "staffed": 5,
    "offerable": 1,
    "service_level": 0.86,
}
example(QueueIn, _QUEUE)
example(QueueChange, {"ring_timeout_seconds": 15, "service_level_target": 0.9})
example(QueueOut, {**_QUEUE, "live": _LIVE})
example(QueuePage, {"items": [{**_QUEUE, "live": None}], "next_cursor": None})


def routing_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Routing's queue configuration: the same names; unset fields take routing's defaults."""
    return {k: v for k, v in doc.items() if v is not None}


async def _apply(runtime: Any, db: Any, doc: dict[str, Any]) -> None:
    await runtime.routing.call("PUT", f"/v1/queues/{doc['name']}", json=routing_document(doc))
    async with db.session() as session:
        await store.save(session, runtime.tenant, "queue", doc["name"], doc, runtime.clock())


async def _stored(runtime: Any, db: Any, name: str) -> dict[str, Any]:
    async with db.session() as session:
        doc = await store.load(session, runtime.tenant, "queue", name)
    if doc is None:
        raise HTTPException(404, f"no queue {name!r}")
    return doc


async def _live(runtime: Any, name: str) -> dict[str, Any] | None:
    reply = await runtime.routing.call("GET", f"/v1/queues/{name}", missing_ok=True)
    return reply.json() if reply.status_code == 200 else None


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=QueueOut, responses=errors(409)
)
async def create_queue(
    body: QueueIn, runtime: RuntimeDep, db: DbDep, _: Writer, idempotency_key: IdempotencyKey = None
) -> QueueOut:
    """Create a queue; routing takes calls for it at once."""
    async with db.session() as session:
        if await store.load(session, runtime.tenant, "queue", body.name) is not None:
            raise HTTPException(409, f"queue {body.name!r} exists; PATCH it to change it")
    doc = body.model_dump(mode="json", exclude_none=True)
    await _apply(runtime, db, doc)
    return QueueOut.model_validate(doc)


@router.get("", response_model=QueuePage, responses=errors())
async def list_queues(
    runtime: RuntimeDep,
    db: DbDep,
    _: Reader,
    cursor: Annotated[str | None, Query(max_length=MAX_NAME_LENGTH, pattern=NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> QueuePage:
    """Queues in name order, a page at a time (configuration only; GET one for live figures)."""
    async with db.session() as session:
        docs = await store.load_all(session, runtime.tenant, "queue", after=cursor, limit=limit + 1)
    page = docs[:limit]
    return QueuePage(
        items=[QueueOut.model_validate(d) for d in page],
        next_cursor=page[-1]["name"] if len(docs) > limit else None,
    )


@router.get("/{name}", response_model=QueueOut, responses=errors(404))
async def get_queue(name: QueueName, runtime: RuntimeDep, db: DbDep, _: Reader) -> QueueOut:
    """One queue with its live figures."""
    doc = await _stored(runtime, db, name)
    return QueueOut.model_validate({**doc, "live": await _live(runtime, name)})


@router.patch("/{name}", response_model=QueueOut, responses=errors(404))
async def change_queue(
    name: QueueName, body: QueueChange, runtime: RuntimeDep, db: DbDep, _: Writer
) -> QueueOut:
    """Change a queue; calls already waiting are routed by the new rules at once."""
    change = body.model_dump(mode="json", exclude_unset=True)
    doc = {**await _stored(runtime, db, name), **change}
    await _apply(runtime, db, doc)
    return QueueOut.model_validate({**doc, "live": await _live(runtime, name)})


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
async def delete_queue(name: QueueName, runtime: RuntimeDep, db: DbDep, _: Writer) -> Response:
    """Delete an empty queue (409 while it holds calls)."""
    await _stored(runtime, db, name)
    await runtime.routing.call("DELETE", f"/v1/queues/{name}", missing_ok=True)
    async with db.session() as session:
        await store.remove(session, runtime.tenant, "queue", name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

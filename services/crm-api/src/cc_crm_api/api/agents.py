"""``/v1/agents``: agents (contact, skills with proficiency, team, queues) and their states.

Configuration is sent to routing's internal API, which applies it at once (no restart); the
crm-api keeps the document it sent so it can list and change agents.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cc_common.names import MAX_NAME_LENGTH, NAME_PATTERN
from cc_crm_api.adapters import config as store
from cc_crm_api.adapters.db import call_notes, event_log
from cc_crm_api.api.deps import DbDep, Reader, RuntimeDep, Writer
from cc_crm_api.api.docs import IdempotencyKey, errors, example

router = APIRouter(prefix="/v1/agents", tags=["agents"])

AgentId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
        description="Agent id.",
        examples=["a-1001"],
    ),
]
CONTACT = r"^[A-Za-z0-9_.]+/[A-Za-z0-9_.@:+=/-]+$"
"""A FreeSWITCH endpoint (``user/1001``, ``sofia/internal/1001@host``): no spaces, no '&', no
'{', no quotes, so nothing can be smuggled into a dial string."""
NAME = NAME_PATTERN
"""Queue, agent and team names: the platform's one rule (``cc_common.names``), so every name
the public API takes is one routing takes too, and one a URL path carries as written."""


class Skill(BaseModel):
    """A skill and how good the agent is at it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    proficiency: int = Field(ge=1, le=5, description="1 (basic) to 5 (expert).")


class QueueMembership(BaseModel):
    """A queue the agent serves: lower level first, then position."""

    model_config = ConfigDict(extra="forbid")

    queue: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME)
    level: int = Field(default=1, ge=0, le=1000)
    position: int = Field(default=1, ge=0, le=100_000)


class AgentChange(BaseModel):
    """Fields to change on an agent; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, description="Display name.")
    contact: str | None = Field(
        default=None, max_length=200, pattern=CONTACT, description="What to ring."
    )
    skills: list[Skill] | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=MAX_NAME_LENGTH, pattern=NAME)
    queues: list[QueueMembership] | None = Field(default=None, max_length=500)
    wrap_up_seconds: float | None = Field(default=None, ge=0, le=3600)
    max_no_answer: int | None = Field(default=None, ge=0, le=100)


class AgentIn(AgentChange):
    """An agent to create."""

    agent_id: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
    contact: str = Field(max_length=200, pattern=CONTACT, description="What to ring.")


class AgentOut(BaseModel):
    """An agent's configuration, and its live state when routing knows it."""

    agent_id: str
    name: str | None = None
    contact: str
    skills: list[Skill]
    team: str | None = None
    queues: list[QueueMembership]
    wrap_up_seconds: float | None = None
    max_no_answer: int | None = None
    live: dict[str, Any] | None = Field(
        default=None, description="State, since, reason, current call (from routing)."
    )


class AgentPage(BaseModel):
    """A page of agents in id order."""

    items: list[AgentOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class StateIn(BaseModel):
    """An agent state change."""

    state: Literal["available", "break", "not_ready"]
    reason: str | None = Field(
        default=None, max_length=200, description="Needed for break and not_ready."
    )


class LoginIn(BaseModel):
    """Start a shift, available or straight into a break."""

    state: Literal["available", "break", "not_ready"] = "available"
    reason: str | None = Field(default=None, max_length=200)


class LogoutIn(BaseModel):
    """End a shift."""

    reason: str | None = Field(default=None, max_length=200)


class WrapUpIn(BaseModel):
    """End wrap-up now, or extend it."""

    action: Literal["end", "extend"]
    seconds: float = Field(default=30.0, gt=0, le=3600)


class DispositionIn(BaseModel):
    """The outcome of the agent's current (or just ended) call, with the agent's notes."""

    code: str = Field(min_length=1, max_length=100, description="A wrap-up code of the queue.")
    resolved: bool | None = Field(default=None, description="Resolved on first contact.")
    notes: str | None = Field(default=None, max_length=10_000)


class AgentLive(BaseModel):
    """An agent's live state from routing."""

    model_config = ConfigDict(extra="allow")

    agent_id: str
    state: str
    reason: str | None = None
    call_id: str | None = None


class StateHistoryEntry(BaseModel):
    """One state change of an agent."""

    seq: int
    occurred_at: str
    type: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    call_id: str | None


_AGENT = {
    "agent_id": "a-1001",
    "name": "Ada Lovelace",
    "contact": "user/1001",
    "skills": [{"name": "language.fr", "proficiency": 4}, {"name": "billing", "proficiency": 2}],
    "team": "blue",
    "queues": [{"queue": "support", "level": 1, "position": 1}],
    "wrap_up_seconds": 30,
}
_LIVE = {"agent_id": "a-1001", "state": "available", "reason": None, "call_id": None}
example(AgentIn, _AGENT)
example(AgentChange, {"skills": [{"name": "language.fr", "proficiency": 5}], "team": "green"})
example(AgentOut, {**_AGENT, "max_no_answer": 3, "live": {**_LIVE, "since": 1740819600.0}})
example(AgentPage, {"items": [{**_AGENT, "max_no_answer": 3, "live": None}], "next_cursor": None})
example(StateIn, {"state": "break", "reason": "lunch"})
example(LoginIn, {"state": "available"})
example(LogoutIn, {"reason": "end of shift"})
example(WrapUpIn, {"action": "extend", "seconds": 60})
example(DispositionIn, {"code": "sale", "resolved": True, "notes": "Upgraded to premium."})
example(AgentLive, _LIVE)
example(
    StateHistoryEntry,
    {
        "seq": 1042,
        "occurred_at": "2025-03-01T09:00:00Z",
        "type": "agent.state_changed",
        "from_state": "available",
        "to_state": "break",
        "reason": "lunch",
        "call_id": None,
    },
)


def routing_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Translate the public agent document into routing's configuration."""
    out: dict[str, Any] = {
        "agent_id": doc["agent_id"],
        "contact": doc["contact"],
        "skills": {s["name"]: s["proficiency"] for s in doc.get("skills") or []},
        "tiers": {
            m["queue"]: {"level": m.get("level", 1), "position": m.get("position", 1)}
            for m in doc.get("queues") or []
        },
        "team": doc.get("team"),
    }
    for name in ("wrap_up_seconds", "max_no_answer"):
        if doc.get(name) is not None:
            out[name] = doc[name]
    return out


def _public(doc: dict[str, Any], live: dict[str, Any] | None = None) -> AgentOut:
    lists = {"skills": doc.get("skills") or [], "queues": doc.get("queues") or []}
    return AgentOut.model_validate({**doc, **lists, "live": live})


async def _live(runtime: Any, agent_id: str) -> dict[str, Any] | None:
    reply = await runtime.routing.call("GET", f"/v1/agents/{agent_id}", missing_ok=True)
    return reply.json() if reply.status_code == 200 else None


async def _apply(runtime: Any, db: Any, doc: dict[str, Any]) -> None:
    """Send the agent to routing (it applies it at once), then keep the document."""
    await runtime.routing.call("PUT", f"/v1/agents/{doc['agent_id']}", json=routing_document(doc))
    async with db.session() as session:
        await store.save(session, runtime.tenant, "agent", doc["agent_id"], doc, runtime.clock())


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=AgentOut, responses=errors(409)
)
async def create_agent(
    body: AgentIn, runtime: RuntimeDep, db: DbDep, _: Writer, idempotency_key: IdempotencyKey = None
) -> AgentOut:
    """Create an agent; routing can offer calls to it once it logs in."""
    async with db.session() as session:
        if await store.load(session, runtime.tenant, "agent", body.agent_id) is not None:
            raise HTTPException(409, f"agent {body.agent_id!r} exists; PATCH it to change it")
    doc = {"skills": [], "queues": [], **body.model_dump(mode="json", exclude_none=True)}
    await _apply(runtime, db, doc)
    return _public(doc)


@router.get("", response_model=AgentPage, responses=errors())
async def list_agents(
    runtime: RuntimeDep,
    db: DbDep,
    _: Reader,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_NAME_LENGTH, pattern=NAME, description="next_cursor."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AgentPage:
    """Agents in id order, a page at a time (configuration only; GET one for live state)."""
    async with db.session() as session:
        docs = await store.load_all(session, runtime.tenant, "agent", after=cursor, limit=limit + 1)
    page = docs[:limit]
    more = len(docs) > limit
    return AgentPage(
        items=[_public(d) for d in page], next_cursor=page[-1]["agent_id"] if more else None
    )


async def _stored(runtime: Any, db: Any, agent_id: str) -> dict[str, Any]:
    async with db.session() as session:
        doc = await store.load(session, runtime.tenant, "agent", agent_id)
    if doc is None:
        raise HTTPException(404, f"no agent {agent_id!r}")
    return doc


@router.get("/{agent_id}", response_model=AgentOut, responses=errors(404))
async def get_agent(agent_id: AgentId, runtime: RuntimeDep, db: DbDep, _: Reader) -> AgentOut:
    """One agent with its live state."""
    doc = await _stored(runtime, db, agent_id)
    return _public(doc, await _live(runtime, agent_id))


@router.patch("/{agent_id}", response_model=AgentOut, responses=errors(404))
async def change_agent(
    agent_id: AgentId, body: AgentChange, runtime: RuntimeDep, db: DbDep, _: Writer
) -> AgentOut:
    """Change an agent's contact, skills, team, queues or timers; takes effect at once."""
    change = body.model_dump(mode="json", exclude_unset=True)
    doc = {**await _stored(runtime, db, agent_id), **change}
    for name in ("skills", "queues"):
        doc[name] = doc.get(name) or []
    if doc.get("contact") is None:
        raise HTTPException(422, "contact cannot be removed")
    await _apply(runtime, db, doc)
    return _public(doc, await _live(runtime, agent_id))


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
async def delete_agent(agent_id: AgentId, runtime: RuntimeDep, db: DbDep, _: Writer) -> Response:
    """Delete a logged-out agent (409 while logged in)."""
    await _stored(runtime, db, agent_id)
    await runtime.routing.call("DELETE", f"/v1/agents/{agent_id}", missing_ok=True)
    async with db.session() as session:
        await store.remove(session, runtime.tenant, "agent", agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PlaceCallIn(BaseModel):
    """Click-to-call: whom to call, and the queue the call counts in."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(
        min_length=3,
        max_length=32,
        description="The customer's number in E.164 (`+33612345678`); checked, never a dial "
        "string.",
    )
    queue: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.@-]+$",
        description="The queue the call is reported in; its ring and dial timeouts, wrap-up "
        "and disposition codes apply. The call never waits in its line.",
    )
    customer_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:@+-]+$",
        description="The CRM's id of the customer: kept with the call, in every view and event.",
    )


class CallPlaced(BaseModel):
    """A click-to-call accepted: the agent's phone is ringing."""

    call_id: str = Field(description="The call's id (its customer leg's), for every later event.")
    command: Literal["call"]
    agent_id: str
    number: str = Field(description="The number to dial, E.164.")
    queue: str
    customer_id: str | None = None


example(PlaceCallIn, {"number": "+33612345678", "queue": "sales", "customer_id": "CRM-000042"})
example(
    CallPlaced,
    {
        "call_id": "5b0e1f0a-3c1d-4e8e-9a55-2f6d0c7b9e11",
        "command": "call",
        "agent_id": "a-1001",
        "number": "+33612345678",
        "queue": "sales",
        "customer_id": "CRM-000042",
    },
)


@router.post(
    "/{agent_id}/calls",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CallPlaced,
    responses=errors(404, 409),
)
async def place_call(
    agent_id: AgentId,
    body: PlaceCallIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> CallPlaced:
    """Click-to-call: ring the agent's phone; when they answer, dial the customer and bridge
    them. The agent counts as busy throughout (no queue offers them a call), and goes into
    wrap-up after the conversation. Events: `call.placed` (direction `outbound`, the number,
    the customer id), `call.agent_offered`, then `call.answered` when the customer picks up
    (`queue_answer` false: an outbound call is not a queue's answered call) and `call.ended`;
    the call's record and views keep the number (`dialed_number`) and the customer id. If the
    agent does not answer or the number is not reached, `call.ended` says `failed` and the
    agent is free again. 422 for a number that is not a valid E.164 number; 404 for an unknown
    agent or queue; 409, with the reason, for an agent who is not available. Send an
    `Idempotency-Key`: a retried click-to-call dials once."""
    await _stored(runtime, db, agent_id)
    reply = await runtime.routing.call(
        "POST", f"/v1/agents/{agent_id}/calls", json=body.model_dump(mode="json")
    )
    return CallPlaced.model_validate(reply.json())


async def _command(runtime: Any, db: Any, agent_id: str, action: str, body: Any) -> AgentLive:
    await _stored(runtime, db, agent_id)
    reply = await runtime.routing.call(
        "POST", f"/v1/agents/{agent_id}/{action}", json=body.model_dump(mode="json")
    )
    return AgentLive.model_validate(reply.json())


@router.post("/{agent_id}/login", response_model=AgentLive, responses=errors(404, 409))
async def login(
    agent_id: AgentId,
    body: LoginIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> AgentLive:
    """Start the agent's shift."""
    return await _command(runtime, db, agent_id, "login", body)


@router.post("/{agent_id}/logout", response_model=AgentLive, responses=errors(404, 409))
async def logout(
    agent_id: AgentId,
    body: LogoutIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> AgentLive:
    """End the agent's shift (after the current call, if on one)."""
    return await _command(runtime, db, agent_id, "logout", body)


@router.post("/{agent_id}/state", response_model=AgentLive, responses=errors(404, 409))
async def change_state(
    agent_id: AgentId,
    body: StateIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> AgentLive:
    """Go available, on break or not ready (with a reason code)."""
    return await _command(runtime, db, agent_id, "state", body)


@router.post("/{agent_id}/wrap-up", response_model=AgentLive, responses=errors(404, 409))
async def wrap_up(
    agent_id: AgentId,
    body: WrapUpIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> AgentLive:
    """End the agent's wrap-up now, or extend it."""
    return await _command(runtime, db, agent_id, "wrap-up", body)


@router.post("/{agent_id}/disposition", response_model=AgentLive, responses=errors(404, 409))
async def disposition(
    agent_id: AgentId,
    body: DispositionIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> AgentLive:
    """Record the wrap-up code (and notes) of the agent's current or just-ended call."""
    await _stored(runtime, db, agent_id)
    reply = await runtime.routing.call(
        "POST",
        f"/v1/agents/{agent_id}/disposition",
        json={"code": body.code, "resolved": body.resolved},
    )
    live = AgentLive.model_validate(reply.json())
    async with db.session() as session:
        await session.execute(
            call_notes.insert().values(
                tenant=runtime.tenant,
                call_id=live.call_id or await _last_call(session, runtime.tenant, agent_id),
                agent_id=agent_id,
                code=body.code,
                resolved=body.resolved,
                notes=body.notes,
                created_at=runtime.clock(),
            )
        )
    return live


async def _last_call(session: Any, tenant: str, agent_id: str) -> str | None:
    """Return the call the agent last answered (the one wrap-up is about)."""
    query = (
        select(event_log.c.call_id)
        .where(
            event_log.c.tenant == tenant,
            event_log.c.agent_id == agent_id,
            event_log.c.type == "call.answered",
        )
        .order_by(event_log.c.seq.desc())
        .limit(1)
    )
    call_id: str | None = (await session.execute(query)).scalar_one_or_none()
    return call_id


@router.get(
    "/{agent_id}/state-history", response_model=list[StateHistoryEntry], responses=errors(404)
)
async def state_history(
    agent_id: AgentId,
    runtime: RuntimeDep,
    db: DbDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[StateHistoryEntry]:
    """The agent's recent state changes, newest first (as long as the event log keeps them)."""
    await _stored(runtime, db, agent_id)
    query = (
        select(event_log.c.seq, event_log.c.document)
        .where(
            event_log.c.tenant == runtime.tenant,
            event_log.c.agent_id == agent_id,
            event_log.c.type.in_(["agent.state_changed", "agent.logged_in", "agent.logged_out"]),
        )
        .order_by(event_log.c.seq.desc())
        .limit(limit)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    out = []
    for seq, doc in rows:
        data = doc.get("data") or {}
        to_state = data.get("to_state") or (
            "logged_out" if doc["type"] == "agent.logged_out" else None
        )
        out.append(
            StateHistoryEntry(
                seq=seq,
                occurred_at=doc["occurred_at"],
                type=doc["type"],
                from_state=data.get("from_state"),
                to_state=to_state,
                reason=data.get("reason"),
                call_id=doc.get("call_id"),
            )
        )
    return out

"""The agents' real-time event stream (screen pop), over Server-Sent Events and WebSocket.

Per agent, per team or for the whole tenant. Each event carries its log sequence number as the
SSE ``id``; a client that reconnects with ``Last-Event-ID`` gets every event it missed (as long
as the bounded log still holds it; otherwise a ``gap`` event says from where it resumes).
A browser's EventSource cannot send the Authorization header: its page's back end gets a
single-use stream ticket for one stream and the browser passes that as ``?ticket=``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import (
    APIRouter,
    Header,
    HTTPException,
    Path,
    Query,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cc_crm_api.adapters import tickets
from cc_crm_api.adapters.stream import EventHub, Gap, StreamFilter
from cc_crm_api.api.deps import DbDep, Reader, Runtime, RuntimeDep, StreamReader, authenticate
from cc_crm_api.api.docs import errors, example
from cc_crm_api.core.keys import Scope, allows

router = APIRouter(prefix="/v1", tags=["events"])

Name = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.@ -]+$")]
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=20,
        description="The id of the last event received; the stream resumes after it.",
    ),
]
Resume = Annotated[
    int | None,
    Query(ge=0, description="Same as Last-Event-ID, for clients that cannot set headers."),
]


class StreamEvent(BaseModel):
    """One event as streams and webhooks carry it (`data:` of an SSE message)."""

    seq: int
    event_id: str
    type: str
    occurred_at: str
    tenant: str
    call_id: str | None
    agent_id: str | None
    team: str | None
    data: dict[str, Any]
    call: dict[str, Any] | None


_EVENT = {
    "seq": 1042,
    "event_id": "5b0c8c3e-3c1a-4d59-8f3e-0d5b0c8c3e3c",
    "type": "call.agent_offered",
    "occurred_at": "2025-03-01T09:00:12.512Z",
    "tenant": "acme",
    "call_id": "8c1f7a8e-2f0b-4b43-9d0e-1b7f3a0c9e55",
    "agent_id": "a-1001",
    "team": "blue",
    "data": {
        "queue": "support",
        "agent_leg_uuid": "0f5d...",
        "contact": "user/1001",
        "ring_timeout_seconds": 20,
        "attempt": 1,
    },
    "call": {
        "call_id": "8c1f7a8e-2f0b-4b43-9d0e-1b7f3a0c9e55",
        "caller_number": "+33612345678",
        "dialed_number": "+4930123456",
        "customer_id": "CRM-000042",
        "queue": "support",
        "ivr_selections": ["2"],
        "agent_id": "a-1001",
    },
}
example(StreamEvent, _EVENT)

SSE_EXAMPLE = (
    "retry: 2000\n\n"
    f"id: 1042\nevent: call.agent_offered\ndata: {json.dumps(_EVENT)}\n\n"
    ": keepalive\n\n"
)
SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless `text/event-stream`; each `data:` is a StreamEvent.",
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": SSE_EXAMPLE}},
    },
    **errors(),
}


class TicketIn(BaseModel):
    """Which stream the ticket opens: one agent's, one team's, or (neither) the tenant's."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.@ -]+$"
    )
    team: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.@ -]+$"
    )

    @model_validator(mode="after")
    def _one_stream(self) -> TicketIn:
        if self.agent_id is not None and self.team is not None:
            raise ValueError("give agent_id or team, not both")
        return self

    @property
    def path(self) -> str:
        """Return the stream's path, the one the ticket is good for."""
        if self.agent_id is not None:
            return f"/v1/agents/{self.agent_id}/events"
        if self.team is not None:
            return f"/v1/teams/{self.team}/events"
        return "/v1/events"


class TicketOut(BaseModel):
    """A stream ticket, shown once."""

    ticket: str = Field(description="Pass as `?ticket=` on the stream's URL; works once.")
    url: str = Field(description="The stream's path with the ticket, for `new EventSource(url)`.")
    expires_at: datetime = Field(description="Unused after this, the ticket is void.")


example(TicketIn, {"agent_id": "a-1001"})
example(
    TicketOut,
    {
        "ticket": "cct_Xk2v9Qe0b7mFh1aR4sTz8Lw3yNc6dUo5pJiGqEr-KvY",
        "url": "/v1/agents/a-1001/events?ticket=cct_Xk2v9Qe0b7mFh1aR4sTz8Lw3yNc6dUo5pJiGqEr-KvY",
        "expires_at": "2025-03-01T09:01:00Z",
    },
)


@router.post(
    "/events/tickets",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketOut,
    responses=errors(),
)
async def create_stream_ticket(
    body: TicketIn, runtime: RuntimeDep, db: DbDep, key: Reader
) -> TicketOut:
    """A single-use ticket opening one event stream without the Authorization header.

    For browsers: `EventSource` cannot send headers, and an API key must never be put in a URL.
    The CRM's back end, holding the key, asks for a ticket and hands the page `url`; the ticket
    opens that stream once, within `CC_CRM_STREAM_TICKET_SECONDS` (60 s by default), while the
    key stays valid and holds `read`. A reconnecting EventSource needs a new ticket (and sends
    `Last-Event-ID`, or use `?after=`, so nothing is missed).
    """
    ttl = timedelta(seconds=runtime.settings.crm_stream_ticket_seconds)
    path = body.path
    async with db.session() as session:
        ticket, expires_at = await tickets.issue(
            session, runtime.tenant, key.key_id, path, runtime.clock(), ttl
        )
    url = f"{quote(path)}?ticket={ticket}"
    return TicketOut(ticket=ticket, url=url, expires_at=expires_at)


def _resume_from(header: str | None, query: int | None) -> int | None:
    if header is None:
        return query
    if not header.isdigit():
        raise HTTPException(400, "Last-Event-ID must be the numeric id of an event")
    return int(header)


def _hub(runtime: Runtime) -> EventHub:
    hub: EventHub = runtime.extras["hub"]
    return hub


async def _sse(runtime: Runtime, stream: StreamFilter, after: int | None) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    keepalive = runtime.settings.crm_stream_keepalive_seconds
    async for item in _hub(runtime).follow(stream, after, keepalive=keepalive):
        if item is None:
            yield b": keepalive\n\n"
        elif isinstance(item, Gap):
            gap = {"last_event_id": item.last_event_id, "oldest_kept": item.oldest_kept}
            yield f"event: gap\ndata: {json.dumps(gap)}\n\n".encode()
        else:
            yield b"".join(event.sse() for event in item)  # a burst in one write


def _streaming(runtime: Runtime, stream: StreamFilter, after: int | None) -> StreamingResponse:
    return StreamingResponse(
        _sse(runtime, stream, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/agents/{agent_id}/events", response_class=StreamingResponse, responses=SSE_DOC)
async def agent_events(
    agent_id: Name,
    runtime: RuntimeDep,
    _: StreamReader,
    last_event_id: LastEventId = None,
    after: Resume = None,
) -> StreamingResponse:
    """One agent's events: calls offered (with caller number and customer id), answered,
    held, transferred, ended, wrap-up, state changes."""
    return _streaming(runtime, StreamFilter(agent_id=agent_id), _resume_from(last_event_id, after))


@router.get("/teams/{team}/events", response_class=StreamingResponse, responses=SSE_DOC)
async def team_events(
    team: Name,
    runtime: RuntimeDep,
    _: StreamReader,
    last_event_id: LastEventId = None,
    after: Resume = None,
) -> StreamingResponse:
    """The events of every agent in a team (a supervisor's view)."""
    return _streaming(runtime, StreamFilter(team=team), _resume_from(last_event_id, after))


@router.get("/events", response_class=StreamingResponse, responses=SSE_DOC)
async def tenant_events(
    runtime: RuntimeDep,
    _: StreamReader,
    last_event_id: LastEventId = None,
    after: Resume = None,
) -> StreamingResponse:
    """Every call and agent event of the contact center."""
    return _streaming(runtime, StreamFilter(), _resume_from(last_event_id, after))


async def _websocket(websocket: WebSocket, stream: StreamFilter, after: int | None) -> None:
    """Authenticate the handshake's bearer key, then send each event as one JSON message."""
    runtime: Runtime = websocket.app.state.runtime
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer"
        else None
    )
    try:
        key = await authenticate(runtime, websocket.app.state.db, credentials)
    except HTTPException as exc:
        await websocket.close(code=1008, reason=str(exc.detail)[:120])
        return
    if not allows(key, Scope.READ):
        await websocket.close(code=1008, reason="this API key lacks the 'read' scope")
        return
    await websocket.accept()
    keepalive = runtime.settings.crm_stream_keepalive_seconds
    try:
        async for item in _hub(runtime).follow(stream, after, keepalive=keepalive):
            if item is None:
                await websocket.send_json({"type": "keepalive"})
            elif isinstance(item, Gap):
                await websocket.send_json(
                    {
                        "type": "gap",
                        "last_event_id": item.last_event_id,
                        "oldest_kept": item.oldest_kept,
                    }
                )
            else:
                for event in item:
                    await websocket.send_text(event.json())
    except WebSocketDisconnect:
        return


@router.websocket("/agents/{agent_id}/events/ws")
async def agent_events_ws(websocket: WebSocket, agent_id: str, after: int | None = None) -> None:
    """The agent stream over WebSocket (`Authorization: Bearer` on the handshake)."""
    await _websocket(websocket, StreamFilter(agent_id=agent_id), after)


@router.websocket("/teams/{team}/events/ws")
async def team_events_ws(websocket: WebSocket, team: str, after: int | None = None) -> None:
    """The team stream over WebSocket."""
    await _websocket(websocket, StreamFilter(team=team), after)

"""``/v1/calls``: call detail records (from the metrics service), one call with its timeline,
live position and routing explanation, and CSV export. The customer id and number the CRM or
the IVR gave a call are in every view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cc_crm_api.adapters.db import call_contexts, call_notes, event_log
from cc_crm_api.api.deps import DbDep, Reader, Runtime, RuntimeDep, Writer
from cc_crm_api.api.docs import IdempotencyKey, errors, example

router = APIRouter(prefix="/v1/calls", tags=["calls"])

CallId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@-]+$")]
Outcome = Literal[
    "answered",
    "abandoned",
    "blocked",
    "overflowed",
    "callback",
    "ended_in_ivr",
    "transferred_out",
    "failed",
]


class CallRecord(BaseModel):
    """A call detail record: who called, where it waited, who answered, how it ended."""

    model_config = ConfigDict(extra="allow")

    call_id: str
    first_event_at: datetime
    caller_number: str | None = None
    dialed_number: str | None = None
    customer_id: str | None = None
    queue: str | None = None
    agent_id: str | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    outcome: str | None = None
    ended_at: datetime | None = None


class CallPage(BaseModel):
    """One page of call records, oldest first."""

    items: list[CallRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class Note(BaseModel):
    """A wrap-up code and the agent's notes."""

    agent_id: str
    code: str
    resolved: bool | None
    notes: str | None
    created_at: datetime


class Call(BaseModel):
    """Everything known about one call."""

    call_id: str
    customer: dict[str, Any] | None = Field(
        description="Caller number, dialled number, customer id and IVR choices."
    )
    record: CallRecord | None = Field(description="The detail record, once the call is known.")
    live: dict[str, Any] | None = Field(description="Where the call stands while routing holds it.")
    routing: list[dict[str, Any]] | None = Field(
        description="Why it went (or did not go) to each agent: candidates, scores, skips."
    )
    timeline: list[dict[str, Any]] = Field(description="Its events, oldest first.")
    notes: list[Note]


_RECORD = {
    "call_id": "8c1f7a8e-2f0b-4b43-9d0e-1b7f3a0c9e55",
    "first_event_at": "2025-03-01T09:00:00Z",
    "caller_number": "+33612345678",
    "dialed_number": "+4930123456",
    "customer_id": "CRM-000042",
    "queue": "support",
    "agent_id": "a-1001",
    "wait_seconds": 12.5,
    "talk_seconds": 184.0,
    "outcome": "answered",
    "ended_at": "2025-03-01T09:03:40Z",
}
example(CallRecord, _RECORD)
example(CallPage, {"items": [_RECORD], "next_cursor": "WyIyMDI1LTAzLTAxVDA5OjAwOjAwWiIsImMiXQ"})
example(
    Call,
    {
        "call_id": _RECORD["call_id"],
        "customer": {
            "caller_number": "+33612345678",
            "customer_id": "CRM-000042",
            "ivr_selections": ["2"],
        },
        "record": _RECORD,
        "live": None,
        "routing": [{"chosen": ["a-1001"], "candidates": 3}],
        "timeline": [{"seq": 1, "type": "call.offered", "occurred_at": "2025-03-01T09:00:00Z"}],
        "notes": [
            {
                "agent_id": "a-1001",
                "code": "sale",
                "resolved": True,
                "notes": "Upgraded to premium.",
                "created_at": "2025-03-01T09:04:10Z",
            }
        ],
    },
)

Start = Annotated[datetime, Query(description="Calls that began at or after (with offset).")]
End = Annotated[datetime, Query(description="... and before (with offset).")]
Name = Annotated[str | None, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of a page.")]
Limit = Annotated[int, Query(ge=1, le=1000)]
E164 = r"^\+[1-9][0-9]{1,14}$"
CallerNumber = Annotated[
    str | None,
    Query(
        pattern=E164,
        description="Calls from exactly this number, in E.164 (`+33612345678`, `+` written "
        "`%2B` in a URL). Numbers the platform received in another form (an extension, a "
        "national number) do not match.",
        examples=["+33612345678"],
    ),
]


def _filters(
    start: datetime,
    end: datetime,
    queue: str | None,
    agent: str | None,
    outcome: str | None,
    customer_id: str | None,
    caller_number: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(400, "start and end need a UTC offset, e.g. 2025-03-01T00:00:00Z")
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "queue": queue,
        "agent": agent,
        "outcome": outcome,
        "customer_id": customer_id,
        "caller_number": caller_number,
        "cursor": cursor,
        "limit": limit,
    }
    return {k: v for k, v in params.items() if v is not None}


@router.get("", response_model=CallPage, responses=errors())
async def list_calls(
    runtime: RuntimeDep,
    _: Reader,
    start: Start,
    end: End,
    queue: Name = None,
    agent: Name = None,
    outcome: Outcome | None = None,
    customer_id: Name = None,
    caller_number: CallerNumber = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> CallPage:
    """Call records in a time range, filtered, oldest first, a page at a time."""
    params = _filters(start, end, queue, agent, outcome, customer_id, caller_number, cursor, limit)
    reply = await runtime.metrics.call("GET", "/cdrs", params=params)
    return CallPage.model_validate(reply.json())


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "CSV, one call per line; `X-Next-Cursor` names the next page.",
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "call_id,first_event_at,caller_number,customer_id,...\n"
                    "8c1f7a8e-...,2025-03-01T09:00:00+00:00,+33612345678,CRM-000042,...\n",
                }
            },
        },
        **errors(),
    },
)
async def export_calls(
    runtime: RuntimeDep,
    _: Reader,
    start: Start,
    end: End,
    queue: Name = None,
    agent: Name = None,
    outcome: Outcome | None = None,
    customer_id: Name = None,
    caller_number: CallerNumber = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
) -> Response:
    """The same records as CSV (follow `X-Next-Cursor` for more)."""
    params = _filters(start, end, queue, agent, outcome, customer_id, caller_number, cursor, limit)
    reply = await runtime.metrics.call("GET", "/cdrs", params={**params, "format": "csv"})
    headers = {}
    if reply.headers.get("x-next-cursor"):
        headers["X-Next-Cursor"] = reply.headers["x-next-cursor"]
    return Response(reply.content, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{call_id}", response_model=Call, responses=errors(404))
async def get_call(call_id: CallId, runtime: RuntimeDep, db: DbDep, _: Reader) -> Call:
    """One call: its record, live position, routing explanation, timeline, notes."""
    record, live, why, (customer, timeline, notes) = await asyncio.gather(
        runtime.metrics.call("GET", f"/cdrs/{call_id}", missing_ok=True),
        runtime.routing.call("GET", f"/v1/calls/{call_id}", missing_ok=True),
        runtime.routing.call("GET", f"/v1/calls/{call_id}/explain", missing_ok=True),
        _local(runtime, db, call_id),
    )
    found = record.status_code == 200 or live.status_code == 200 or timeline or customer
    if not found:
        raise HTTPException(404, f"no call {call_id!r}")
    return Call(
        call_id=call_id,
        customer=customer,
        record=CallRecord.model_validate(record.json()) if record.status_code == 200 else None,
        live=live.json() if live.status_code == 200 else None,
        routing=why.json() if why.status_code == 200 else None,
        timeline=timeline,
        notes=notes,
    )


async def _local(
    runtime: Runtime, db: Any, call_id: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[Note]]:
    tenant = runtime.tenant
    async with db.session() as session:
        context = (
            await session.execute(
                select(call_contexts.c.context).where(
                    call_contexts.c.tenant == tenant, call_contexts.c.call_id == call_id
                )
            )
        ).scalar_one_or_none()
        events = (
            await session.execute(
                select(event_log.c.document)
                .where(event_log.c.tenant == tenant, event_log.c.call_id == call_id)
                .order_by(event_log.c.seq)
                .limit(500)
            )
        ).scalars()
        timeline = [{k: v for k, v in doc.items() if k not in ("call", "tenant")} for doc in events]
        rows = (
            await session.execute(
                select(call_notes)
                .where(call_notes.c.tenant == tenant, call_notes.c.call_id == call_id)
                .order_by(call_notes.c.id)
            )
        ).all()
    notes = [
        Note(
            agent_id=r.agent_id,
            code=r.code,
            resolved=r.resolved,
            notes=r.notes,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return (dict(context) if context else None), timeline, notes


# --- CTI control -------------------------------------------------------------------------------

HangupCause = Literal[
    "NORMAL_CLEARING", "CALL_REJECTED", "USER_BUSY", "NO_ANSWER", "ORIGINATOR_CANCEL"
]


class HangupIn(BaseModel):
    """How to end the call (a FreeSWITCH hangup cause from a fixed set)."""

    cause: HangupCause = Field(
        default="NORMAL_CLEARING", description="The hangup cause the call ends with."
    )


class CommandAccepted(BaseModel):
    """A call-control command was sent to the switch; the call's events say how it went."""

    model_config = ConfigDict(extra="allow")

    call_id: str
    command: str = Field(
        description="The command sent (`hangup`, `transfer`, `hold`, `resume`, `call`)."
    )
    cause: str | None = None
    target_kind: str | None = None
    target: str | None = None


class TransferToNumber(BaseModel):
    """A blind transfer to a phone number."""

    target_kind: Literal["number"] = Field(description="`target` is a phone number.")
    target: str = Field(
        min_length=3,
        max_length=21,
        pattern=r"^\+?[0-9]{3,20}$",
        description="Digits with an optional leading `+` (E.164); never a dial string.",
    )


class TransferToQueue(BaseModel):
    """A blind transfer to a queue: the caller waits there as a new arrival."""

    target_kind: Literal["queue"] = Field(description="`target` is a queue's name.")
    target: str = Field(min_length=1, max_length=200, description="The queue's name.")


class TransferToAgent(BaseModel):
    """A blind transfer to one agent, who must be available: only that agent is rung."""

    target_kind: Literal["agent"] = Field(description="`target` is an agent's id.")
    target: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", description="The agent's id."
    )


TransferIn = Annotated[
    TransferToNumber | TransferToQueue | TransferToAgent, Field(discriminator="target_kind")
]


example(HangupIn, {"cause": "NORMAL_CLEARING"})
example(TransferToNumber, {"target_kind": "number", "target": "+4930123456"})
example(TransferToQueue, {"target_kind": "queue", "target": "billing"})
example(TransferToAgent, {"target_kind": "agent", "target": "a-1002"})
example(
    CommandAccepted, {"call_id": "7f0c2d1e-...", "command": "hangup", "cause": "NORMAL_CLEARING"}
)


def _command_route(command: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A call command's route: 202 with what routing took on; 404 or 409 as routing says."""
    return router.post(
        f"/{{call_id}}/{command}",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=CommandAccepted,
        response_model_exclude_none=True,
        responses=errors(404, 409),
    )


async def _command(
    runtime: Runtime, call_id: str, command: str, body: dict[str, Any] | None = None
) -> CommandAccepted:
    """Pass a call command to routing, which alone drives FreeSWITCH; its problems pass through."""
    reply = await runtime.routing.call("POST", f"/v1/calls/{call_id}/{command}", json=body)
    return CommandAccepted.model_validate(reply.json())


@_command_route("hangup")
async def hang_up(
    call_id: CallId,
    runtime: RuntimeDep,
    _: Writer,
    body: HangupIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    """Hang up a live call (queued, ringing or talking). The switch ends it; `call.ended`
    follows on the event stream and webhooks with this cause, `hangup_by` `agent` for an
    answered call. 404 when no live call has this id; 409 for a booked callback (no line yet).
    Send an `Idempotency-Key`: a retry returns the first answer and hangs up once."""
    return await _command(runtime, call_id, "hangup", {"cause": (body or HangupIn()).cause})


@_command_route("transfer")
async def transfer(
    call_id: CallId,
    body: TransferIn,
    runtime: RuntimeDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> CommandAccepted:
    """Blind-transfer an answered call. To a queue: the agent's line drops, the caller waits
    in that queue as any arrival (`call.offered` there) and keeps the call id; the next agent
    answers the same call. To an agent (by id; 409 with the reason unless that agent is
    available): the agent's line drops, the caller hears music while only that agent is rung,
    and their answer is a `call.answered` with `queue_answer` false (the queue already
    answered this call); if they do not answer, the caller goes back to the queue it was
    answered in as a new arrival (`call.offered` there). To a number: the caller is handed to
    the platform's dialplan, which reaches it, and the call ends here (`call.ended`,
    `transferred_out`). Either way `call.transferred` is published and the agent goes into
    wrap-up. A click-to-call can be transferred to a number only. 404 when no live call (or
    no queue, no agent) has this id; 409 when the call is not answered (waiting, ringing, a
    callback). Send an `Idempotency-Key`."""
    return await _command(runtime, call_id, "transfer", body.model_dump(mode="json"))


@_command_route("hold")
async def hold(
    call_id: CallId, runtime: RuntimeDep, _: Writer, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    """Put an answered call on hold: the caller hears music on hold; `call.held` follows.
    409 unless the call is answered and not on hold already. Send an `Idempotency-Key`."""
    return await _command(runtime, call_id, "hold")


@_command_route("resume")
async def resume(
    call_id: CallId, runtime: RuntimeDep, _: Writer, idempotency_key: IdempotencyKey = None
) -> CommandAccepted:
    """Take a held call off hold; `call.resumed` carries the hold's length and `call.ended`
    the call's total `hold_seconds`. 409 unless on hold. Send an `Idempotency-Key`."""
    return await _command(runtime, call_id, "resume")

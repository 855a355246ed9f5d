"""Every read and write of routing's own tables, in one place (the dialer's: ``dialer_store``).

Writes are prepared while the core decides (rows and statements, never references to the core)
and run by the runtime's flusher in one transaction with the outbox, so an event is committed
with the ledger and agent state it changes. Reads serve the start: the configuration, and what a
restore needs that FreeSWITCH cannot give back.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, Outbox, upsert, upsert_many, upsert_statement
from cc_proto import make_event
from cc_proto.events import (
    CallAnswered,
    CallCallbackRequested,
    CallEnded,
    CallHeld,
    CallOffered,
    CallPlaced,
    CallResumed,
    CallTransferred,
    ConfigChanged,
)
from cc_routing.adapters import db as tables
from cc_routing.core import AgentView, CallView, PublishEvent

Store = Callable[[AsyncSession], Awaitable[None]]
"""Extra writes (configuration) made in the same transaction as a step's events."""
LedgerEntry = tuple[Any, dict[str, Any]]
"""A statement on the call or callback ledger, with its parameters."""


# --- the ledgers a restart needs: calls in progress, booked callbacks --------------------------


class _Statements(NamedTuple):
    """The ledger statements, built once: parameters travel beside them, never inside."""

    call_answered: Any
    bridge_requested: Any
    call_ended: Any
    call_held: Any
    call_resumed: Any
    hold_reset: Any
    hangup_requested: Any
    callback_booked: Any
    callback_ended: Any


@functools.cache
def _statements() -> _Statements:
    calls, callbacks = tables.active_calls, tables.callbacks
    call = (calls.c.tenant == bindparam("b_tenant")) & (calls.c.call_id == bindparam("b_call_id"))
    agent: dict[str, Any] = {
        "agent_id": bindparam("v_agent_id"),
        "agent_leg": bindparam("v_agent_leg"),
    }
    return _Statements(
        call_answered=calls.update().where(call).values(answered_at=bindparam("v_at"), **agent),
        bridge_requested=calls.update()
        .where(call)
        .values(bridge_requested_at=bindparam("v_at"), **agent),
        call_ended=calls.delete().where(call),
        call_held=calls.update().where(call).values(held_since=bindparam("v_at")),
        call_resumed=calls.update()
        .where(call)
        .values(held_since=None, hold_seconds=calls.c.hold_seconds + bindparam("v_held")),
        hold_reset=calls.update().where(call).values(held_since=None, hold_seconds=0.0),
        hangup_requested=calls.update().where(call).values(hangup_requested=bindparam("v_cause")),
        callback_booked=callbacks.insert(),
        callback_ended=callbacks.delete().where(
            (callbacks.c.tenant == bindparam("b_tenant"))
            & (callbacks.c.callback_id == bindparam("b_call_id"))
        ),
    )


@functools.cache
def _call_upsert(dialect: str, columns: tuple[str, ...]) -> Any:
    return upsert_statement(dialect, tables.active_calls, columns, ("tenant", "call_id"))


def ledger_entries(
    tenant: str,
    dialect: str,
    published: PublishEvent,
    call_view: Callable[[str], CallView | None],
) -> list[LedgerEntry]:
    """What one published event changes in the ledgers (``call_view`` looks a call up now)."""
    data, call_id = published.data, published.call_id
    if call_id is None:
        return []
    statements = _statements()
    mine = {"b_tenant": tenant, "b_call_id": call_id}
    if isinstance(data, CallOffered):
        values = {
            "tenant": tenant,
            "call_id": call_id,
            "queue": data.queue,
            "priority": data.priority,
            "enqueued_at": published.at,
            "caller_number": data.caller_number,
            # A call transferred to a queue is offered again: no longer answered.
            "agent_id": None,
            "agent_leg": None,
            "answered_at": None,
            "bridge_requested_at": None,
            "held_since": None,
            "hold_seconds": 0.0,
        }
        return [(_call_upsert(dialect, tuple(values)), values)]
    if isinstance(data, CallPlaced):
        placed = {
            "tenant": tenant,
            "call_id": call_id,
            "queue": data.queue,
            "priority": 0,
            "enqueued_at": published.at,
            "agent_id": published.agent_id,
            "placed_number": data.dialed_number,
            "customer_id": data.customer_id,
        }
        return [(_call_upsert(dialect, tuple(placed)), placed)]
    if isinstance(data, CallAnswered):
        answered = {
            "v_at": published.at,
            "v_agent_id": published.agent_id,
            "v_agent_leg": data.agent_leg_uuid,
        }
        return [(statements.call_answered, mine | answered)]
    if isinstance(data, CallHeld):
        return [(statements.call_held, mine | {"v_at": published.at})]
    if isinstance(data, CallResumed):
        return [(statements.call_resumed, mine | {"v_held": data.hold_seconds})]
    if isinstance(data, CallTransferred) and data.talk_seconds is not None:
        return [(statements.hold_reset, mine)]  # the call goes on: the next part starts afresh
    if isinstance(data, CallCallbackRequested) and data.callback_call_id is not None:
        view = call_view(data.callback_call_id)
        booked = {
            "tenant": tenant,
            "callback_id": data.callback_call_id,
            "queue": data.queue,
            "number": data.callback_number,
            "priority": data.priority,
            "enqueued_at": view.enqueued_at if view is not None else published.at,
            "origin_call_id": call_id,
            "skills": view.skills if view is not None else None,
        }
        return [(statements.callback_booked, booked)]
    if isinstance(data, CallEnded):
        return [(statements.call_ended, mine), (statements.callback_ended, mine)]
    return []


def hangup_requested(tenant: str, call_id: str, cause: str) -> LedgerEntry:
    """A CRM's hang-up is noted with its cause as it is sent: a restart before the switch
    confirms it still ends the call with that cause."""
    return (
        _statements().hangup_requested,
        {"b_tenant": tenant, "b_call_id": call_id, "v_cause": cause},
    )


def bridge_requested(
    tenant: str, call_id: str, agent_id: str, agent_leg: str, answered_at: float | None
) -> LedgerEntry:
    """The bridge is noted before it is asked for: a crash before its confirmation restores
    the call as connecting to that agent leg, never as a caller still waiting."""
    return (
        _statements().bridge_requested,
        {
            "b_tenant": tenant,
            "b_call_id": call_id,
            "v_agent_id": agent_id,
            "v_agent_leg": agent_leg,
            "v_at": answered_at,
        },
    )


def agent_state_row(tenant: str, view: AgentView) -> dict[str, Any]:
    """An agent's state as stored, so a restart gives it back (wrap-up end included)."""
    return {
        "tenant": tenant,
        "agent_id": view.agent_id,
        "state": view.state,
        "since": view.since,
        "reason": view.reason,
        "wrap_until": view.wrap_until,
        "calls_answered": view.calls_answered,
        "talk_seconds": view.talk_seconds,
    }


def _runs(ledger: Sequence[LedgerEntry]) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """Group consecutive uses of one statement (same columns) so each run is one executemany."""
    statement: Any = None
    rows: list[dict[str, Any]] = []
    for next_statement, params in ledger:
        if rows and (next_statement is not statement or params.keys() != rows[0].keys()):
            yield statement, rows
            rows = []
        statement = next_statement
        rows.append(params)
    if rows:
        yield statement, rows


async def write(
    session: AsyncSession,
    outbox: Outbox,
    *,
    events: Sequence[dict[str, Any]],
    ledger: Sequence[LedgerEntry],
    agent_states: Sequence[dict[str, Any]],
    store: Store | None = None,
) -> None:
    """Write a group of steps in the caller's transaction: configuration, events (one
    statement, in decision order), ledger statements in order, agents' latest states."""
    if store is not None:
        await store(session)
    await outbox.add_rows(session, list(events))
    for statement, rows in _runs(ledger):
        await session.execute(statement, rows)
    if agent_states:
        await upsert_many(session, tables.agent_states, agent_states, ["tenant", "agent_id"])


# --- configuration ------------------------------------------------------------------------------


def configuration_write(
    tenant: str,
    outbox: Outbox,
    kind: Literal["queue", "agent"],
    key: str,
    document: dict[str, Any] | None,
) -> Store:
    """Return the write that stores (or deletes, for None) a queue or agent document and
    publishes config.changed; the step runs it in its own transaction, under its lock."""
    table = tables.queues if kind == "queue" else tables.agents
    key_column = "name" if kind == "queue" else "agent_id"

    async def store(session: AsyncSession) -> None:
        if document is None:
            await session.execute(
                table.delete().where(table.c.tenant == tenant, table.c[key_column] == key)
            )
            action: Literal["created", "updated", "deleted"] = "deleted"
        else:
            values = {
                "tenant": tenant,
                key_column: key,
                "config": document,
                "updated_at": datetime.now(UTC),
            }
            await upsert(session, table, values, ["tenant", key_column])
            action = "updated"
        event = make_event(ConfigChanged(entity=kind, entity_id=key, action=action), tenant=tenant)
        await outbox.add(session, event)

    return store


async def read_configuration(db: Database, tenant: str) -> tuple[list[Any], list[Any]]:
    """Return the stored queue and agent documents (validated by the caller)."""
    async with db.session() as session:
        queues = (
            await session.execute(
                sa.select(tables.queues.c.config).where(tables.queues.c.tenant == tenant)
            )
        ).scalars()
        agents = (
            await session.execute(
                sa.select(tables.agents.c.config).where(tables.agents.c.tenant == tenant)
            )
        ).scalars()
        return list(queues), list(agents)


# --- what a restore reads -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds for a restore: agent states, the call ledger, callbacks."""

    agent_states: Sequence[Any]
    ledger: Sequence[Any]
    callbacks: Sequence[Any]


async def read_stored(db: Database, tenant: str) -> Stored:
    """Read what a restore needs, in one session (the ledger in queue-entry order)."""
    async with db.session() as session:

        async def rows(table: sa.Table, *order: Any) -> list[Any]:
            query = sa.select(table).where(table.c.tenant == tenant).order_by(*order)
            return list((await session.execute(query)).all())

        return Stored(
            agent_states=await rows(tables.agent_states),
            ledger=await rows(tables.active_calls, tables.active_calls.c.enqueued_at),
            callbacks=await rows(tables.callbacks),
        )

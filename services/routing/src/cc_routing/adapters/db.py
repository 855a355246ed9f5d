"""The routing service's tables, all in schema ``routing``.

Configuration (queues, agents) is stored as JSON documents, validated by the API's schemas on the
way in; agent state and booked callbacks are the runtime facts a restarted instance needs that
FreeSWITCH cannot give back (queued callers it can: their channel variables).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Integer, MetaData, String, Table

from cc_common.db import kit_tables

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)

queues = Table(
    "queues",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("agent_id", String(200), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

agent_states = Table(
    "agent_states",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("agent_id", String(200), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("since", Float, nullable=False),
    Column("reason", String(200), nullable=True),
    Column("wrap_until", Float, nullable=True),
    Column("calls_answered", Integer, nullable=False, default=0),
    Column("talk_seconds", Float, nullable=False, default=0.0),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("callback_id", String(64), primary_key=True),
    Column("queue", String(200), nullable=False),
    Column("number", String(64), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("enqueued_at", Float, nullable=False),
    Column("origin_call_id", String(64), nullable=True),
    Column("skills", String(1000), nullable=True),
)

active_calls = Table(
    "active_calls",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("call_id", String(64), primary_key=True),
    Column("queue", String(200), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("enqueued_at", Float, nullable=False),
    Column("caller_number", String(64), nullable=True),
    Column("agent_id", String(200), nullable=True),
    Column("agent_leg", String(64), nullable=True),
    Column("answered_at", Float, nullable=True),
    Column("bridge_requested_at", Float, nullable=True),
    Column("placed_number", String(64), nullable=True),
    Column("customer_id", String(200), nullable=True),
    Column("held_since", Float, nullable=True),
    Column("hold_seconds", Float, nullable=False, server_default="0"),
    Column("hangup_requested", String(64), nullable=True),
)
"""Calls routing has offered and not yet ended, so a restart can end those FreeSWITCH lost.

``agent_id``/``agent_leg`` with ``bridge_requested_at`` and no ``answered_at``: the agent picked
up and the bridge was asked for, not yet confirmed. ``placed_number``: an agent's click-to-call
to that number (``agent_id`` placed it; ``customer_id`` is the CRM's). ``held_since`` and
``hold_seconds`` (finished holds since the last answer) keep the hold, ``hangup_requested`` the
cause a CRM asked to hang up with: the switch gives back neither."""

# The outbound dialer's tables live on this metadata too (migrations compare against it).
from cc_routing.adapters import dialer_db as _dialer_db  # noqa: E402, F401

"""The metrics service's tables, all in its own schema ``metrics``.

Interval tables hold one row per queue (or agent) per 15-minute interval with a column for every
fact, so every KPI's numerator and denominator is there and roll-ups are sums; hour tables hold
the same sums per UTC hour so reports over months read a quarter of the rows. Call detail
records, agent state segments and statuses keep what the engine needs to continue after a
restart; schedules and costs are inputs given through the API.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from cc_common.db import kit_tables
from cc_metrics.core.engine import MAX_ID
from cc_metrics.core.facts import AGENT_FACTS, CAMPAIGN_FACTS, QUEUE_FACTS, FactSpec

SCHEMA = "metrics"
metadata = MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)

NAME = MAX_ID
"""Length of identifiers: queue, agent, team, call id (FreeSWITCH UUIDs and our own names)."""


def _fact_columns(specs: tuple[FactSpec, ...]) -> list[Column[float]]:
    return [Column(spec.name, Float(53), nullable=False, default=0.0) for spec in specs]


def _tenant() -> Column[str]:
    return Column("tenant", String(63), primary_key=True)


def _facts_table(name: str, key: str, specs: tuple[FactSpec, ...]) -> Table:
    """A table of facts per key (queue, campaign) and interval, a column per fact."""
    return Table(
        name,
        metadata,
        _tenant(),
        Column(key, String(NAME), primary_key=True),
        Column("interval_start", DateTime(timezone=True), primary_key=True),
        *_fact_columns(specs),
    )


queue_intervals = _facts_table("queue_intervals", "queue", QUEUE_FACTS)
Index("ix_metrics_queue_intervals_time", queue_intervals.c.tenant, queue_intervals.c.interval_start)

agent_intervals = Table(
    "agent_intervals",
    metadata,
    _tenant(),
    Column("agent_id", String(NAME), primary_key=True),
    Column("interval_start", DateTime(timezone=True), primary_key=True),
    Column("team", String(NAME), nullable=True),
    *_fact_columns(AGENT_FACTS),
)
Index(
    "ix_metrics_agent_intervals_team",
    agent_intervals.c.tenant,
    agent_intervals.c.team,
    agent_intervals.c.interval_start,
)
Index("ix_metrics_agent_intervals_time", agent_intervals.c.tenant, agent_intervals.c.interval_start)

queue_hours = _facts_table("queue_hours", "queue", QUEUE_FACTS)
"""The same facts summed per UTC hour, written with the 15-minute rows, for long reports."""

agent_hours = Table(
    "agent_hours",
    metadata,
    _tenant(),
    Column("agent_id", String(NAME), primary_key=True),
    Column("interval_start", DateTime(timezone=True), primary_key=True),
    Column("team", String(NAME), nullable=True),
    *_fact_columns(AGENT_FACTS),
)
Index(
    "ix_metrics_agent_hours_team",
    agent_hours.c.tenant,
    agent_hours.c.team,
    agent_hours.c.interval_start,
)

campaign_intervals = _facts_table("campaign_intervals", "campaign", CAMPAIGN_FACTS)
"""Outbound facts per dialer campaign and 15-minute interval."""
Index(
    "ix_metrics_campaign_intervals_time",
    campaign_intervals.c.tenant,
    campaign_intervals.c.interval_start,
)

campaign_hours = _facts_table("campaign_hours", "campaign", CAMPAIGN_FACTS)
"""The outbound facts summed per UTC hour (the abandon rule's 30 days read these)."""

known_queues = Table(
    "known_queues",
    metadata,
    _tenant(),
    Column("queue", String(NAME), primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
)

call_records = Table(
    "call_records",
    metadata,
    _tenant(),
    Column("call_id", String(NAME), primary_key=True),
    Column("first_event_at", DateTime(timezone=True), nullable=False),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    Column("queue", String(NAME)),
    Column("offered_at", DateTime(timezone=True)),
    Column("final_queue", String(NAME)),
    Column("final_queue_at", DateTime(timezone=True)),
    Column("ended_queue", String(NAME)),
    Column("priority", Integer),
    Column("caller_number", String(NAME)),
    Column("dialed_number", String(NAME)),
    Column("customer_id", String(NAME)),
    Column("direction", String(16), nullable=False, server_default="inbound"),
    Column("ivr_flow", String(NAME)),
    Column("ivr_seconds", Float(53)),
    Column("ivr_outcome", String(32)),
    Column("queued", Boolean, nullable=False),
    Column("agent_offers", Integer, nullable=False),
    Column("agent_missed", Integer, nullable=False),
    Column("legs", JSON, nullable=False),
    Column("agent_id", String(NAME)),
    Column("agent_leg_uuid", String(NAME)),
    Column("answered_at", DateTime(timezone=True)),
    Column("wait_seconds", Float(53)),
    Column("ring_seconds", Float(53)),
    Column("left_queue_at", DateTime(timezone=True)),
    Column("abandoned", Boolean, nullable=False),
    Column("overflowed_to", String(NAME)),
    Column("callback_requested", Boolean, nullable=False),
    Column("blocked_reason", String(32)),
    Column("hold_count", Integer, nullable=False),
    Column("hold_seconds", Float(53)),
    Column("talk_seconds", Float(53)),
    Column("wrap_up_seconds", Float(53), nullable=False),
    Column("transfers", Integer, nullable=False),
    Column("transfer_kind", String(32)),
    Column("transfer_target", String(NAME + 10)),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration_seconds", Float(53)),
    Column("outcome", String(32)),
    Column("hangup_cause", String(NAME)),
    Column("hangup_by", String(16)),
    Column("disposition_code", String(NAME)),
    Column("disposition_resolved", Boolean),
    Column("survey_csat", Integer),
    Column("survey_nps", Integer),
    Column("survey_fcr", Boolean),
    Column("recording_id", String(NAME)),
    Column("qa_evaluations", Integer, nullable=False),
    Column("qa_score_sum", Float(53), nullable=False),
    Column("qa_scores", JSON, nullable=False, server_default="{}"),
    Column("agent_parts", JSON, nullable=False, server_default="{}"),
)
Index(
    "ix_metrics_call_records_time",
    call_records.c.tenant,
    call_records.c.first_event_at,
    call_records.c.call_id,
)
Index("ix_metrics_call_records_queue", call_records.c.tenant, call_records.c.queue)
Index("ix_metrics_call_records_agent", call_records.c.tenant, call_records.c.agent_id)
Index(
    "ix_metrics_call_records_caller",
    call_records.c.tenant,
    call_records.c.caller_number,
    call_records.c.first_event_at,
)

agent_segments = Table(
    "agent_segments",
    metadata,
    _tenant(),
    Column("agent_id", String(NAME), primary_key=True),
    Column("started_at", DateTime(timezone=True), primary_key=True),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("state", String(32), nullable=False),
    Column("team", String(NAME)),
    Column("reason", String(NAME)),
    Column("provisional", Boolean, nullable=False),
)
Index("ix_metrics_agent_segments_end", agent_segments.c.tenant, agent_segments.c.ended_at)

agent_status = Table(
    "agent_status",
    metadata,
    _tenant(),
    Column("agent_id", String(NAME), primary_key=True),
    Column("team", String(NAME)),
    Column("state", String(32), nullable=False),
    Column("since", DateTime(timezone=True)),
    Column("reason", String(NAME)),
    Column("queues", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("login_at", DateTime(timezone=True)),
    Column("logout_at", DateTime(timezone=True)),
    Column("last_call_id", String(NAME)),
    Column("last_call_at", DateTime(timezone=True)),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("tenant", String(63), nullable=False),
    Column("agent_id", String(NAME), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("activity", String(32), nullable=False),
)
Index("ix_metrics_schedules_agent", schedules.c.tenant, schedules.c.agent_id, schedules.c.starts_at)

costs = Table(
    "costs",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("tenant", String(63), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("key", String(NAME), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("amount", Float(53), nullable=False),
)
Index("ix_metrics_costs_scope", costs.c.tenant, costs.c.scope, costs.c.key)

"""The recording service's tables, all in its own schema."""

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
    Text,
)

from cc_common.db import kit_tables

SCHEMA = "recording"
metadata = MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)

Instant = DateTime(timezone=True)

policies = Table(
    "policies",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("scope", String(16), primary_key=True),  # queue | agent
    Column("name", String(200), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("share", Float, nullable=False),
    Column("stereo", Boolean, nullable=False),
    Column("updated_at", Instant, nullable=False),
)

retention = Table(
    "retention",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("queue", String(200), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("updated_at", Instant, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("call_id", String(200), primary_key=True),
    Column("caller_number", String(200)),
    Column("customer_id", String(200)),
    Column("queue", String(200)),
    Column("seen_at", Instant, nullable=False),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("call_id", String(200), nullable=False),
    Column("agent_id", String(200)),
    Column("agent_leg_uuid", String(200)),
    Column("queue", String(200)),
    Column("caller_number", String(200)),
    Column("stereo", Boolean, nullable=False),
    Column("policy_source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("switch_path", Text, nullable=False),
    Column("started_at", Instant, nullable=False),
    Column("ended_at", Instant),
    Column("duration_seconds", Float),
    Column("pauses", JSON, nullable=False),
    Column("size_bytes", BigInteger),
    Column("sha256", String(64)),
    Column("backend", String(16)),
    Column("storage_key", Text),
    Column("kek_id", String(64)),
    Column("wrapped_key", Text),
    Column("stored_at", Instant),
    Column("expires_at", Instant),
    Column("legal_hold", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Instant),
    Column("reason", Text),
    Column("deleted_at", Instant),
    Index("recordings_call", "tenant", "call_id"),
    Index("recordings_status", "status", "next_attempt_at"),
    Index("recordings_caller", "tenant", "caller_number"),
)

access_log = Table(
    "access_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("recording_id", String(64), nullable=False),
    Column("call_id", String(200), nullable=False),
    Column("user", String(200), nullable=False),
    Column("action", String(16), nullable=False),
    Column("byte_range", String(100)),
    Column("at", Instant, nullable=False),
    Index("access_log_recording", "recording_id"),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("recording_id", String(64)),
    Column("call_id", String(200)),
    Column("action", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("at", Instant, nullable=False),
    Index("audit_recording", "recording_id"),
)

scorecards = Table(
    "scorecards",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("form", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", Instant, nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("recording_id", String(64), nullable=False),
    Column("call_id", String(200), nullable=False),
    Column("agent_id", String(200)),
    Column("queue", String(200)),
    Column("scorecard", String(200), nullable=False),
    Column("scorecard_version", Integer, nullable=False),
    Column("evaluator", String(200), nullable=False),
    Column("answers", JSON, nullable=False),
    Column("comments", Text),
    Column("percent", Float, nullable=False),
    Column("earned", Float, nullable=False),
    Column("possible", Float, nullable=False),
    Column("critical_failed", JSON, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("calibration", String(200)),
    Column("dispute_reason", Text),
    Column("reviewer", String(200)),
    Column("resolution", Text),
    Column("created_at", Instant, nullable=False),
    Column("updated_at", Instant, nullable=False),
    Index("evaluations_recording", "tenant", "recording_id"),
    Index("evaluations_agent", "tenant", "agent_id", "created_at"),
)

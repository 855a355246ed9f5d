"""The crm-api service's tables, all in its own schema; every row carries its tenant."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from cc_common.db import kit_tables

SCHEMA = "crm_api"
metadata = MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)

Json = JSON().with_variant(JSONB(), "postgresql")
Serial = BigInteger().with_variant(Integer(), "sqlite")

TENANT = 63
NAME = 200

api_keys = Table(
    "api_keys",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("key_id", String(40), primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("scopes", Json, nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("caller", String(64), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("content_type", String(200), nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

agents = Table(
    "agents",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("agent_id", String(NAME), primary_key=True),
    Column("config", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

queues = Table(
    "queues",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("name", String(NAME), primary_key=True),
    Column("config", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

agent_teams = Table(
    "agent_teams",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("agent_id", String(NAME), primary_key=True),
    Column("team", String(NAME), nullable=True),
)

call_contexts = Table(
    "call_contexts",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("call_id", String(NAME), primary_key=True),
    Column("context", Json, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
)

call_notes = Table(
    "call_notes",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT), nullable=False),
    Column("call_id", String(NAME), nullable=True, index=True),
    Column("agent_id", String(NAME), nullable=False),
    Column("code", String(100), nullable=False),
    Column("resolved", Boolean, nullable=True),
    Column("notes", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

event_log = Table(
    "event_log",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT), nullable=False),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("call_id", String(NAME), nullable=True),
    Column("agent_id", String(NAME), nullable=True),
    Column("team", String(NAME), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("document", Json, nullable=False),
)
Index("ix_crm_api_event_log_agent", event_log.c.tenant, event_log.c.agent_id, event_log.c.seq)
Index("ix_crm_api_event_log_team", event_log.c.tenant, event_log.c.team, event_log.c.seq)
Index("ix_crm_api_event_log_call", event_log.c.tenant, event_log.c.call_id, event_log.c.seq)

webhooks = Table(
    "webhooks",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("webhook_id", String(40), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("description", String(NAME), nullable=True),
    Column("events", Json, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(500), nullable=True),
    Column("consecutive_failures", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("tenant", String(TENANT), nullable=False),
    Column("webhook_id", String(40), nullable=False),
    Column("message_id", String(60), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("event_seq", BigInteger, nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
)
Index(
    "ix_crm_api_deliveries_due",
    deliveries.c.next_attempt_at,
    postgresql_where=deliveries.c.status == "pending",
)
Index("ix_crm_api_deliveries_webhook", deliveries.c.tenant, deliveries.c.webhook_id)

attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
)

stream_tickets = Table(
    "stream_tickets",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("ticket_hash", String(64), primary_key=True),
    Column("key_id", String(40), nullable=False),
    Column("path", String(500), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
Index("ix_crm_api_stream_tickets_expiry", stream_tickets.c.tenant, stream_tickets.c.expires_at)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("tenant", String(TENANT), primary_key=True),
    Column("key_id", String(40), primary_key=True),
    Column("tokens", Float(53), nullable=False),
    Column("at", Float(53), nullable=False),
)


def aware(value: datetime | None) -> datetime | None:
    """Return a stored time as aware UTC: SQLite (the embedded platform) gives naive ones back."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)

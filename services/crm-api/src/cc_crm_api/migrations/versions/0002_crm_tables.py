"""The crm-api tables: API keys, idempotency, configuration copies, the event log, webhooks.

Revision ID: crm_api_0002
Revises: crm_api_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "crm_api_0002"
down_revision = "crm_api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_teams",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "agent_id"),
        schema="crm_api",
    )
    op.create_table(
        "agents",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "agent_id"),
        schema="crm_api",
    )
    op.create_table(
        "api_keys",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "key_id"),
        schema="crm_api",
    )
    op.create_table(
        "call_contexts",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=False),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "call_id"),
        schema="crm_api",
    )
    op.create_index(
        op.f("ix_crm_api_call_contexts_updated_at"),
        "call_contexts",
        ["updated_at"],
        unique=False,
        schema="crm_api",
    )
    op.create_table(
        "call_notes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=True),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="crm_api",
    )
    op.create_index(
        op.f("ix_crm_api_call_notes_call_id"),
        "call_notes",
        ["call_id"],
        unique=False,
        schema="crm_api",
    )
    op.create_table(
        "event_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=True),
        sa.Column("agent_id", sa.String(length=200), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
        schema="crm_api",
    )
    op.create_index(
        "ix_crm_api_event_log_agent",
        "event_log",
        ["tenant", "agent_id", "seq"],
        unique=False,
        schema="crm_api",
    )
    op.create_index(
        "ix_crm_api_event_log_call",
        "event_log",
        ["tenant", "call_id", "seq"],
        unique=False,
        schema="crm_api",
    )
    op.create_index(
        "ix_crm_api_event_log_team",
        "event_log",
        ["tenant", "team", "seq"],
        unique=False,
        schema="crm_api",
    )
    op.create_table(
        "idempotency",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=200), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "caller", "idempotency_key"),
        schema="crm_api",
    )
    op.create_index(
        op.f("ix_crm_api_idempotency_created_at"),
        "idempotency",
        ["created_at"],
        unique=False,
        schema="crm_api",
    )
    op.create_table(
        "queues",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "name"),
        schema="crm_api",
    )
    op.create_table(
        "webhook_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="crm_api",
    )
    op.create_index(
        op.f("ix_crm_api_webhook_attempts_delivery_id"),
        "webhook_attempts",
        ["delivery_id"],
        unique=False,
        schema="crm_api",
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=60), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id"),
        schema="crm_api",
    )
    op.create_index(
        "ix_crm_api_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        schema="crm_api",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_crm_api_deliveries_webhook",
        "webhook_deliveries",
        ["tenant", "webhook_id"],
        unique=False,
        schema="crm_api",
    )
    op.create_table(
        "webhooks",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "webhook_id"),
        schema="crm_api",
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table("webhooks", schema="crm_api")
    op.drop_index(
        "ix_crm_api_deliveries_webhook", table_name="webhook_deliveries", schema="crm_api"
    )
    op.drop_index(
        "ix_crm_api_deliveries_due",
        table_name="webhook_deliveries",
        schema="crm_api",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("webhook_deliveries", schema="crm_api")
    op.drop_index(
        op.f("ix_crm_api_webhook_attempts_delivery_id"),
        table_name="webhook_attempts",
        schema="crm_api",
    )
    op.drop_table("webhook_attempts", schema="crm_api")
    op.drop_table("queues", schema="crm_api")
    op.drop_index(
        op.f("ix_crm_api_idempotency_created_at"), table_name="idempotency", schema="crm_api"
    )
    op.drop_table("idempotency", schema="crm_api")
    op.drop_index("ix_crm_api_event_log_team", table_name="event_log", schema="crm_api")
    op.drop_index("ix_crm_api_event_log_call", table_name="event_log", schema="crm_api")
    op.drop_index("ix_crm_api_event_log_agent", table_name="event_log", schema="crm_api")
    op.drop_table("event_log", schema="crm_api")
    op.drop_index(op.f("ix_crm_api_call_notes_call_id"), table_name="call_notes", schema="crm_api")
    op.drop_table("call_notes", schema="crm_api")
    op.drop_index(
        op.f("ix_crm_api_call_contexts_updated_at"), table_name="call_contexts", schema="crm_api"
    )
    op.drop_table("call_contexts", schema="crm_api")
    op.drop_table("api_keys", schema="crm_api")
    op.drop_table("agents", schema="crm_api")
    op.drop_table("agent_teams", schema="crm_api")
    # ### end Alembic commands ###

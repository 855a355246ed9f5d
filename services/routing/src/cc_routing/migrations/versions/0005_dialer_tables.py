"""The outbound dialer: campaigns, lists, leads, resumable imports and do-not-call numbers."""

import sqlalchemy as sa
from alembic import op

from cc_routing.adapters.db import SCHEMA

revision, down_revision = "routing_0005", "routing_0004"


def upgrade() -> None:
    op.create_table(
        "dialer_campaigns",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "dialer_lists",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("list_id", sa.String(200), primary_key=True),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("default_region", sa.String(2), nullable=False),
        sa.Column("default_timezone", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "dialer_leads",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("list_id", sa.String(200), primary_key=True),
        sa.Column("number", sa.String(20), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False, unique=True),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("region", sa.String(2), nullable=True),
        sa.Column("timezones", sa.String(400), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("import_id", sa.String(64), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_outcome", sa.String(20), nullable=True),
        sa.Column("callback_agent", sa.String(200), nullable=True),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_dialer_leads_due",
        "dialer_leads",
        ["tenant", "status", "next_attempt_at"],
        schema=SCHEMA,
    )
    op.create_table(
        "dialer_imports",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("list_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("lines_done", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(20), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "dialer_import_chunks",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "dialer_import_problems",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("reason", sa.String(500), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "dialer_do_not_call",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("number", sa.String(20), primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index("ix_dialer_leads_due", table_name="dialer_leads", schema=SCHEMA)
    for table in (
        "dialer_do_not_call",
        "dialer_import_problems",
        "dialer_import_chunks",
        "dialer_imports",
        "dialer_leads",
        "dialer_lists",
        "dialer_campaigns",
    ):
        op.drop_table(table, schema=SCHEMA)

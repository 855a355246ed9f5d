"""Flow versions, active flows, their activation history and the numbers bound to them."""

import sqlalchemy as sa
from alembic import op

from cc_ivr.adapters.db import SCHEMA

revision, down_revision = "ivr_0002", "ivr_0001"


def _key(name: str, kind: sa.types.TypeEngine[object]) -> sa.Column[object]:
    return sa.Column(name, kind, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "flow_versions",
        _key("tenant", sa.String(63)),
        _key("name", sa.String(63)),
        _key("version", sa.Integer()),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "flows",
        _key("tenant", sa.String(63)),
        _key("name", sa.String(63)),
        sa.Column("active_version", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "flow_activations",
        _key("tenant", sa.String(63)),
        _key("name", sa.String(63)),
        _key("seq", sa.Integer()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "numbers",
        _key("tenant", sa.String(63)),
        _key("number", sa.String(32)),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("numbers", "flow_activations", "flows", "flow_versions"):
        op.drop_table(table, schema=SCHEMA)

"""Hour tables: the interval facts summed per UTC hour, so long reports read fewer rows.

Revision ID: metrics_0003
Revises: metrics_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0003"
down_revision = "metrics_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_hours",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("answered", sa.Float(precision=53), nullable=False),
        sa.Column("ring_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("missed", sa.Float(precision=53), nullable=False),
        sa.Column("handled", sa.Float(precision=53), nullable=False),
        sa.Column("talk_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("hold_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("acw_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("transferred", sa.Float(precision=53), nullable=False),
        sa.Column("fcr_resolved", sa.Float(precision=53), nullable=False),
        sa.Column("csat_answers", sa.Float(precision=53), nullable=False),
        sa.Column("csat_satisfied", sa.Float(precision=53), nullable=False),
        sa.Column("nps_answers", sa.Float(precision=53), nullable=False),
        sa.Column("nps_promoters", sa.Float(precision=53), nullable=False),
        sa.Column("nps_detractors", sa.Float(precision=53), nullable=False),
        sa.Column("qa_evaluations", sa.Float(precision=53), nullable=False),
        sa.Column("qa_score_sum", sa.Float(precision=53), nullable=False),
        sa.Column("available_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("reserved_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("on_call_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("wrap_up_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("break_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("not_ready_seconds", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "agent_id", "interval_start"),
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_agent_hours_team",
        "agent_hours",
        ["tenant", "team", "interval_start"],
        unique=False,
        schema="metrics",
    )
    op.create_table(
        "queue_hours",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered", sa.Float(precision=53), nullable=False),
        sa.Column("queued", sa.Float(precision=53), nullable=False),
        sa.Column("answered", sa.Float(precision=53), nullable=False),
        sa.Column("answered_wait_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("ring_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_5s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_10s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_15s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_20s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_30s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_45s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_60s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_90s", sa.Float(precision=53), nullable=False),
        sa.Column("answered_within_120s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_wait_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_5s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_10s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_15s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_20s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_30s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_45s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_60s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_90s", sa.Float(precision=53), nullable=False),
        sa.Column("abandoned_within_120s", sa.Float(precision=53), nullable=False),
        sa.Column("overflowed", sa.Float(precision=53), nullable=False),
        sa.Column("callbacks", sa.Float(precision=53), nullable=False),
        sa.Column("queue_exits", sa.Float(precision=53), nullable=False),
        sa.Column("queue_exit_wait_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("blocked", sa.Float(precision=53), nullable=False),
        sa.Column("ivr_only", sa.Float(precision=53), nullable=False),
        sa.Column("handled", sa.Float(precision=53), nullable=False),
        sa.Column("talk_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("hold_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("acw_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("transferred", sa.Float(precision=53), nullable=False),
        sa.Column("fcr_resolved", sa.Float(precision=53), nullable=False),
        sa.Column("csat_answers", sa.Float(precision=53), nullable=False),
        sa.Column("csat_satisfied", sa.Float(precision=53), nullable=False),
        sa.Column("nps_answers", sa.Float(precision=53), nullable=False),
        sa.Column("nps_promoters", sa.Float(precision=53), nullable=False),
        sa.Column("nps_detractors", sa.Float(precision=53), nullable=False),
        sa.Column("qa_evaluations", sa.Float(precision=53), nullable=False),
        sa.Column("qa_score_sum", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "queue", "interval_start"),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_table("queue_hours", schema="metrics")
    op.drop_index("ix_metrics_agent_hours_team", table_name="agent_hours", schema="metrics")
    op.drop_table("agent_hours", schema="metrics")

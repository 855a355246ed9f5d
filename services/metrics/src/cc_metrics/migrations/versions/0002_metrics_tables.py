"""The metrics tables: interval facts per queue and agent, call records, agent state, inputs.

Revision ID: metrics_0002
Revises: metrics_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0002"
down_revision = "metrics_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_intervals",
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
        "ix_metrics_agent_intervals_team",
        "agent_intervals",
        ["tenant", "team", "interval_start"],
        unique=False,
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_agent_intervals_time",
        "agent_intervals",
        ["tenant", "interval_start"],
        unique=False,
        schema="metrics",
    )
    op.create_table(
        "agent_segments",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "agent_id", "started_at"),
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_agent_segments_end",
        "agent_segments",
        ["tenant", "ended_at"],
        unique=False,
        schema="metrics",
    )
    op.create_table(
        "agent_status",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("logout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_call_id", sa.String(length=200), nullable=True),
        sa.Column("last_call_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "agent_id"),
        schema="metrics",
    )
    op.create_table(
        "call_records",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=False),
        sa.Column("first_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_queue", sa.String(length=200), nullable=True),
        sa.Column("final_queue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_queue", sa.String(length=200), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("caller_number", sa.String(length=200), nullable=True),
        sa.Column("dialed_number", sa.String(length=200), nullable=True),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("ivr_flow", sa.String(length=200), nullable=True),
        sa.Column("ivr_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("ivr_outcome", sa.String(length=32), nullable=True),
        sa.Column("queued", sa.Boolean(), nullable=False),
        sa.Column("agent_offers", sa.Integer(), nullable=False),
        sa.Column("agent_missed", sa.Integer(), nullable=False),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=True),
        sa.Column("agent_leg_uuid", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("ring_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("left_queue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("overflowed_to", sa.String(length=200), nullable=True),
        sa.Column("callback_requested", sa.Boolean(), nullable=False),
        sa.Column("blocked_reason", sa.String(length=32), nullable=True),
        sa.Column("hold_count", sa.Integer(), nullable=False),
        sa.Column("hold_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("talk_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("wrap_up_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("transfer_kind", sa.String(length=32), nullable=True),
        sa.Column("transfer_target", sa.String(length=210), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("hangup_cause", sa.String(length=200), nullable=True),
        sa.Column("hangup_by", sa.String(length=16), nullable=True),
        sa.Column("disposition_code", sa.String(length=200), nullable=True),
        sa.Column("disposition_resolved", sa.Boolean(), nullable=True),
        sa.Column("survey_csat", sa.Integer(), nullable=True),
        sa.Column("survey_nps", sa.Integer(), nullable=True),
        sa.Column("survey_fcr", sa.Boolean(), nullable=True),
        sa.Column("recording_id", sa.String(length=200), nullable=True),
        sa.Column("qa_evaluations", sa.Integer(), nullable=False),
        sa.Column("qa_score_sum", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "call_id"),
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_call_records_agent",
        "call_records",
        ["tenant", "agent_id"],
        unique=False,
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_call_records_queue",
        "call_records",
        ["tenant", "queue"],
        unique=False,
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_call_records_time",
        "call_records",
        ["tenant", "first_event_at", "call_id"],
        unique=False,
        schema="metrics",
    )
    op.create_table(
        "costs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_costs_scope",
        "costs",
        ["tenant", "scope", "key"],
        unique=False,
        schema="metrics",
    )
    op.create_table(
        "known_queues",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "queue"),
        schema="metrics",
    )
    op.create_table(
        "queue_intervals",
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
    op.create_index(
        "ix_metrics_queue_intervals_time",
        "queue_intervals",
        ["tenant", "interval_start"],
        unique=False,
        schema="metrics",
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activity", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="metrics",
    )
    op.create_index(
        "ix_metrics_schedules_agent",
        "schedules",
        ["tenant", "agent_id", "starts_at"],
        unique=False,
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_index("ix_metrics_schedules_agent", table_name="schedules", schema="metrics")
    op.drop_table("schedules", schema="metrics")
    op.drop_index("ix_metrics_queue_intervals_time", table_name="queue_intervals", schema="metrics")
    op.drop_table("queue_intervals", schema="metrics")
    op.drop_table("known_queues", schema="metrics")
    op.drop_index("ix_metrics_costs_scope", table_name="costs", schema="metrics")
    op.drop_table("costs", schema="metrics")
    op.drop_index("ix_metrics_call_records_time", table_name="call_records", schema="metrics")
    op.drop_index("ix_metrics_call_records_queue", table_name="call_records", schema="metrics")
    op.drop_index("ix_metrics_call_records_agent", table_name="call_records", schema="metrics")
    op.drop_table("call_records", schema="metrics")
    op.drop_table("agent_status", schema="metrics")
    op.drop_index("ix_metrics_agent_segments_end", table_name="agent_segments", schema="metrics")
    op.drop_table("agent_segments", schema="metrics")
    op.drop_index("ix_metrics_agent_intervals_time", table_name="agent_intervals", schema="metrics")
    op.drop_index("ix_metrics_agent_intervals_team", table_name="agent_intervals", schema="metrics")
    op.drop_table("agent_intervals", schema="metrics")

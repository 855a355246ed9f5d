"""Request and response bodies of the metrics API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from cc_common.names import MAX_NAME_LENGTH, Name
from cc_metrics.core.workforce import Activity


def _no_epoch_numbers(value: object) -> object:
    if isinstance(value, int | float):
        raise ValueError("give an ISO 8601 time with an offset, like 2026-01-05T09:00:00Z")
    return value


def _sane_instant(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a UTC offset, like 2026-01-05T09:00:00Z")
    if not 2000 <= value.year <= 2100:
        raise ValueError("must fall in the years 2000-2100")
    return value


Instant = Annotated[datetime, BeforeValidator(_no_epoch_numbers), AfterValidator(_sane_instant)]
"""A moment given as an ISO 8601 string with an offset (no epoch numbers), 2000-2100."""
CostKey = Annotated[
    str, StringConstraints(max_length=MAX_NAME_LENGTH, pattern=r"^(|\w[\w.:@+\-]*)$")
]


class KpiPublic(BaseModel):
    """One KPI value; ``value`` is null with ``no_data`` saying why when it cannot be computed."""

    value: float | None
    numerator: float | None
    denominator: float | None
    no_data: str | None = None


class ReportRowPublic(BaseModel):
    """One key (queue, agent, team, tenant or campaign) in one bucket."""

    key: str
    bucket_start: datetime | None = Field(description="Start of the bucket; null for a total.")
    kpis: dict[str, KpiPublic]
    facts: dict[str, float] | None = None


class ReportPublic(BaseModel):
    """A KPI report over a range."""

    scope: str
    granularity: str
    time_zone: str
    start: datetime
    end: datetime
    service_level_seconds: int
    short_abandon_seconds: int
    rows: list[ReportRowPublic]


class AbandonRulePublic(BaseModel):
    """One campaign's abandon rate over the rule's rolling 30 days."""

    campaign: str
    window_start: datetime
    window_end: datetime = Field(description="Exclusive: the end of the interval holding `at`.")
    abandon_rate: KpiPublic = Field(description="abandoned / live answers in the window.")


class CallRecordPublic(BaseModel):
    """A call detail record."""

    call_id: str
    first_event_at: datetime
    last_event_at: datetime
    queue: str | None
    final_queue: str | None
    offered_at: datetime | None
    priority: int | None
    caller_number: str | None
    dialed_number: str | None
    customer_id: str | None
    direction: str = Field(
        default="inbound", description="`outbound` for a click-to-call (to `dialed_number`)."
    )
    ivr_flow: str | None
    ivr_seconds: float | None
    queued: bool
    legs: list[str] = Field(description="Agent legs in the order they were rung.")
    agent_offers: int
    agent_missed: int
    agent_id: str | None
    answered_at: datetime | None
    wait_seconds: float | None
    ring_seconds: float | None
    abandoned: bool
    overflowed_to: str | None
    callback_requested: bool
    blocked_reason: str | None
    talk_seconds: float | None
    hold_seconds: float | None
    hold_count: int
    wrap_up_seconds: float
    transfers: int
    transfer_target: str | None
    ended_at: datetime | None
    duration_seconds: float | None
    outcome: str | None
    hangup_cause: str | None
    disposition_code: str | None
    resolved_first_contact: bool | None
    survey_csat: int | None
    survey_nps: int | None
    survey_fcr: bool | None
    recording_id: str | None
    qa_score: float | None = Field(description="Mean QA score as a fraction of the maximum.")


class CallRecordPage(BaseModel):
    """One page of call detail records."""

    items: list[CallRecordPublic]
    next_cursor: str | None


class ForecastIntervalIn(BaseModel):
    """Calls expected in one interval."""

    start: Instant
    calls: float = Field(ge=0, le=100_000, allow_inf_nan=False)
    aht_seconds: float = Field(ge=1, le=7200, allow_inf_nan=False)


class StaffingRequest(BaseModel):
    """A forecast and the target to staff it for."""

    intervals: list[ForecastIntervalIn] = Field(
        min_length=1, max_length=3000, description="At most a month of 15-minute intervals."
    )
    interval_minutes: Literal[15, 30, 60] = 15
    target_service_level: float = Field(default=0.80, gt=0, lt=1)
    threshold_seconds: float = Field(default=20.0, ge=0, le=3600, allow_inf_nan=False)
    patience_seconds: float | None = Field(
        default=None, ge=1, le=3600, allow_inf_nan=False, description="Erlang A when given."
    )
    shrinkage: float = Field(default=0.0, ge=0, lt=1)
    trunk_blocking: float | None = Field(default=None, gt=0, lt=1)
    trunk_holding_seconds: float | None = Field(default=None, ge=1, le=86_400, allow_inf_nan=False)


class StaffingIntervalOut(BaseModel):
    """The plan and prediction for one interval."""

    start: datetime
    calls: float
    aht_seconds: float
    traffic_erlangs: float
    agents: int
    scheduled_agents: int
    service_level: float | None
    asa_seconds: float | None
    occupancy: float | None
    abandon_probability: float | None
    trunks: int | None
    trunk_blocking: float | None


class StaffingResponse(BaseModel):
    """Agents (and trunks) per interval."""

    model: Literal["erlang_c", "erlang_a"]
    intervals: list[StaffingIntervalOut]
    peak_agents: int
    peak_scheduled_agents: int


class ScheduleEntryIn(BaseModel):
    """One scheduled stretch of one agent's day."""

    agent_id: Name
    start: Instant
    end: Instant
    activity: Activity


class ScheduleIn(BaseModel):
    """Schedule entries to add."""

    entries: list[ScheduleEntryIn] = Field(min_length=1, max_length=10_000)


class CostIn(BaseModel):
    """The cost of a queue, a team or the whole tenant over a period."""

    scope: Literal["queue", "team", "tenant"]
    key: CostKey = Field(default="", description="Queue or team; empty for tenant.")
    start: Instant
    end: Instant
    amount: float = Field(ge=0, le=1e12, allow_inf_nan=False)


class Stored(BaseModel):
    """How many inputs were stored."""

    stored: int

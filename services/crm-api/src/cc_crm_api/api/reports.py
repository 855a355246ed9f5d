"""``/v1/reports`` and ``/v1/staffing``: the metrics service's KPIs and staffing, unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cc_crm_api.api.deps import Reader, RuntimeDep
from cc_crm_api.api.docs import errors, example

router = APIRouter(prefix="/v1", tags=["reports"])


class Kpi(BaseModel):
    """One KPI value; ``value`` is null with ``no_data`` saying why."""

    value: float | None
    numerator: float | None
    denominator: float | None
    no_data: str | None = None


class ReportRow(BaseModel):
    """One key (queue, agent, team or tenant) in one bucket."""

    key: str
    bucket_start: datetime | None
    kpis: dict[str, Kpi]
    facts: dict[str, float] | None = None


class Report(BaseModel):
    """KPIs over a range, computed by the metrics service (the figures its reports show)."""

    model_config = ConfigDict(extra="allow")

    scope: str
    granularity: str
    time_zone: str
    start: datetime
    end: datetime
    service_level_seconds: int
    short_abandon_seconds: int
    rows: list[ReportRow]


example(
    Report,
    {
        "scope": "queue",
        "granularity": "1h",
        "time_zone": "UTC",
        "start": "2025-03-01T09:00:00Z",
        "end": "2025-03-01T10:00:00Z",
        "service_level_seconds": 20,
        "short_abandon_seconds": 5,
        "rows": [
            {
                "key": "support",
                "bucket_start": "2025-03-01T09:00:00Z",
                "kpis": {
                    "service_level": {"value": 0.82, "numerator": 41, "denominator": 50},
                    "abandon_rate": {"value": 0.04, "numerator": 2, "denominator": 50},
                },
            }
        ],
    },
)

Start = Annotated[datetime, Query(description="Range start, on a 15-minute boundary.")]
End = Annotated[datetime, Query(description="Range end (exclusive).")]
Granularity = Annotated[
    Literal["15m", "30m", "1h", "1d", "1w", "1mo", "total"], Query(description="Bucket size.")
]
Zone = Annotated[str | None, Query(max_length=64, description="IANA zone for days and weeks.")]
Kpis = Annotated[list[str] | None, Query(description="Only these KPIs.")]
Keys = Annotated[list[str] | None, Query(description="Only these; all when omitted.")]
Format = Annotated[Literal["json", "csv"], Query()]

_CSV = {
    "text/csv": {
        "schema": {"type": "string"},
        "example": "key,bucket_start,service_level\nsupport,2025-03-01T09:00:00+00:00,0.82\n",
    }
}


async def _report(runtime: Any, request: Request, scope: str) -> Response | Report:
    """Ask the metrics service with the same query; its figures are passed on unchanged."""
    params = list(request.query_params.multi_items())
    reply = await runtime.metrics.call("GET", f"/reports/{scope}", params=params)
    if request.query_params.get("format") == "csv":
        return Response(reply.content, media_type="text/csv; charset=utf-8")
    return Report.model_validate(reply.json())


def _doc(what: str) -> dict[str, Any]:
    return {
        "response_model": Report,
        "responses": {200: {"content": _CSV, "description": what}, **errors(404)},
    }


@router.get("/reports/queues", **_doc("KPIs per queue and bucket."))
async def queue_report(
    runtime: RuntimeDep,
    request: Request,
    _: Reader,
    start: Start,
    end: End,
    queue: Keys = None,
    granularity: Granularity = "1h",
    tz: Zone = None,
    kpi: Kpis = None,
    format: Format = "json",
) -> Response | Report:
    """Service level, abandon rate, ASA, AHT ... per queue."""
    return await _report(runtime, request, "queues")


@router.get("/reports/agents", **_doc("KPIs per agent and bucket."))
async def agent_report(
    runtime: RuntimeDep,
    request: Request,
    _: Reader,
    start: Start,
    end: End,
    agent: Keys = None,
    granularity: Granularity = "1h",
    tz: Zone = None,
    kpi: Kpis = None,
    format: Format = "json",
) -> Response | Report:
    """Occupancy, handle time, answered calls ... per agent."""
    return await _report(runtime, request, "agents")


@router.get("/reports/teams", **_doc("KPIs per team and bucket."))
async def team_report(
    runtime: RuntimeDep,
    request: Request,
    _: Reader,
    start: Start,
    end: End,
    team: Keys = None,
    granularity: Granularity = "1h",
    tz: Zone = None,
    kpi: Kpis = None,
    format: Format = "json",
) -> Response | Report:
    """The agent KPIs summed per team."""
    return await _report(runtime, request, "teams")


@router.get("/reports/tenant", **_doc("KPIs of the whole contact center per bucket."))
async def tenant_report(
    runtime: RuntimeDep,
    request: Request,
    _: Reader,
    start: Start,
    end: End,
    granularity: Granularity = "1h",
    tz: Zone = None,
    kpi: Kpis = None,
    format: Format = "json",
) -> Response | Report:
    """The whole contact center's KPIs."""
    return await _report(runtime, request, "tenant")


class ForecastInterval(BaseModel):
    """Calls expected in one interval."""

    start: datetime
    calls: float = Field(ge=0, le=1_000_000)
    aht_seconds: float = Field(gt=0, le=86_400)


class StaffingIn(BaseModel):
    """A forecast and the target to staff it for."""

    intervals: list[ForecastInterval] = Field(min_length=1, max_length=10_000)
    interval_minutes: Literal[15, 30, 60] = 15
    target_service_level: float = Field(default=0.80, gt=0, lt=1)
    threshold_seconds: float = Field(default=20.0, ge=0, le=3600)
    patience_seconds: float | None = Field(default=None, gt=0, le=3600)
    shrinkage: float = Field(default=0.0, ge=0, lt=1)


class StaffingOut(BaseModel):
    """Agents per interval (Erlang C, or Erlang A when patience is given)."""

    model_config = ConfigDict(extra="allow")

    model: str
    intervals: list[dict[str, Any]]
    peak_agents: int
    peak_scheduled_agents: int


example(
    StaffingIn,
    {
        "intervals": [{"start": "2025-03-03T09:00:00Z", "calls": 120, "aht_seconds": 240}],
        "interval_minutes": 15,
        "target_service_level": 0.8,
        "threshold_seconds": 20,
        "shrinkage": 0.3,
    },
)
example(
    StaffingOut,
    {
        "model": "erlang_c",
        "intervals": [
            {"start": "2025-03-03T09:00:00Z", "calls": 120, "agents": 36, "scheduled_agents": 52}
        ],
        "peak_agents": 36,
        "peak_scheduled_agents": 52,
    },
)


@router.post("/staffing", response_model=StaffingOut, tags=["reports"], responses=errors())
async def staffing(body: StaffingIn, runtime: RuntimeDep, _: Reader) -> StaffingOut:
    """Agents needed per interval for a forecast and a service-level target. 422 with the
    reason when no staffing meets it or the plan is too costly to compute in metrics' time
    limit (send fewer intervals)."""
    reply = await runtime.metrics.call(
        "POST",
        "/staffing",
        json=body.model_dump(mode="json"),
        wait_seconds=runtime.settings.crm_staffing_timeout_seconds,  # metrics' 422 comes first
    )
    return StaffingOut.model_validate(reply.json())

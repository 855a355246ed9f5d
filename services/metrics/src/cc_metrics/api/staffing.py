"""``POST /staffing``: agents per interval for a forecast (Erlang C, or A with patience)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from cc_metrics.api.schemas import StaffingIntervalOut, StaffingRequest, StaffingResponse
from cc_metrics.core.staffing import ForecastInterval, StaffingTarget, staff_forecast

router = APIRouter(prefix="/staffing", tags=["staffing"])


@router.post("", response_model=StaffingResponse)
async def plan(request: StaffingRequest) -> StaffingResponse:
    """Return the agents (and trunks, given a blocking target) each interval needs."""
    try:
        target = StaffingTarget(
            service_level=request.target_service_level,
            threshold_seconds=request.threshold_seconds,
            interval_seconds=request.interval_minutes * 60,
            patience_seconds=request.patience_seconds,
            shrinkage=request.shrinkage,
            trunk_blocking=request.trunk_blocking,
            trunk_holding_seconds=request.trunk_holding_seconds,
        )
        forecast = [ForecastInterval(i.start, i.calls, i.aht_seconds) for i in request.intervals]
        intervals = staff_forecast(forecast, target)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    out = [StaffingIntervalOut.model_validate(i, from_attributes=True) for i in intervals]
    return StaffingResponse(
        model="erlang_a" if request.patience_seconds else "erlang_c",
        intervals=out,
        peak_agents=max(i.agents for i in out),
        peak_scheduled_agents=max(i.scheduled_agents for i in out),
    )

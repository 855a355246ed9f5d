"""The staffing worker process: one request as JSON on stdin, the plan (or error) on stdout."""

from __future__ import annotations

import json
import sys

from cc_metrics.api.schemas import StaffingIntervalOut, StaffingRequest, StaffingResponse
from cc_metrics.core.staffing import ForecastInterval, StaffingTarget, staff_forecast


def plan(request: StaffingRequest) -> StaffingResponse:
    """Staff every interval of the forecast for the target (raises ValueError when impossible)."""
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
    out = [StaffingIntervalOut.model_validate(i, from_attributes=True) for i in intervals]
    return StaffingResponse(
        model="erlang_a" if request.patience_seconds else "erlang_c",
        intervals=out,
        peak_agents=max(i.agents for i in out),
        peak_scheduled_agents=max(i.scheduled_agents for i in out),
    )


def main() -> None:
    """Read one request, write one reply: the plan, or ``{"error": ...}`` for an impossible one."""
    request = StaffingRequest.model_validate_json(sys.stdin.buffer.read())
    try:
        reply = plan(request).model_dump_json()
    except ValueError as exc:
        reply = json.dumps({"error": str(exc)})
    sys.stdout.write(reply)


if __name__ == "__main__":
    main()

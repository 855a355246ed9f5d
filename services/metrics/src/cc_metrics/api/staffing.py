"""``POST /staffing``: agents per interval for a forecast (Erlang C, or A with patience).

Erlang A is CPU-heavy (a second or more per interval for some inputs), so a plan is computed in a
separate worker process with a time limit, never on the event loop: health checks, the bus
consumer and other requests carry on while it runs, and a plan that takes too long is killed
and refused (422: too costly to compute). At most ``Runtime.staffing_slots`` plans run at once.
"""

from __future__ import annotations

import asyncio
import json
import sys

from fastapi import APIRouter, HTTPException

from cc_common.problems import problem_doc
from cc_metrics.api.deps import RuntimeDep
from cc_metrics.api.schemas import StaffingRequest, StaffingResponse

router = APIRouter(prefix="/staffing", tags=["staffing"])


@router.post(
    "",
    response_model=StaffingResponse,
    responses={
        422: problem_doc(
            "The request is invalid, no staffing meets the target, or the plan would take "
            "longer than the time limit to compute (send fewer intervals)."
        )
    },
)
async def plan(request: StaffingRequest, runtime: RuntimeDep) -> StaffingResponse:
    """Return the agents (and trunks, given a blocking target) each interval needs."""
    limit = runtime.settings.metrics_staffing_seconds
    try:
        async with asyncio.timeout(limit):
            async with runtime.staffing_slots:
                reply = await _compute(request.model_dump_json())
    except TimeoutError:
        raise HTTPException(
            422, f"the plan takes longer than {limit:g} s to compute; send fewer intervals"
        ) from None
    if "error" in reply:
        raise HTTPException(422, str(reply["error"]))
    return StaffingResponse.model_validate(reply)


async def _compute(request_json: str) -> dict[str, object]:
    """Run the plan in a worker process; it is killed if the caller stops waiting."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_metrics.api.staffing_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await worker.communicate(request_json.encode())
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    if worker.returncode != 0:
        raise RuntimeError(f"staffing worker failed: {err.decode(errors='replace')[-500:]}")
    reply: dict[str, object] = json.loads(out)
    return reply

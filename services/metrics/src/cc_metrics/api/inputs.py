"""``/schedules`` and ``/costs``: the inputs adherence, attendance and cost per call need."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from cc_common.app import DatabaseDep
from cc_metrics.adapters.db import costs, schedules
from cc_metrics.adapters.store import utc, utc_at
from cc_metrics.api.deps import RuntimeDep
from cc_metrics.api.schemas import CostIn, ScheduleEntryIn, ScheduleIn, Stored

router = APIRouter(tags=["workforce inputs"])


def _check(start: datetime, end: datetime, what: str) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, f"{what}: start and end need a UTC offset")
    if end <= start:
        raise HTTPException(422, f"{what}: end must be after start")


@router.post("/schedules", response_model=Stored, status_code=201)
async def add_schedule(runtime: RuntimeDep, db: DatabaseDep, body: ScheduleIn) -> Stored:
    """Store schedule entries (what each agent is down for, when)."""
    for n, entry in enumerate(body.entries):
        _check(entry.start, entry.end, f"entries[{n}]")
    rows = [
        {
            "tenant": runtime.tenant,
            "agent_id": e.agent_id,
            "starts_at": utc(e.start),
            "ends_at": utc(e.end),
            "activity": e.activity.value,
        }
        for e in body.entries
    ]
    async with db.session() as session:
        await session.execute(schedules.insert(), rows)
    return Stored(stored=len(rows))


@router.get("/schedules", response_model=list[ScheduleEntryIn])
async def list_schedule(
    runtime: RuntimeDep,
    db: DatabaseDep,
    start: datetime,
    end: datetime,
    agent: Annotated[str | None, Query()] = None,
) -> list[ScheduleEntryIn]:
    """Return the schedule entries overlapping a range."""
    _check(start, end, "range")
    s = schedules.c
    query = select(schedules).where(
        s.tenant == runtime.tenant, s.starts_at < utc(end), s.ends_at > utc(start)
    )
    if agent is not None:
        query = query.where(s.agent_id == agent)
    async with db.session() as session:
        rows = (await session.execute(query.order_by(s.starts_at, s.agent_id))).all()
    return [
        ScheduleEntryIn(
            agent_id=r.agent_id,
            start=utc_at(r.starts_at),
            end=utc_at(r.ends_at),
            activity=r.activity,
        )
        for r in rows
    ]


@router.post("/costs", response_model=Stored, status_code=201)
async def add_cost(runtime: RuntimeDep, db: DatabaseDep, body: CostIn) -> Stored:
    """Store the cost of a queue, team or the tenant over a period (for cost per call)."""
    _check(body.start, body.end, "cost")
    if (body.scope == "tenant") != (body.key == ""):
        raise HTTPException(422, "key names the queue or team; leave it empty for the tenant")
    row = {
        "tenant": runtime.tenant,
        "scope": body.scope,
        "key": body.key,
        "starts_at": utc(body.start),
        "ends_at": utc(body.end),
        "amount": body.amount,
    }
    async with db.session() as session:
        await session.execute(costs.insert().values(row))
    return Stored(stored=1)

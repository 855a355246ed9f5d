"""``GET /reports/...``: KPIs per queue, agent, team or tenant over any range, JSON or CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from cc_common.app import DatabaseDep
from cc_common.names import text_problem
from cc_common.problems import problem_doc
from cc_metrics.adapters.reports import TENANT_KEY, ReportQuery, ReportReader, event_fact_names
from cc_metrics.api.deps import Runtime, RuntimeDep
from cc_metrics.api.schemas import AbandonRulePublic, KpiPublic, ReportPublic, ReportRowPublic
from cc_metrics.core.engine import MAX_ID
from cc_metrics.core.intervals import Granularity
from cc_metrics.core.kpis import KPI_BY_KEY, OUTBOUND_KPIS, SL_VARIANTS, KpiValue, Scope
from cc_metrics.core.outbound import abandon_rule_window
from cc_metrics.core.reports import (
    BadReport,
    ReportRow,
    check_bucket_count,
    check_range,
    empty_buckets,
    figure_keys,
    parse_granularity,
    parse_zone,
    report_rows,
)
from cc_metrics.core.thresholds import Thresholds, check_bound

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        400: problem_doc("A bad range, granularity, zone, threshold or KPI name."),
    },
)

Start = Annotated[datetime, Query(description="Range start, on a 15-minute boundary, with offset.")]
End = Annotated[datetime, Query(description="Range end (exclusive).")]
GranularityText = Annotated[str, Query(description="15m, 30m, 1h, 1d, 1w, 1mo or total.")]
Zone = Annotated[str | None, Query(alias="tz", description="IANA zone for days and weeks.")]
Figures = Annotated[list[str] | None, Query(alias="kpi", description="Only these KPIs.")]
Format = Annotated[Literal["json", "csv"], Query(alias="format")]
Seconds = Annotated[int | None, Query(description="Override the service-level threshold T.")]
Short = Annotated[int | None, Query(description="Override the short-abandon threshold.")]
WithFacts = Annotated[bool, Query(description="Include the summed facts of each row.")]


@dataclass
class Ask:
    """What every report is asked: range, buckets, zone, KPIs, format (query parameters)."""

    start: Start
    end: End
    granularity: GranularityText = "1h"
    tz: Zone = None
    kpi: Figures = None
    format: Format = "json"
    facts: WithFacts = False


AskDep = Annotated[Ask, Depends()]


def _thresholds(runtime: Runtime, service_level: int | None, short: int | None) -> Thresholds:
    base = runtime.settings.thresholds()
    try:
        sl = check_bound(service_level, "service_level_seconds") if service_level else None
        sa = check_bound(short, "short_abandon_seconds") if short else None
    except ValueError as exc:
        raise BadReport(str(exc)) from None
    return Thresholds(
        service_level_seconds=sl or base.service_level_seconds,
        short_abandon_seconds=sa or base.short_abandon_seconds,
        service_level_target=base.service_level_target,
        abandon_rate_limit=base.abandon_rate_limit,
        longest_wait_limit_seconds=base.longest_wait_limit_seconds,
    )


def _check_keys(scope: Scope, keys: list[str] | None) -> None:
    """Refuse a key no queue, agent, team or campaign can have (PostgreSQL refuses NUL)."""
    for key in keys or ():
        problem = text_problem(key, scope.value, MAX_ID)
        if problem is not None:
            raise BadReport(problem)


def _figures(scope: Scope, wanted: list[str] | None) -> list[str]:
    available = figure_keys(scope)
    if not wanted:
        return available
    unknown = [k for k in wanted if k not in available]
    if unknown:
        known = {*KPI_BY_KEY, *(v.key for v in (*SL_VARIANTS, *OUTBOUND_KPIS))}
        why = "unknown KPI" if any(k not in known for k in unknown) else f"not reported per {scope}"
        raise BadReport(f"{why}: {', '.join(unknown)}; available: {', '.join(available)}")
    return wanted


async def _report(
    runtime: Runtime,
    db: DatabaseDep,
    scope: Scope,
    keys: list[str] | None,
    ask: Ask,
    *,
    service_level: int | None = None,
    short: int | None = None,
) -> Response | ReportPublic:
    """Check the request, read the facts, compute the KPIs."""
    start, end, granularity, tz = ask.start, ask.end, ask.granularity, ask.tz
    figures, fmt, with_facts = ask.kpi, ask.format, ask.facts
    try:
        check_range(start, end)
        grain = parse_granularity(granularity)
        zone_name = tz or runtime.settings.report_time_zone
        zone = parse_zone(zone_name)
        check_bucket_count(start, end, grain)
        thresholds = _thresholds(runtime, service_level, short)
        chosen = _figures(scope, figures)
        _check_keys(scope, keys)
    except BadReport as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    reader = ReportReader(runtime.tenant)
    async with db.session() as session:
        if keys:
            missing = await reader.unknown_keys(
                session, scope, keys, runtime.settings.metrics_queues
            )
            if missing:
                raise HTTPException(
                    status_code=404, detail=f"unknown {scope}: {', '.join(missing)}"
                )
        query = ReportQuery(
            scope,
            tuple(keys) if keys else None,
            start,
            end,
            grain,
            zone,
            zone_name,
            runtime.clock(),
        )
        buckets = await reader.buckets(session, query)
    wanted = keys or ([TENANT_KEY] if scope is Scope.TENANT else [])
    for empty in empty_buckets(wanted, start, end, grain, zone):
        buckets.setdefault(empty, {})
    names = event_fact_names(scope)
    rows = report_rows(buckets, scope=scope, thresholds=thresholds, event_facts=names, only=chosen)
    if fmt == "csv":
        return _csv(rows, chosen)
    return ReportPublic(
        scope=scope.value,
        granularity=grain.value,
        time_zone=zone_name,
        start=start,
        end=end,
        service_level_seconds=thresholds.service_level_seconds,
        short_abandon_seconds=thresholds.short_abandon_seconds,
        rows=[_row(row, chosen, with_facts) for row in rows],
    )


def _kpi(value: KpiValue) -> KpiPublic:
    return KpiPublic(
        value=value.value,
        numerator=value.numerator,
        denominator=value.denominator,
        no_data=value.no_data,
    )


def _row(row: ReportRow, chosen: list[str], with_facts: bool) -> ReportRowPublic:
    kpis = {key: _kpi(row.kpis[key]) for key in chosen}
    return ReportRowPublic(
        key=row.key, bucket_start=row.bucket, kpis=kpis, facts=row.facts if with_facts else None
    )


def _csv(rows: list[ReportRow], chosen: list[str]) -> Response:
    """Return one line per row, one column per KPI; an empty cell means no data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "bucket_start", *chosen])
    for row in rows:
        values = [row.kpis[k].value for k in chosen]
        bucket = row.bucket.isoformat() if row.bucket else ""
        writer.writerow([row.key, bucket, *("" if v is None else repr(v) for v in values)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/queues", response_model=ReportPublic)
async def queue_report(
    runtime: RuntimeDep,
    db: DatabaseDep,
    ask: AskDep,
    queue: Annotated[list[str] | None, Query(description="Queues; all when omitted.")] = None,
    service_level_seconds: Seconds = None,
    short_abandon_seconds: Short = None,
) -> Response | ReportPublic:
    """Return KPIs per queue."""
    return await _report(
        runtime, db, Scope.QUEUE, queue, ask,
        service_level=service_level_seconds, short=short_abandon_seconds,
    )  # fmt: skip


@router.get("/agents", response_model=ReportPublic)
async def agent_report(
    runtime: RuntimeDep,
    db: DatabaseDep,
    ask: AskDep,
    agent: Annotated[list[str] | None, Query(description="Agents; all when omitted.")] = None,
) -> Response | ReportPublic:
    """Return KPIs per agent."""
    return await _report(runtime, db, Scope.AGENT, agent, ask)


@router.get("/teams", response_model=ReportPublic)
async def team_report(
    runtime: RuntimeDep,
    db: DatabaseDep,
    ask: AskDep,
    team: Annotated[list[str] | None, Query(description="Teams; all when omitted.")] = None,
) -> Response | ReportPublic:
    """Return KPIs per team."""
    return await _report(runtime, db, Scope.TEAM, team, ask)


@router.get("/tenant", response_model=ReportPublic)
async def tenant_report(
    runtime: RuntimeDep,
    db: DatabaseDep,
    ask: AskDep,
    service_level_seconds: Seconds = None,
    short_abandon_seconds: Short = None,
) -> Response | ReportPublic:
    """Return KPIs for the whole contact center."""
    return await _report(
        runtime, db, Scope.TENANT, None, ask,
        service_level=service_level_seconds, short=short_abandon_seconds,
    )  # fmt: skip


Campaigns = Annotated[list[str] | None, Query(description="Campaigns; all when omitted.")]


@router.get(
    "/campaigns",
    response_model=ReportPublic,
    responses={404: problem_doc("A campaign with no outbound data.")},
)
async def campaign_report(
    runtime: RuntimeDep, db: DatabaseDep, ask: AskDep, campaign: Campaigns = None
) -> Response | ReportPublic:
    """Return the outbound KPIs per dialer campaign (attempts, connect, right-party contact,
    abandon and machine answer rates, connect wait)."""
    return await _report(runtime, db, Scope.CAMPAIGN, campaign, ask)


_ABANDON_RATE = next(k for k in OUTBOUND_KPIS if k.key == "outbound_abandon_rate")


@router.get(
    "/campaigns/abandon-rule",
    response_model=list[AbandonRulePublic],
    responses={404: problem_doc("A campaign with no outbound data.")},
)
async def abandon_rule(
    runtime: RuntimeDep,
    db: DatabaseDep,
    campaign: Campaigns = None,
    at: Annotated[datetime | None, Query(description="The moment (with offset); now.")] = None,
) -> list[AbandonRulePublic]:
    """Return each campaign's abandon rate over the rolling 30 days the rule (at most 3 % of
    live answers) is about, up to the interval holding ``at``."""
    if at is not None and at.tzinfo is None:
        raise HTTPException(status_code=400, detail="at needs a UTC offset")
    if at is not None and not 2000 <= at.year <= 2100:
        raise HTTPException(status_code=400, detail="at must fall in the years 2000-2100")
    try:
        _check_keys(Scope.CAMPAIGN, campaign)
    except BadReport as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    start, end = abandon_rule_window(at or runtime.clock())
    reader = ReportReader(runtime.tenant)
    query = ReportQuery(
        Scope.CAMPAIGN, tuple(campaign) if campaign else None, start, end,
        Granularity.TOTAL, UTC, "UTC", runtime.clock(),
    )  # fmt: skip
    async with db.session() as session:
        if campaign:
            missing = await reader.unknown_keys(session, Scope.CAMPAIGN, campaign, ())
            if missing:
                raise HTTPException(status_code=404, detail=f"unknown campaign: {missing}")
        buckets = await reader.buckets(session, query)
    for key in campaign or []:
        buckets.setdefault((key, None), {})
    thresholds = runtime.settings.thresholds()
    zero = dict.fromkeys(event_fact_names(Scope.CAMPAIGN), 0.0)
    return [
        AbandonRulePublic(
            campaign=key,
            window_start=start,
            window_end=end,
            abandon_rate=_kpi(_ABANDON_RATE.compute({**zero, **found}, thresholds)),
        )
        for (key, _bucket), found in sorted(buckets.items(), key=lambda item: item[0][0])
    ]

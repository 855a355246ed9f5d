"""``GET /cdrs``: call detail records with filters and cursor pagination; ``GET /cdrs/{id}``."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from cc_common.app import DatabaseDep
from cc_common.problems import problem_doc
from cc_metrics.adapters.cdrs import BadCursor, CdrFilter, Cursor, get_record, list_records
from cc_metrics.api.deps import RuntimeDep
from cc_metrics.api.schemas import CallRecordPage, CallRecordPublic
from cc_metrics.core.records import CallRecord
from cc_proto.events import CallOutcome

router = APIRouter(prefix="/cdrs", tags=["call detail records"])
BAD_RANGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    400: problem_doc("A bad range or cursor."),
}


def public(record: CallRecord) -> CallRecordPublic:
    """Return the API form of a record."""
    qa = record.qa_score_sum / record.qa_evaluations if record.qa_evaluations else None
    return CallRecordPublic(
        **{
            name: getattr(record, name)
            for name in CallRecordPublic.model_fields
            if hasattr(record, name) and name not in ("legs", "qa_score")
        },
        legs=record.leg_order,
        resolved_first_contact=record.fcr_verdict,
        qa_score=qa,
    )


@router.get("", response_model=CallRecordPage, responses=BAD_RANGE)
async def list_cdrs(
    runtime: RuntimeDep,
    db: DatabaseDep,
    start: Annotated[datetime, Query(description="First event at or after (with offset).")],
    end: Annotated[datetime, Query(description="First event before.")],
    queue: str | None = None,
    agent: str | None = None,
    outcome: CallOutcome | None = None,
    customer_id: str | None = None,
    caller_number: Annotated[
        str | None, Query(description="Exactly this caller number, as recorded.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response | CallRecordPage:
    """Return call detail records, oldest first, a page at a time."""
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(400, "start and end need a UTC offset, e.g. 2025-03-01T00:00:00Z")
    if end <= start:
        raise HTTPException(
            400, f"end ({end.isoformat()}) must be after start ({start.isoformat()})"
        )
    try:
        after = Cursor.decode(cursor) if cursor else None
    except BadCursor as exc:
        raise HTTPException(400, str(exc)) from None
    found = CdrFilter(
        start,
        end,
        queue,
        agent,
        outcome.value if outcome else None,
        customer_id,
        caller_number,
        limit,
        after,
    )
    async with db.session() as session:
        records, next_cursor = await list_records(session, runtime.tenant, found)
    page = CallRecordPage(
        items=[public(r) for r in records],
        next_cursor=next_cursor.encode() if next_cursor else None,
    )
    return _csv(page) if format == "csv" else page


def _csv(page: CallRecordPage) -> Response:
    out = io.StringIO()
    fields = list(CallRecordPublic.model_fields)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for item in page.items:
        row = item.model_dump(mode="json")
        row["legs"] = " ".join(row["legs"])
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/{call_id}",
    response_model=CallRecordPublic,
    responses={404: problem_doc("No record of that call.")},
)
async def get_cdr(runtime: RuntimeDep, db: DatabaseDep, call_id: str) -> CallRecordPublic:
    """Return one call's detail record."""
    async with db.session() as session:
        record = await get_record(session, runtime.tenant, call_id)
    if record is None:
        raise HTTPException(404, f"no call {call_id!r}")
    return public(record)

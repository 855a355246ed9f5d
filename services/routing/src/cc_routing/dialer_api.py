"""The dialer's internal HTTP API: campaigns, call lists and their imports, do-not-call, leads.

Used by supervisors' tools and by the dialer itself; every check that matters at dial time
(do-not-call, calling windows, retries) is made again when leads are claimed, not only here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from cc_common.names import Label, Name
from cc_common.problems import problem_doc
from cc_routing.dialer.campaigns import (
    ID_PATTERN,
    MAX_CAMPAIGN_NAME,
    MAX_ID,
    CampaignConfig,
    CampaignError,
    CampaignName,
    CampaignState,
    Outcome,
)
from cc_routing.dialer_store import DialerStore, ImportReport, ListSettings, NotFound

router = APIRouter(
    prefix="/v1",
    tags=["dialer"],
    responses={
        404: problem_doc("No such campaign, list, import or lead."),
        409: problem_doc("The request does not fit the campaign's or list's current state."),
        503: problem_doc("Routing is not live yet (starting, or another instance leads)."),
    },
)


def get_store(request: Request) -> DialerStore:
    """Dependency: the tenant's dialer data in the app's database, its events to routing's
    outbox (relayed as routing's own)."""
    service = request.app.state.routing
    return DialerStore(
        request.app.state.db,
        request.app.state.settings.tenant,
        outbox=service.runtime.outbox,
        staged=service.relay.notify,
    )


StoreDep = Annotated[DialerStore, Depends(get_store)]

# Every name and id in a path is bounded and plain ASCII before it reaches a query: PostgreSQL
# refuses text holding NUL and longer than its column, which would otherwise be a 500.
CampaignPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_CAMPAIGN_NAME, pattern=ID_PATTERN, description="A campaign."),
]
ListPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_CAMPAIGN_NAME, pattern=ID_PATTERN, description="A list."),
]
IdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID,
        pattern=ID_PATTERN,
        description="A lead's or an import's id, as the dialer handed it out.",
    ),
]
Region = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
PhoneNumber = Annotated[str, Field(min_length=1, max_length=50)]


def _not_found(exc: NotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0]))


def _campaign_view(config: CampaignConfig, state: CampaignState) -> dict[str, Any]:
    return {"state": state.value, "config": config.model_dump(mode="json")}


# --- campaigns ---------------------------------------------------------------------------------


@router.put("/campaigns/{name}")
async def put_campaign(
    name: CampaignPath, config: CampaignConfig, store: StoreDep
) -> dict[str, Any]:
    """Create or change a campaign (a new one is stopped until started)."""
    if config.name != name:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"body names campaign {config.name!r}, the path another",
        )
    state = await store.put_campaign(config)
    return _campaign_view(config, state)


@router.get("/campaigns")
async def list_campaigns(store: StoreDep) -> list[dict[str, Any]]:
    """Every campaign with its state."""
    return [_campaign_view(c, s) for c, s in await store.list_campaigns()]


@router.get("/campaigns/{name}")
async def get_campaign(name: CampaignPath, store: StoreDep) -> dict[str, Any]:
    """One campaign with its state."""
    try:
        return _campaign_view(*await store.get_campaign(name))
    except NotFound as exc:
        raise _not_found(exc) from None


class Claim(BaseModel):
    count: int = Field(ge=1, le=1000)
    free_agents: list[Name] = Field(default_factory=list, max_length=5000)


@router.post("/campaigns/{name}/claims")
async def claim_dials(name: CampaignPath, body: Claim, store: StoreDep) -> dict[str, Any]:
    """Hand out due leads to dial now, checked against do-not-call and calling windows."""
    try:
        result = await store.claim_dials(name, body.count, body.free_agents)
    except NotFound as exc:
        raise _not_found(exc) from None
    return {
        "leads": [asdict(lead) for lead in result.leads],
        "skipped": [{"lead_id": lead, "reason": why} for lead, why in result.skipped],
    }


@router.post("/campaigns/{name}/{action}")
async def change_campaign(
    name: CampaignPath, action: Literal["start", "pause", "stop"], store: StoreDep
) -> dict[str, Any]:
    """Start, pause or stop a campaign (409 when the move makes no sense now)."""
    try:
        state = await store.change_campaign(name, action)
    except NotFound as exc:
        raise _not_found(exc) from None
    except CampaignError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {"name": name, "state": state.value}


# --- lists and imports -------------------------------------------------------------------------


class ListBody(BaseModel):
    campaign: CampaignName
    default_region: Region
    default_timezone: str | None = Field(default=None, max_length=64)


@router.put("/lists/{list_id}")
async def put_list(list_id: ListPath, body: ListBody, store: StoreDep) -> dict[str, Any]:
    """Create or change a call list feeding a campaign."""
    try:
        settings = ListSettings(
            list_id, body.campaign, body.default_region.upper(), body.default_timezone
        )
        await store.put_list(settings)
    except NotFound as exc:
        raise _not_found(exc) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return asdict(settings)


@router.get("/lists/{list_id}")
async def get_list(list_id: ListPath, store: StoreDep) -> dict[str, Any]:
    """A list's settings and how many of its leads are in each status."""
    try:
        settings = await store.get_list(list_id)
    except NotFound as exc:
        raise _not_found(exc) from None
    return {**asdict(settings), "leads": await store.lead_counts(list_id)}


def _report(report: ImportReport) -> dict[str, Any]:
    return asdict(report)


@router.post("/lists/{list_id}/imports", status_code=status.HTTP_201_CREATED)
async def import_list(list_id: ListPath, request: Request, store: StoreDep) -> dict[str, Any]:
    """Import a CSV (UTF-8 or GB18030) streamed in the body; rows left out are listed by line.

    The body is kept as it arrives (never whole in memory) and then imported in batches; if the
    service stops midway, ``POST /v1/imports/{id}/resume`` carries on where it stopped.
    """

    async def body() -> AsyncIterator[bytes]:
        async for piece in request.stream():
            if piece:
                yield piece

    try:
        import_id = await store.upload(list_id, body())
    except NotFound as exc:
        raise _not_found(exc) from None
    return _report(await store.run_import(import_id))


@router.get("/imports/{import_id}")
async def import_status(
    import_id: IdPath, store: StoreDep, problems: Annotated[int, Query(ge=0, le=100_000)] = 1000
) -> dict[str, Any]:
    """Where an import stands, with the first rows left out and why."""
    try:
        return _report(await store.import_report(import_id, problems))
    except NotFound as exc:
        raise _not_found(exc) from None


@router.post("/imports/{import_id}/resume")
async def resume_import(import_id: IdPath, store: StoreDep) -> dict[str, Any]:
    """Carry on an import that stopped midway (a done one is returned as it is)."""
    try:
        return _report(await store.run_import(import_id))
    except NotFound as exc:
        raise _not_found(exc) from None


# --- do not call -------------------------------------------------------------------------------


class DoNotCall(BaseModel):
    numbers: list[PhoneNumber] = Field(min_length=1, max_length=100_000)
    region: Region


@router.post("/do-not-call")
async def add_do_not_call(body: DoNotCall, store: StoreDep) -> dict[str, Any]:
    """Put numbers on the tenant's do-not-call list (all or none: a bad number is a 422)."""
    try:
        added = await store.add_do_not_call(body.numbers, body.region.upper(), "api")
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {"numbers": added}


@router.delete("/do-not-call/{number}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_do_not_call(
    number: Annotated[str, Path(min_length=1, max_length=50)],
    region: Annotated[str, Query(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")],
    store: StoreDep,
) -> None:
    """Take a number off the do-not-call list."""
    try:
        await store.remove_do_not_call(number, region.upper())
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


# --- leads -------------------------------------------------------------------------------------


class OutcomeBody(BaseModel):
    campaign: CampaignName
    outcome: Outcome
    disposition: Label | None = None
    """The agent's disposition: one of the campaign's; it decides what becomes of the lead."""
    callback_at: datetime | None = None
    """For a disposition that books a callback: when (with a timezone offset)."""
    callback_agent: Name | None = None
    """For a callback: the agent it is for (anyone when not given)."""
    agent_id: Name | None = None
    """The agent who gave the disposition (carried on ``dialer.dispositioned``)."""


@router.post("/leads/{lead_id}/outcome")
async def record_outcome(lead_id: IdPath, body: OutcomeBody, store: StoreDep) -> dict[str, Any]:
    """Close or reschedule a lead after an attempt: by the agent's disposition when given
    (close, retry, callback at a time, do-not-call), else by the outcome's retry rules."""
    at = body.callback_at
    if at is not None and at.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "callback_at needs a timezone offset"
        )
    try:
        new_status = await store.record_outcome(
            body.campaign,
            lead_id,
            body.outcome,
            body.disposition,
            callback_at=None if at is None else at.timestamp(),
            callback_agent=body.callback_agent,
            agent_id=body.agent_id,
        )
    except NotFound as exc:
        raise _not_found(exc) from None
    except CampaignError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {"lead_id": lead_id, "status": new_status}


class Callback(BaseModel):
    at: datetime
    agent_id: Name | None = None


@router.post("/leads/{lead_id}/callback")
async def schedule_callback(lead_id: IdPath, body: Callback, store: StoreDep) -> dict[str, Any]:
    """Book a callback at a time (with a timezone), for one agent or anyone."""
    if body.at.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the callback time needs a timezone offset"
        )
    try:
        await store.schedule_callback(lead_id, body.at.timestamp(), body.agent_id)
    except NotFound as exc:
        raise _not_found(exc) from None
    return {"lead_id": lead_id, "at": body.at.isoformat(), "agent_id": body.agent_id}

"""The recording service's HTTP API: policies, recordings, pauses, playback, retention, QA."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Row, select

from cc_recording.adapters.crypto import CryptoError
from cc_recording.adapters.db import access_log, audit, policies
from cc_recording.adapters.qa import Missing, QaDesk
from cc_recording.adapters.recorder import NotFound, Recorder
from cc_recording.adapters.storage import StorageError
from cc_recording.adapters.switch import SwitchRefused
from cc_recording.core import qa, signing
from cc_recording.core.policy import Policy, RecordMode
from cc_recording.core.recording import Transition

WINDOW = 1024 * 1024
Actor = Annotated[str, Field(min_length=1, max_length=200)]


def recorder(request: Request) -> Recorder:
    """Dependency: the app's recorder."""
    found: Recorder = request.app.state.recorder
    return found


def qa_desk(request: Request) -> QaDesk:
    """Dependency: the app's QA desk."""
    found: QaDesk = request.app.state.qa
    return found


RecorderDep = Annotated[Recorder, Depends(recorder)]
QaDep = Annotated[QaDesk, Depends(qa_desk)]


def _fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _row(row: Row[Any]) -> dict[str, Any]:
    data = dict(row._mapping)
    data.pop("wrapped_key", None)
    return data


# --- bodies ------------------------------------------------------------------------------------


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: RecordMode
    share: float = Field(default=1.0, ge=0, le=1)
    stereo: bool = True
    actor: Actor = "admin"


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: Actor
    reason: str | None = Field(default=None, max_length=200)


class ActorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: Actor


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hold: bool
    actor: Actor
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=0, le=36500)
    actor: Actor


class ErasureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str | None = Field(default=None, min_length=1, max_length=200)
    caller_number: str | None = Field(default=None, min_length=1, max_length=200)
    actor: Actor
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _one(self) -> ErasureBody:
        if (self.call_id is None) == (self.caller_number is None):
            raise ValueError("give exactly one of call_id or caller_number")
        return self


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Actor
    action: Literal["play", "download"] = "play"


class ScorecardBody(qa.ScorecardForm):
    actor: Actor = "admin"


class EvaluationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recording_id: Annotated[str, Field(min_length=1, max_length=64)]
    scorecard: Annotated[str, Field(min_length=1, max_length=200)]
    version: int | None = Field(default=None, ge=1)
    evaluator: Actor
    answers: dict[str, bool | int | Literal["na"]]
    comments: str | None = Field(default=None, max_length=5000)
    calibration: str | None = Field(default=None, min_length=1, max_length=200)


class AgentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Actor


class DisputeBody(AgentBody):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: Actor
    resolution: Annotated[str, Field(min_length=1, max_length=2000)]
    answers: dict[str, bool | int | Literal["na"]] | None = None


class SampleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_agent: int = Field(ge=1, le=1000)
    queue: str | None = None
    seed: int | None = None
    since: datetime
    until: datetime

    @model_validator(mode="after")
    def _aware(self) -> SampleBody:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until need a time zone")
        if self.until <= self.since:
            raise ValueError("until must be after since")
        return self


# --- recordings --------------------------------------------------------------------------------

router = APIRouter(tags=["recording"])


@router.put("/policies/{scope}/{name}")
async def put_policy(
    scope: Literal["queue", "agent"], name: str, body: PolicyBody, rec: RecorderDep
) -> dict[str, Any]:
    """Set a queue's or an agent's recording policy (all, sampled share, none; stereo/mono)."""
    await rec.set_policy(scope, name, Policy(body.mode, body.share, body.stereo), body.actor)
    return {
        "scope": scope,
        "name": name,
        "mode": body.mode,
        "share": body.share,
        "stereo": body.stereo,
    }


@router.get("/policies")
async def list_policies(rec: RecorderDep) -> list[dict[str, Any]]:
    """List the stored policies."""
    async with rec.db.session() as session:
        rows = await session.execute(select(policies).where(policies.c.tenant == rec.tenant))
        return [dict(r._mapping) for r in rows]


@router.get("/recordings")
async def list_recordings(
    rec: RecorderDep,
    call_id: str | None = None,
    agent_id: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Find recordings by call, agent or status."""
    rows = await rec.find(call_id=call_id, agent_id=agent_id, status=status)
    return [_row(r) for r in rows]


@router.get("/recordings/{recording_id}")
async def get_recording(recording_id: str, rec: RecorderDep) -> dict[str, Any]:
    """Return one recording's metadata, its paused stretches included."""
    rows = await rec.find(id=recording_id)
    if not rows:
        raise _fail(404, f"no recording {recording_id}")
    return _row(rows[0])


async def _pause_or_resume(
    rec: Recorder, recording_id: str, action: str, body: PauseBody | ActorBody
) -> dict[str, Any]:
    try:
        if action == "pause":
            reason = body.reason if isinstance(body, PauseBody) else None
            stretches = await rec.pause(recording_id, body.actor, reason)
        else:
            stretches = await rec.resume(recording_id, body.actor)
    except NotFound:
        raise _fail(404, f"no recording {recording_id}") from None
    except Transition as exc:
        raise _fail(409, str(exc)) from None
    except SwitchRefused as exc:
        raise _fail(409, f"FreeSWITCH refused: {exc}") from None
    return {"recording_id": recording_id, "pauses": [p.to_json() for p in stretches]}


@router.post("/recordings/{recording_id}/pause")
async def pause(recording_id: str, body: PauseBody, rec: RecorderDep) -> dict[str, Any]:
    """Pause (mask) a recording, e.g. while a card number is given."""
    return await _pause_or_resume(rec, recording_id, "pause", body)


@router.post("/recordings/{recording_id}/resume")
async def resume(recording_id: str, body: ActorBody, rec: RecorderDep) -> dict[str, Any]:
    """Resume a paused recording."""
    return await _pause_or_resume(rec, recording_id, "resume", body)


@router.post("/calls/{call_id}/recording/{action}")
async def pause_call(
    call_id: str, action: Literal["pause", "resume"], body: PauseBody, rec: RecorderDep
) -> dict[str, Any]:
    """Pause or resume the call's recording by call id (what the IVR knows)."""
    try:
        recording_id = await rec.active_for_call(call_id)
    except NotFound:
        raise _fail(404, f"call {call_id} has no recording in progress") from None
    return await _pause_or_resume(rec, recording_id, action, body)


@router.post("/recordings/{recording_id}/retry")
async def retry(recording_id: str, body: ActorBody, rec: RecorderDep) -> dict[str, str]:
    """Queue a flagged or failed recording's move again."""
    try:
        await rec.retry(recording_id, body.actor)
    except NotFound:
        raise _fail(404, f"no recording {recording_id}") from None
    except Transition as exc:
        raise _fail(409, str(exc)) from None
    return {"recording_id": recording_id, "status": "queued"}


@router.put("/recordings/{recording_id}/legal-hold")
async def legal_hold(recording_id: str, body: HoldBody, rec: RecorderDep) -> dict[str, Any]:
    """Place or lift a legal hold."""
    try:
        await rec.set_hold(recording_id, body.hold, body.actor, body.reason)
    except NotFound:
        raise _fail(404, f"no recording {recording_id}") from None
    return {"recording_id": recording_id, "legal_hold": body.hold}


@router.put("/retention/{queue}")
async def put_retention(queue: str, body: RetentionBody, rec: RecorderDep) -> dict[str, Any]:
    """Set how many days a queue's recordings are kept."""
    redated = await rec.set_retention(queue, body.days, body.actor)
    return {"queue": queue, "days": body.days, "recordings_redated": redated}


@router.post("/retention/sweep")
async def sweep(rec: RecorderDep) -> dict[str, Any]:
    """Delete expired recordings now (the service also sweeps on its own schedule)."""
    try:
        return {"deleted": await rec.sweep()}
    except StorageError as exc:
        raise _fail(503, f"storage unavailable: {exc}") from None


@router.post("/erasures")
async def erase(body: ErasureBody, rec: RecorderDep) -> dict[str, Any]:
    """Erase a call's or a customer's recordings (held ones are reported, not erased)."""
    try:
        erased, held = await rec.erase(
            call_id=body.call_id,
            caller_number=body.caller_number,
            actor=body.actor,
            why=body.reason,
        )
    except StorageError as exc:
        raise _fail(503, f"storage unavailable: {exc}") from None
    return {"erased": erased, "held": held}


@router.post("/keys/rewrap")
async def rewrap(body: ActorBody, rec: RecorderDep) -> dict[str, Any]:
    """Re-wrap every data key under the active key-encryption key (files are untouched)."""
    try:
        return {"rewrapped": await rec.rewrap(body.actor), "kek_id": rec.keyring.active}
    except CryptoError as exc:
        raise _fail(409, str(exc)) from None


@router.get("/recordings/{recording_id}/access-log")
async def get_access_log(recording_id: str, rec: RecorderDep) -> list[dict[str, Any]]:
    """Who played or downloaded the recording, and when."""
    async with rec.db.session() as session:
        rows = await session.execute(
            select(access_log)
            .where(access_log.c.tenant == rec.tenant, access_log.c.recording_id == recording_id)
            .order_by(access_log.c.seq)
        )
        return [dict(r._mapping) for r in rows]


@router.get("/audit")
async def get_audit(
    rec: RecorderDep, recording_id: str | None = None, call_id: str | None = None
) -> list[dict[str, Any]]:
    """The audit trail: policies, pauses, holds, retention, deletions, erasures."""
    async with rec.db.session() as session:
        query = select(audit).where(audit.c.tenant == rec.tenant)
        if recording_id is not None:
            query = query.where(audit.c.recording_id == recording_id)
        if call_id is not None:
            query = query.where(audit.c.call_id == call_id)
        rows = await session.execute(query.order_by(audit.c.seq))
        return [dict(r._mapping) for r in rows]


# --- playback ----------------------------------------------------------------------------------


@router.post("/recordings/{recording_id}/links")
async def make_link(
    recording_id: str, body: LinkBody, request: Request, rec: RecorderDep
) -> dict[str, Any]:
    """Return a short-lived signed URL to play or download the recording."""
    try:
        await rec.stored(recording_id)
    except NotFound:
        raise _fail(404, f"recording {recording_id} is not stored") from None
    settings = request.app.state.settings
    expires = int(time.time()) + settings.recording_link_seconds
    grant = signing.Grant(recording_id, body.user, expires, body.action)
    query = urlencode(
        {
            "user": body.user,
            "exp": expires,
            "action": body.action,
            "sig": signing.sign(grant, request.app.state.signing_key),
        }
    )
    url = f"{settings.recording_public_url}/media/{recording_id}?{query}"
    return {"url": url, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()}


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive span one Range header asks for; ValueError when unsatisfiable."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        raise ValueError("only one bytes=start-end range is served")
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the recording")
    return start, end


media_router = APIRouter(tags=["playback"])
"""Open to anyone holding a link: the link's signature, not the service token, admits them."""


@media_router.get("/media/{recording_id}")
async def media(
    recording_id: str,
    request: Request,
    rec: RecorderDep,
    user: Annotated[str, Query(min_length=1)],
    exp: int,
    sig: str,
    action: Literal["play", "download"] = "play",
) -> Response:
    """Serve a recording through a signed link, with single byte ranges (206) for seeking."""
    grant = signing.Grant(recording_id, user, exp, action)
    try:
        signing.verify(grant, sig, request.app.state.signing_key, datetime.now(UTC))
    except signing.BadSignature as exc:
        raise _fail(403, str(exc)) from None
    try:
        row = await rec.stored(recording_id)
    except NotFound:
        raise _fail(404, f"recording {recording_id} is not stored") from None
    size = int(row.size_bytes)
    try:
        span = parse_range(request.headers.get("range"), size)
    except ValueError as exc:
        return Response(
            status_code=416,
            headers={"Content-Range": f"bytes */{size}"},
            content=str(exc),
        )
    start, end = span if span is not None else (0, size - 1)
    header = f"bytes {start}-{end}/{size}"
    try:  # the first window is read before answering, so a storage fault is a 503, not a cut
        head = await rec.read(row, start, min(start + WINDOW - 1, end))
    except StorageError as exc:
        raise _fail(503, f"storage unavailable: {exc}") from None
    except CryptoError as exc:
        raise _fail(500, f"recording cannot be decrypted: {exc}") from None
    await rec.log_access(row, user, action, header if span is not None else None)
    request.app.state.playbacks.labels(action).inc()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for window in range(start + WINDOW, end + 1, WINDOW):
            yield await rec.read(row, window, min(window + WINDOW - 1, end))

    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
    if span is not None:
        headers["Content-Range"] = header
    if action == "download":
        headers["Content-Disposition"] = f'attachment; filename="{recording_id}.wav"'
    return StreamingResponse(
        body(), status_code=206 if span else 200, media_type="audio/wav", headers=headers
    )


# --- QA ----------------------------------------------------------------------------------------

qa_router = APIRouter(tags=["qa"])


def _evaluation(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


async def _detailed(desk: QaDesk, row: Row[Any]) -> dict[str, Any]:
    """One evaluation with its answers question by question (section, text, points)."""
    questions = [dataclasses.asdict(q) for q in await desk.questions(row)]
    return {**_evaluation(row), "questions": questions}


@qa_router.put("/scorecards/{name}")
async def put_scorecard(name: str, body: ScorecardBody, desk: QaDep) -> dict[str, Any]:
    """Publish a new version of a scorecard."""
    form = qa.ScorecardForm.model_validate(body.model_dump(exclude={"actor"}))
    version = await desk.publish_scorecard(name, form, body.actor)
    return {"name": name, "version": version}


@qa_router.get("/scorecards/{name}")
async def get_scorecard(name: str, desk: QaDep, version: int | None = None) -> dict[str, Any]:
    """Return a scorecard version (the latest by default)."""
    try:
        number, form = await desk.scorecard(name, version)
    except Missing as exc:
        raise _fail(404, f"no {exc}") from None
    return {"name": name, "version": number, **form.model_dump(mode="json")}


@qa_router.post("/evaluations", status_code=201)
async def evaluate(body: EvaluationBody, desk: QaDep) -> dict[str, Any]:
    """Score a recorded call against a scorecard."""
    try:
        row = await desk.evaluate(
            recording_id=body.recording_id,
            scorecard=body.scorecard,
            evaluator=body.evaluator,
            answers=body.answers,
            comments=body.comments,
            calibration=body.calibration,
            version=body.version,
        )
    except Missing as exc:
        raise _fail(404, f"no {exc}") from None
    except qa.QaError as exc:
        raise _fail(422, str(exc)) from None
    return _evaluation(row)


@qa_router.get("/evaluations")
async def list_evaluations(
    desk: QaDep, agent_id: str | None = None, recording_id: str | None = None
) -> list[dict[str, Any]]:
    """Evaluations, e.g. an agent's own results."""
    return [_evaluation(r) for r in await desk.find(agent_id=agent_id, recording_id=recording_id)]


@qa_router.get("/evaluations/{evaluation_id}")
async def get_evaluation(evaluation_id: str, desk: QaDep) -> dict[str, Any]:
    """One evaluation, with its answers question by question."""
    try:
        return await _detailed(desk, await desk.get(evaluation_id))
    except Missing as exc:
        raise _fail(404, f"no {exc}") from None


async def _workflow(desk: QaDesk, step: Awaitable[Row[Any]]) -> dict[str, Any]:
    try:
        row = await step
    except Missing as exc:
        raise _fail(404, f"no {exc}") from None
    except qa.BadInput as exc:
        raise _fail(422, str(exc)) from None
    except qa.QaError as exc:
        raise _fail(409, str(exc)) from None
    return await _detailed(desk, row)


@qa_router.post("/evaluations/{evaluation_id}/acknowledge")
async def acknowledge(evaluation_id: str, body: AgentBody, desk: QaDep) -> dict[str, Any]:
    """The agent accepts the evaluation."""
    return await _workflow(desk, desk.acknowledge(evaluation_id, body.agent))


@qa_router.post("/evaluations/{evaluation_id}/dispute")
async def dispute(evaluation_id: str, body: DisputeBody, desk: QaDep) -> dict[str, Any]:
    """The agent disputes the evaluation."""
    return await _workflow(desk, desk.dispute(evaluation_id, body.agent, body.reason))


@qa_router.post("/evaluations/{evaluation_id}/resolve")
async def resolve(evaluation_id: str, body: ResolveBody, desk: QaDep) -> dict[str, Any]:
    """A reviewer resolves the dispute, optionally with corrected answers."""
    return await _workflow(
        desk, desk.resolve(evaluation_id, body.reviewer, body.resolution, body.answers)
    )


@qa_router.get("/calibrations/{name}")
async def calibration(name: str, desk: QaDep) -> dict[str, Any]:
    """The spread between evaluators who scored the same call."""
    try:
        report, rows = await desk.calibration(name)
    except Missing as exc:
        raise _fail(404, f"no {exc}") from None
    except qa.QaError as exc:
        raise _fail(409, str(exc)) from None
    return {
        "calibration": name,
        "evaluators": report.evaluators,
        "mean": report.mean,
        "spread": report.spread,
        "stdev": report.stdev,
        "per_question_agreement": report.per_question_agreement,
        "disagreements": list(report.disagreements),
        "scores": {row.evaluator: row.percent for row in rows},
    }


@qa_router.post("/qa/samples")
async def samples(body: SampleBody, desk: QaDep) -> dict[str, Any]:
    """Pick calls to evaluate: N per agent in the period, at random, optionally per queue."""
    rule = qa.SamplingRule(body.per_agent, body.queue, body.seed)
    picked = await desk.draw_sample(rule, body.since, body.until)
    return {"picked": picked.picked, "short": picked.short}

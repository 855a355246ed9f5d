"""``/v1/qa/evaluations``: QA evaluations of recorded calls, with the answer to every question,
and their workflow: the agent acknowledges or disputes, a reviewer resolves (upheld, or
amended with corrected answers, which changes the agent's QA score in the reports).

Everything is passed to the recording service's internal API, which holds the scorecards and
evaluations; its answers (404 unknown, 409 out of turn, 422 bad input) come back with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from cc_crm_api.api.deps import Reader, Runtime, RuntimeDep, Writer
from cc_crm_api.api.docs import IdempotencyKey, errors, example

router = APIRouter(prefix="/v1/qa/evaluations", tags=["qa"])

EvaluationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Evaluation id.",
        examples=["5b0d6f5e-2c1e-4f7a-9a43-8d2f6c1b7e90"],
    ),
]
PERSON = r"^[A-Za-z0-9_.@-]+$"
"""An agent's or a reviewer's id, as agents are named (``/v1/agents``)."""
Person = Annotated[str, Field(min_length=1, max_length=200, pattern=PERSON)]
TEXT = r"^[^\x00]*$"
"""Free text, any but the NUL character (which PostgreSQL cannot store)."""
Answer = bool | int | Literal["na"]
"""yes/no questions take true/false, scale questions 0..max, and "na" where allowed."""


class QuestionAnswer(BaseModel):
    """One question of the scorecard, the answer given and the points it earned."""

    section: str
    question: str = Field(description="Question id on the scorecard.")
    text: str
    kind: Literal["yes_no", "scale"]
    weight: float
    critical: bool = Field(description="Answered no (or 0), it fails the whole evaluation.")
    answer: Answer
    points: float | None = Field(description="Points earned; null for N/A.")


class Evaluation(BaseModel):
    """A recorded call scored against a version of a scorecard, and where its workflow stands."""

    id: str
    recording_id: str
    call_id: str
    agent_id: str | None
    queue: str | None
    scorecard: str
    scorecard_version: int
    evaluator: str
    answers: dict[str, Answer] = Field(description="The answer to each question, by its id.")
    questions: list[QuestionAnswer] | None = Field(
        default=None,
        description="Each question with its text, answer and points (one evaluation only).",
    )
    comments: str | None
    percent: float = Field(description="0 to 100; 0 when a critical question failed.")
    earned: float
    possible: float
    critical_failed: list[str]
    passed: bool
    status: Literal["submitted", "acknowledged", "disputed", "resolved"]
    calibration: str | None = Field(description="Set for calibration scores (not the agent's).")
    dispute_reason: str | None
    reviewer: str | None
    resolution: str | None
    created_at: datetime
    updated_at: datetime


class EvaluationList(BaseModel):
    """Evaluations, newest first."""

    items: list[Evaluation]


class AcknowledgeIn(BaseModel):
    """The evaluated agent accepts the result."""

    model_config = ConfigDict(extra="forbid")

    agent: Person = Field(description="The evaluated agent (only they may acknowledge).")


class DisputeIn(BaseModel):
    """The evaluated agent contests the result, saying why."""

    model_config = ConfigDict(extra="forbid")

    agent: Person = Field(description="The evaluated agent (only they may dispute).")
    reason: str = Field(
        min_length=1, max_length=2000, pattern=TEXT, description="Why the score is wrong."
    )


class ResolveIn(BaseModel):
    """A reviewer (not the evaluator) settles the dispute: upheld, or with corrected answers."""

    model_config = ConfigDict(extra="forbid")

    reviewer: Person
    resolution: str = Field(
        min_length=1, max_length=2000, pattern=TEXT, description="What was decided, why."
    )
    answers: dict[str, Answer] | None = Field(
        default=None,
        description="Corrected answers to every question (the score is recomputed on the form "
        "the call was scored on); leave out to uphold the score.",
    )


_SCORED: dict[str, Any] = {
    "id": "5b0d6f5e-2c1e-4f7a-9a43-8d2f6c1b7e90",
    "recording_id": "0f6c2d4e-9b1a-4c3e-8f5d-7a2b1c0d9e8f",
    "call_id": "8c1f7a8e-2f0b-4b43-9d0e-1b7f3a0c9e55",
    "agent_id": "a-1001",
    "queue": "support",
    "scorecard": "standard",
    "scorecard_version": 2,
    "evaluator": "eve",
    "answers": {"greet": True, "tone": 2},
    "comments": "Rushed the close.",
    "percent": 60.0,
    "earned": 3.0,
    "possible": 5.0,
    "critical_failed": [],
    "passed": False,
    "status": "submitted",
    "calibration": None,
    "dispute_reason": None,
    "reviewer": None,
    "resolution": None,
    "created_at": "2025-03-02T10:00:00Z",
    "updated_at": "2025-03-02T10:00:00Z",
}
_QUESTIONS = [
    {"section": "opening", "question": "greet", "text": "Greeted the caller?", "kind": "yes_no",
     "weight": 1.0, "critical": True, "answer": True, "points": 1.0},
    {"section": "resolution", "question": "tone", "text": "Tone", "kind": "scale",
     "weight": 4.0, "critical": False, "answer": 2, "points": 2.0},
]  # fmt: skip
_RESOLVED = {
    **_SCORED,
    "answers": {"greet": True, "tone": 4},
    "questions": [_QUESTIONS[0], {**_QUESTIONS[1], "answer": 4, "points": 4.0}],
    "percent": 100.0,
    "earned": 5.0,
    "passed": True,
    "status": "resolved",
    "dispute_reason": "My tone was friendly throughout.",
    "reviewer": "rita",
    "resolution": "Tone was fine on a second listen.",
    "updated_at": "2025-03-03T09:30:00Z",
}
example(Evaluation, {**_SCORED, "questions": _QUESTIONS}, _RESOLVED)
example(EvaluationList, {"items": [_SCORED]})
example(AcknowledgeIn, {"agent": "a-1001"})
example(DisputeIn, {"agent": "a-1001", "reason": "My tone was friendly throughout."})
example(
    ResolveIn,
    {
        "reviewer": "rita",
        "resolution": "Tone was fine on a second listen.",
        "answers": {"greet": True, "tone": 4},
    },
    {"reviewer": "rita", "resolution": "The score stands: the close was rushed."},
)

AgentFilter = Annotated[
    str | None, Query(min_length=1, max_length=200, pattern=PERSON, examples=["a-1001"])
]
RecordingFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        examples=["0f6c2d4e-9b1a-4c3e-8f5d-7a2b1c0d9e8f"],
    ),
]


@router.get("", response_model=EvaluationList, responses=errors())
async def list_evaluations(
    runtime: RuntimeDep,
    _: Reader,
    agent_id: AgentFilter = None,
    recording_id: RecordingFilter = None,
) -> EvaluationList:
    """Evaluations, newest first: an agent's results, or those of one recording."""
    params = {"agent_id": agent_id, "recording_id": recording_id}
    reply = await runtime.recording.call(
        "GET", "/evaluations", params={k: v for k, v in params.items() if v is not None}
    )
    return EvaluationList(items=[Evaluation.model_validate(e) for e in reply.json()])


@router.get("/{evaluation_id}", response_model=Evaluation, responses=errors(404))
async def get_evaluation(evaluation_id: EvaluationId, runtime: RuntimeDep, _: Reader) -> Evaluation:
    """One evaluation with the answer to every question (text, answer, points)."""
    reply = await runtime.recording.call("GET", f"/evaluations/{evaluation_id}")
    return Evaluation.model_validate(reply.json())


async def _step(runtime: Runtime, evaluation_id: str, action: str, body: BaseModel) -> Evaluation:
    reply = await runtime.recording.call(
        "POST", f"/evaluations/{evaluation_id}/{action}", json=body.model_dump(exclude_none=True)
    )
    return Evaluation.model_validate(reply.json())


@router.post("/{evaluation_id}/acknowledge", response_model=Evaluation, responses=errors(404, 409))
async def acknowledge(
    evaluation_id: EvaluationId,
    body: AcknowledgeIn,
    runtime: RuntimeDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Evaluation:
    """The agent accepts a submitted evaluation (409 once acknowledged, disputed or resolved)."""
    return await _step(runtime, evaluation_id, "acknowledge", body)


@router.post("/{evaluation_id}/dispute", response_model=Evaluation, responses=errors(404, 409))
async def dispute(
    evaluation_id: EvaluationId,
    body: DisputeIn,
    runtime: RuntimeDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Evaluation:
    """The agent disputes a submitted evaluation, with a reason, for a reviewer to resolve."""
    return await _step(runtime, evaluation_id, "dispute", body)


@router.post("/{evaluation_id}/resolve", response_model=Evaluation, responses=errors(404, 409))
async def resolve(
    evaluation_id: EvaluationId,
    body: ResolveIn,
    runtime: RuntimeDep,
    _: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Evaluation:
    """A reviewer other than the evaluator resolves a disputed evaluation: upheld as scored, or
    amended with corrected answers; the final score replaces the first in the QA reports."""
    return await _step(runtime, evaluation_id, "resolve", body)

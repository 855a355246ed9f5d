"""QA scorecards as data, scoring an evaluation, the dispute workflow, calibration and sampling.

A scorecard has sections of weighted questions: yes/no (yes earns the weight) or a scale
(``value / scale_max`` of the weight); a question that allows it may be answered N/A, which
takes it out of both the earned and the possible points. A critical question answered "no"
(or 0 on a scale) fails the whole evaluation: its score is 0 whatever else was earned.
Scorecards are versioned: an evaluation keeps the version it was scored on.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NA = "na"
Answer = bool | int | Literal["na"]


class QaError(Exception):
    """Bad scorecard, bad answers or a workflow step out of turn; the message says what."""


class BadInput(QaError):
    """Answers that do not fit the scorecard, or a dispute without a reason: the caller's input
    is wrong (422), unlike a step out of turn (409)."""


class Question(BaseModel):
    """One question on a scorecard."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    kind: Literal["yes_no", "scale"] = "yes_no"
    weight: float = Field(default=1.0, gt=0, le=1000)
    scale_max: int = Field(default=5, ge=1, le=100)
    allow_na: bool = False
    critical: bool = False


class Section(BaseModel):
    """A group of questions (greeting, compliance, resolution ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    questions: list[Question] = Field(min_length=1)


class ScorecardForm(BaseModel):
    """The form evaluators fill in; stored as data, one row per version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sections: list[Section] = Field(min_length=1)
    pass_mark: float = Field(default=0.0, ge=0, le=100, description="Percent needed to pass.")

    @model_validator(mode="after")
    def _unique_ids(self) -> ScorecardForm:
        seen: set[str] = set()
        for section in self.sections:
            for question in section.questions:
                if question.id in seen:
                    raise ValueError(f"question id {question.id!r} is used twice")
                seen.add(question.id)
        return self

    def questions(self) -> Iterable[tuple[Section, Question]]:
        """Yield every question with its section, in form order."""
        for section in self.sections:
            for question in section.questions:
                yield section, question


@dataclass(frozen=True, slots=True)
class SectionScore:
    """Points earned and possible in one section."""

    name: str
    earned: float
    possible: float


@dataclass(frozen=True, slots=True)
class Score:
    """An evaluation's result: percent 0-100, points, per-section figures, critical failures."""

    percent: float
    earned: float
    possible: float
    sections: tuple[SectionScore, ...]
    critical_failed: tuple[str, ...]
    passed: bool


def _points(question: Question, answer: Answer) -> float | None:
    """Return the points for one answer, None for N/A; raise on an answer that does not fit."""
    if answer == NA:
        if not question.allow_na:
            raise BadInput(f"question {question.id!r} cannot be answered N/A")
        return None
    if question.kind == "yes_no":
        if not isinstance(answer, bool):
            raise BadInput(f"question {question.id!r} takes yes/no (true/false), got {answer!r}")
        return question.weight if answer else 0.0
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise BadInput(f"question {question.id!r} takes 0..{question.scale_max}, got {answer!r}")
    if not 0 <= answer <= question.scale_max:
        raise BadInput(f"question {question.id!r} takes 0..{question.scale_max}, got {answer}")
    return question.weight * answer / question.scale_max


def score(form: ScorecardForm, answers: Mapping[str, Answer]) -> Score:
    """Score a complete set of answers; every question must be answered, nothing else."""
    known = {q.id for _, q in form.questions()}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise BadInput(f"answers to questions not on the scorecard: {', '.join(unknown)}")
    missing = [q.id for _, q in form.questions() if q.id not in answers]
    if missing:
        raise BadInput(f"unanswered questions: {', '.join(missing)}")
    earned: dict[str, float] = defaultdict(float)
    possible: dict[str, float] = defaultdict(float)
    critical: list[str] = []
    for section, question in form.questions():
        points = _points(question, answers[question.id])
        possible.setdefault(section.name, 0.0)
        earned.setdefault(section.name, 0.0)
        if points is None:
            continue
        earned[section.name] += points
        possible[section.name] += question.weight
        if question.critical and points == 0:
            critical.append(question.id)
    total_earned, total_possible = sum(earned.values()), sum(possible.values())
    percent = 100.0 * total_earned / total_possible if total_possible else 100.0
    if critical:
        percent = 0.0
    percent = round(percent, 2)
    sections = tuple(SectionScore(s.name, earned[s.name], possible[s.name]) for s in form.sections)
    passed = not critical and percent >= form.pass_mark
    return Score(percent, total_earned, total_possible, sections, tuple(critical), passed)


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """One question of an evaluation as the agent reads it: what was asked, answered, earned."""

    section: str
    question: str
    text: str
    kind: str
    weight: float
    critical: bool
    answer: Answer
    points: float | None
    """Points earned; None for N/A (left out of the possible points too)."""


def breakdown(form: ScorecardForm, answers: Mapping[str, Answer]) -> tuple[QuestionResult, ...]:
    """Return every question of the form with its answer and points, in form order, so an
    agent can see where the score came from before acknowledging or disputing it."""
    return tuple(
        QuestionResult(
            section.name,
            question.id,
            question.text,
            question.kind,
            question.weight,
            question.critical,
            answers[question.id],
            _points(question, answers[question.id]),
        )
        for section, question in form.questions()
        if question.id in answers
    )


# --- the agent's say: acknowledge or dispute, a reviewer resolves -----------------------------


class EvaluationStatus(StrEnum):
    """Where an evaluation is between the evaluator, the agent and a reviewer."""

    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    DISPUTED = "disputed"
    RESOLVED = "resolved"


SCORED_REVISION = 0
"""The ``revision`` of the evaluator's score in ``qa.evaluated``."""
RESOLVED_REVISION = 1
"""The ``revision`` of the final score once a reviewer resolved a dispute (upheld or amended):
consumers replace the evaluation's earlier score with it."""


def acknowledge(status: EvaluationStatus) -> EvaluationStatus:
    """The agent accepts the result."""
    if status is not EvaluationStatus.SUBMITTED:
        raise QaError(f"only a submitted evaluation can be acknowledged (it is {status.value})")
    return EvaluationStatus.ACKNOWLEDGED


def dispute(status: EvaluationStatus, reason: str) -> EvaluationStatus:
    """The agent contests the result, saying why."""
    if status is not EvaluationStatus.SUBMITTED:
        raise QaError(f"only a submitted evaluation can be disputed (it is {status.value})")
    if not reason.strip():
        raise BadInput("a dispute needs a reason")
    return EvaluationStatus.DISPUTED


def resolve(status: EvaluationStatus, reviewer: str, evaluator: str) -> EvaluationStatus:
    """A reviewer other than the evaluator settles the dispute (upheld or amended)."""
    if status is not EvaluationStatus.DISPUTED:
        raise QaError(f"only a disputed evaluation can be resolved (it is {status.value})")
    if reviewer == evaluator:
        raise QaError("the evaluator cannot review their own evaluation")
    return EvaluationStatus.RESOLVED


# --- calibration: several evaluators score the same call --------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """How far apart evaluators scored one call, overall and per question."""

    evaluators: int
    mean: float
    spread: float
    stdev: float
    per_question_agreement: dict[str, float]
    disagreements: tuple[str, ...]


def calibrate(results: Sequence[tuple[float, Mapping[str, Answer]]]) -> Calibration:
    """Report the spread (max - min), the standard deviation and per-question agreement."""
    if len(results) < 2:
        raise QaError("calibration needs at least two evaluations")
    percents = [percent for percent, _ in results]
    agreement: dict[str, float] = {}
    for question in sorted({q for _, answers in results for q in answers}):
        given = [repr(answers.get(question)) for _, answers in results]
        most = max(given.count(value) for value in set(given))
        agreement[question] = round(most / len(given), 4)
    return Calibration(
        evaluators=len(results),
        mean=round(statistics.fmean(percents), 2),
        spread=round(max(percents) - min(percents), 2),
        stdev=round(statistics.pstdev(percents), 2),
        per_question_agreement=agreement,
        disagreements=tuple(q for q, share in agreement.items() if share < 1.0),
    )


# --- sampling: which calls get evaluated ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored recording that could be evaluated."""

    recording_id: str
    agent_id: str
    queue: str | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class SamplingRule:
    """Pick ``per_agent`` calls per agent in the period, at random, optionally from one queue."""

    per_agent: int
    queue: str | None = None
    seed: int | None = None


@dataclass(slots=True)
class Sample:
    """The recordings picked, per agent, and agents who had too few calls."""

    picked: dict[str, list[str]] = field(default_factory=dict)
    short: dict[str, int] = field(default_factory=dict)


def sample(
    candidates: Iterable[Candidate],
    rule: SamplingRule,
    *,
    already: Mapping[str, int],
    excluded: set[str],
) -> Sample:
    """Pick up to ``per_agent`` minus what each agent already has, never a call twice."""
    if rule.per_agent < 1:
        raise QaError("per_agent must be at least 1")
    rng = random.Random(rule.seed)
    pools: dict[str, list[str]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: (c.agent_id, c.recorded_at, c.recording_id)):
        if rule.queue is not None and c.queue != rule.queue:
            continue
        if c.recording_id not in excluded:
            pools[c.agent_id].append(c.recording_id)
    result = Sample()
    for agent in sorted(pools):
        wanted = max(rule.per_agent - already.get(agent, 0), 0)
        pool = pools[agent]
        picked = rng.sample(pool, min(wanted, len(pool)))
        if picked:
            result.picked[agent] = picked
        if len(pool) < wanted:
            result.short[agent] = wanted - len(pool)
    return result

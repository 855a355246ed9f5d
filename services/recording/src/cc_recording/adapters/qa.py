"""QA on PostgreSQL: versioned scorecards, evaluations and their workflow, calibration, sampling."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, Outbox
from cc_proto import events as ev
from cc_proto import make_event
from cc_recording.adapters.db import evaluations, kit, recordings, scorecards
from cc_recording.core import qa
from cc_recording.core.recording import Status


class Missing(Exception):
    """No such scorecard, recording or evaluation."""


class QaDesk:
    """Scorecards and evaluations for one tenant."""

    def __init__(
        self,
        db: Database,
        *,
        tenant: str,
        clock: Callable[[], datetime],
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.tenant = tenant
        self.now = clock
        self.outbox = Outbox(kit.outbox)
        self._notify = on_commit

    # --- scorecards --------------------------------------------------------------------------

    async def publish_scorecard(self, name: str, form: qa.ScorecardForm, actor: str) -> int:
        """Store a new version of a scorecard; earlier versions stay as they were."""
        async with self.db.session() as session:
            latest = await session.execute(
                select(func.max(scorecards.c.version)).where(
                    scorecards.c.tenant == self.tenant, scorecards.c.name == name
                )
            )
            version = int(latest.scalar_one() or 0) + 1
            await session.execute(
                scorecards.insert().values(
                    tenant=self.tenant,
                    name=name,
                    version=version,
                    form=form.model_dump(mode="json"),
                    created_by=actor,
                    created_at=self.now(),
                )
            )
        return version

    async def scorecard(
        self, name: str, version: int | None = None, session: AsyncSession | None = None
    ) -> tuple[int, qa.ScorecardForm]:
        """Return a version of a scorecard (the latest when none is named)."""
        query = select(scorecards.c.version, scorecards.c.form).where(
            scorecards.c.tenant == self.tenant, scorecards.c.name == name
        )
        if version is not None:
            query = query.where(scorecards.c.version == version)
        query = query.order_by(scorecards.c.version.desc()).limit(1)
        if session is None:
            async with self.db.session() as own:
                row = (await own.execute(query)).first()
        else:
            row = (await session.execute(query)).first()
        if row is None:
            raise Missing(f"scorecard {name!r}" + (f" version {version}" if version else ""))
        return int(row.version), qa.ScorecardForm.model_validate(row.form)

    # --- evaluations -------------------------------------------------------------------------

    async def evaluate(
        self,
        *,
        recording_id: str,
        scorecard: str,
        evaluator: str,
        answers: Mapping[str, qa.Answer],
        comments: str | None,
        calibration: str | None,
        version: int | None = None,
    ) -> Row[Any]:
        """Score a recorded call; a calibration score is kept apart from the agent's results."""
        async with self.db.session() as session:
            rec = (
                await session.execute(
                    select(recordings).where(
                        recordings.c.tenant == self.tenant, recordings.c.id == recording_id
                    )
                )
            ).first()
            if rec is None or rec.status == Status.DELETED.value:
                raise Missing(f"recording {recording_id!r}")
            number, form = await self.scorecard(scorecard, version, session)
            result = qa.score(form, answers)
            evaluation_id = str(uuid.uuid4())
            now = self.now()
            await session.execute(
                evaluations.insert().values(
                    id=evaluation_id,
                    tenant=self.tenant,
                    recording_id=recording_id,
                    call_id=rec.call_id,
                    agent_id=rec.agent_id,
                    queue=rec.queue,
                    scorecard=scorecard,
                    scorecard_version=number,
                    evaluator=evaluator,
                    answers=dict(answers),
                    comments=comments,
                    percent=result.percent,
                    earned=result.earned,
                    possible=result.possible,
                    critical_failed=list(result.critical_failed),
                    passed=result.passed,
                    status=qa.EvaluationStatus.SUBMITTED.value,
                    calibration=calibration,
                    created_at=now,
                    updated_at=now,
                )
            )
            row = await self._get(session, evaluation_id)
            await self._publish(session, row, revision=qa.SCORED_REVISION)
        self._notify()
        return row

    async def _get(self, session: AsyncSession, evaluation_id: str) -> Row[Any]:
        row = (
            await session.execute(
                select(evaluations).where(
                    evaluations.c.tenant == self.tenant, evaluations.c.id == evaluation_id
                )
            )
        ).first()
        if row is None:
            raise Missing(f"evaluation {evaluation_id!r}")
        return row

    async def get(self, evaluation_id: str) -> Row[Any]:
        """Return one evaluation."""
        async with self.db.session() as session:
            return await self._get(session, evaluation_id)

    async def questions(self, row: Row[Any]) -> tuple[qa.QuestionResult, ...]:
        """Return the evaluation's answers question by question, on the form it was scored on."""
        _, form = await self.scorecard(row.scorecard, row.scorecard_version)
        return qa.breakdown(form, row.answers)

    async def find(self, **filters: Any) -> Sequence[Row[Any]]:
        """Return evaluations matching equality filters, newest first."""
        async with self.db.session() as session:
            query = select(evaluations).where(evaluations.c.tenant == self.tenant)
            for name, value in filters.items():
                if value is not None:
                    query = query.where(evaluations.c[name] == value)
            query = query.order_by(evaluations.c.created_at.desc())
            return (await session.execute(query)).all()

    async def _step(
        self, evaluation_id: str, change: Callable[[Row[Any]], dict[str, Any]]
    ) -> Row[Any]:
        async with self.db.session() as session:
            row = await self._get(session, evaluation_id)
            values = change(row)
            await session.execute(
                update(evaluations)
                .where(evaluations.c.id == evaluation_id)
                .values(updated_at=self.now(), **values)
            )
            return await self._get(session, evaluation_id)

    async def acknowledge(self, evaluation_id: str, agent: str) -> Row[Any]:
        """The evaluated agent accepts the result."""

        def change(row: Row[Any]) -> dict[str, Any]:
            _own(row, agent)
            return {"status": qa.acknowledge(qa.EvaluationStatus(row.status)).value}

        return await self._step(evaluation_id, change)

    async def dispute(self, evaluation_id: str, agent: str, reason: str) -> Row[Any]:
        """The evaluated agent disputes the result."""

        def change(row: Row[Any]) -> dict[str, Any]:
            _own(row, agent)
            status = qa.dispute(qa.EvaluationStatus(row.status), reason)
            return {"status": status.value, "dispute_reason": reason}

        return await self._step(evaluation_id, change)

    async def resolve(
        self,
        evaluation_id: str,
        reviewer: str,
        resolution: str,
        answers: Mapping[str, qa.Answer] | None,
    ) -> Row[Any]:
        """A reviewer settles a dispute: upheld as scored, or amended with corrected answers."""
        async with self.db.session() as session:
            row = await self._get(session, evaluation_id)
            status = qa.resolve(qa.EvaluationStatus(row.status), reviewer, row.evaluator)
            values: dict[str, Any] = {
                "status": status.value,
                "reviewer": reviewer,
                "resolution": resolution,
            }
            if answers is not None:
                _, form = await self.scorecard(row.scorecard, row.scorecard_version, session)
                result = qa.score(form, answers)
                values.update(
                    answers=dict(answers),
                    percent=result.percent,
                    earned=result.earned,
                    possible=result.possible,
                    critical_failed=list(result.critical_failed),
                    passed=result.passed,
                )
            await session.execute(
                update(evaluations)
                .where(evaluations.c.id == evaluation_id)
                .values(updated_at=self.now(), **values)
            )
            row = await self._get(session, evaluation_id)
            await self._publish(session, row, revision=qa.RESOLVED_REVISION)
        self._notify()
        return row

    async def _publish(self, session: AsyncSession, row: Row[Any], *, revision: int) -> None:
        """Put the evaluation's score in the outbox, in the transaction that stored it.

        A resolution publishes ``RESOLVED_REVISION`` whether the score was upheld or amended,
        so the metrics service holds the final score, the one it replaces the first with.
        """
        data = ev.QaEvaluated(
            evaluation_id=row.id,
            revision=revision,
            recording_id=row.recording_id,
            scorecard=row.scorecard,
            scorecard_version=row.scorecard_version,
            evaluator=row.evaluator,
            queue=row.queue,
            percent=row.percent,
            passed=row.passed,
            critical_failed=list(row.critical_failed),
            calibration=row.calibration,
        )
        event = make_event(
            data,
            tenant=self.tenant,
            occurred_at=self.now(),
            call_id=row.call_id,
            agent_id=row.agent_id,
        )
        await self.outbox.add(session, event)

    async def calibration(self, name: str) -> tuple[qa.Calibration, Sequence[Row[Any]]]:
        """Report how far the evaluators of one calibration session were apart."""
        rows = await self.find(calibration=name)
        if not rows:
            raise Missing(f"calibration {name!r}")
        return qa.calibrate([(row.percent, row.answers) for row in rows]), rows

    async def draw_sample(
        self, rule: qa.SamplingRule, since: datetime, until: datetime
    ) -> qa.Sample:
        """Pick calls to evaluate among stored recordings of the period, per the rule."""
        async with self.db.session() as session:
            stored = (
                await session.execute(
                    select(
                        recordings.c.id,
                        recordings.c.agent_id,
                        recordings.c.queue,
                        recordings.c.started_at,
                    ).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.status == Status.STORED.value,
                        recordings.c.agent_id.is_not(None),
                        recordings.c.started_at >= since,
                        recordings.c.started_at < until,
                    )
                )
            ).all()
            done = (
                await session.execute(
                    select(evaluations.c.recording_id, evaluations.c.agent_id).where(
                        evaluations.c.tenant == self.tenant,
                        evaluations.c.calibration.is_(None),
                        evaluations.c.created_at >= since,
                    )
                )
            ).all()
        already: dict[str, int] = {}
        for row in done:
            if row.agent_id:
                already[row.agent_id] = already.get(row.agent_id, 0) + 1
        candidates = [qa.Candidate(r.id, r.agent_id, r.queue, r.started_at) for r in stored]
        return qa.sample(
            candidates, rule, already=already, excluded={row.recording_id for row in done}
        )


def _own(row: Row[Any], agent: str) -> None:
    if row.agent_id != agent:
        raise qa.QaError("only the evaluated agent can acknowledge or dispute")

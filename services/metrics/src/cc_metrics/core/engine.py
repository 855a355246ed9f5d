"""The metrics engine: each domain event becomes interval facts, a call record and live state.

Facts land in 15-minute intervals by event time, in one of two ways:

* *Event facts* follow from one event alone. A call's queue outcome (answered, abandoned,
  overflowed, callback) counts in the interval the call was *offered* (the event's time less its
  wait), so an interval's service level and abandon rate are about the same calls. Agent state
  time is split across the intervals it spans.
* *Call facts* follow from the call's whole record: handling (talk, hold, wrap-up, transfer,
  first-contact resolution) and the caller's survey answers and QA scores count in the interval
  the call ended, in the queue it was handled in and for the agent who answered. Each event that
  changes a record adds the difference it makes, so the result does not depend on the order
  events arrive in.

The engine skips an event id it has seen, so replays change nothing. It holds no I/O; the
adapters persist its :class:`Outcome` and feed Prometheus from it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from cc_metrics.core.agents import AgentStatus, Segment, segment_start
from cc_metrics.core.facts import Facts, add_facts, state_seconds, wait_facts
from cc_metrics.core.intervals import interval_start, split_span
from cc_metrics.core.live import LiveQueues
from cc_metrics.core.outbound import answer_result, dialer_facts, facts_time
from cc_metrics.core.records import (
    CallRecord,
    add_wrap_up,
    agent_parts,
    apply_event,
    new_record,
)
from cc_metrics.core.thresholds import Thresholds
from cc_proto import Envelope, EventData
from cc_proto import events as ev

NO_QUEUE = ""
"""The queue key of facts about calls that never reached a queue (IVR-only, trunk-blocked)."""

NO_TEAM = ""

MAX_ID = 200
"""Longest call or agent id kept (FreeSWITCH UUIDs are 36 characters)."""

D = TypeVar("D", bound=EventData)


_LABEL_FIELDS = ("queue", "to_queue", "team", "reason", "campaign", "code", "disposition")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def label_problem(data: EventData) -> str | None:
    """Say which name in an event no queue, team or reason could have (too long, line breaks)."""
    names: list[tuple[str, object]] = [(f, getattr(data, f, None)) for f in _LABEL_FIELDS]
    names += [("queues", q) for q in getattr(data, "queues", None) or ()]
    names += [("skills", s) for s in getattr(data, "skills", None) or {}]
    for where, value in names:
        if isinstance(value, str) and (len(value) > MAX_ID or _CONTROL.search(value)):
            return f"{where}: a name of {len(value)} characters or with control characters"
    return None


class Unprocessable(ValueError):
    """An event the metrics cannot use, whatever the retry; ``reason`` goes to the dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Measure(StrEnum):
    """What one observation feeds in Prometheus (a counter or a histogram)."""

    OFFERED = "offered"
    QUEUED = "queued"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    SHORT_ABANDONED = "short_abandoned"
    BLOCKED = "blocked"
    OVERFLOWED = "overflowed"
    CALLBACK = "callback"
    TRANSFERRED = "transferred"
    HANDLED = "handled"
    IVR_ONLY = "ivr_only"
    IVR = "ivr"
    MISSED = "missed"
    CSAT = "csat"
    NPS = "nps"
    DIAL_ATTEMPT = "dial_attempt"
    DIAL_ANSWER = "dial_answer"
    DIAL_ANSWER_WAIT = "dial_answer_wait"
    DIAL_MACHINE_AFTER_CONNECT = "dial_machine_after_connect"
    DISPOSITION = "disposition"
    WAIT = "wait"
    RING = "ring"
    TALK = "talk"
    HOLD = "hold"
    WRAP_UP = "wrap_up"
    QA = "qa"


@dataclass(frozen=True, slots=True)
class Observation:
    """One measurement for Prometheus; labels never name a call, a caller or a person."""

    measure: Measure
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class QueueKey:
    """Where queue facts go: a queue's 15-minute interval."""

    queue: str
    interval: datetime


@dataclass(frozen=True, slots=True)
class AgentKey:
    """Where agent facts go: an agent's 15-minute interval."""

    agent_id: str
    interval: datetime


@dataclass(frozen=True, slots=True)
class CampaignKey:
    """Where outbound facts go: a dialer campaign's 15-minute interval."""

    campaign: str
    interval: datetime


@dataclass(slots=True)
class Outcome:
    """What one event changed: facts to add, call records, the agent, live measurements."""

    event: Envelope[EventData]
    duplicate: bool = False
    queue_facts: dict[QueueKey, Facts] = field(default_factory=dict)
    agent_facts: dict[AgentKey, Facts] = field(default_factory=dict)
    campaign_facts: dict[CampaignKey, Facts] = field(default_factory=dict)
    agent_teams: dict[str, str] = field(default_factory=dict)
    records: list[CallRecord] = field(default_factory=list)
    agent: AgentStatus | None = None
    segments: list[Segment] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    @property
    def record(self) -> CallRecord | None:
        """Return the call record the event was about, if any."""
        return self.records[0] if self.records else None

    def add_queue(self, queue: str, at: datetime, facts: Facts) -> None:
        """Add facts to ``queue``'s interval holding ``at``."""
        add_facts(self.queue_facts.setdefault(QueueKey(queue, interval_start(at)), {}), facts)

    def add_agent(self, agent_id: str, team: str | None, at: datetime, facts: Facts) -> None:
        """Add facts to the agent's interval holding ``at``, noting their team when known."""
        add_facts(self.agent_facts.setdefault(AgentKey(agent_id, interval_start(at)), {}), facts)
        if team:
            self.agent_teams[agent_id] = team

    def add_campaign(self, campaign: str, at: datetime, facts: Facts) -> None:
        """Add facts to the campaign's interval holding ``at``."""
        key = CampaignKey(campaign, interval_start(at))
        add_facts(self.campaign_facts.setdefault(key, {}), facts)

    def observe(self, measure: Measure, value: float = 1.0, **labels: str) -> None:
        """Note one measurement for the live metrics."""
        self.observations.append(Observation(measure, value, tuple(sorted(labels.items()))))


def call_facts(record: CallRecord | None) -> tuple[QueueKey | None, list[AgentFacts], Facts]:
    """Return the facts a call contributes once it has ended, and where they count: the call
    in its handling queue, and each agent who had a part of it (a transfer makes several)."""
    if record is None or record.ended_at is None:
        return None, [], {}
    facts: Facts = {}
    if record.handled:
        facts.update(
            handled=1.0,
            talk_seconds=record.talk_seconds or 0.0,
            hold_seconds=record.hold_seconds or 0.0,
            acw_seconds=record.wrap_up_seconds,
            transferred=1.0 if record.transfers else 0.0,
            fcr_resolved=1.0 if record.fcr_verdict is True else 0.0,
            fcr_verdicts=0.0 if record.fcr_verdict is None else 1.0,
        )
    if record.survey_csat is not None:
        facts.update(csat_answers=1.0, csat_satisfied=float(record.survey_csat <= 2))
    if record.survey_nps is not None:
        nps = record.survey_nps
        facts.update(nps_answers=1.0, nps_promoters=float(nps >= 9), nps_detractors=float(nps <= 6))
    if record.qa_evaluations:
        facts.update(qa_evaluations=float(record.qa_evaluations), qa_score_sum=record.qa_score_sum)
    interval = interval_start(record.ended_at)
    return QueueKey(record.handling_queue, interval), _agent_facts(record, facts), facts


AgentFacts = tuple[AgentKey, Facts]


def _agent_facts(record: CallRecord, call: Facts) -> list[AgentFacts]:
    """Each agent's facts of an ended call: their own talk, hold and wrap-up, a handled call
    each; the call's other facts (survey, QA, FCR, transfer) are the answering agent's."""
    assert record.ended_at is not None
    interval = interval_start(record.ended_at)
    out: list[AgentFacts] = []
    for agent_id, (talk, hold, wrap_up) in agent_parts(record).items():
        facts = dict(call) if agent_id == record.agent_id else {}
        if record.handled:
            facts.update(handled=1.0, talk_seconds=talk, hold_seconds=hold, acw_seconds=wrap_up)
        if facts:
            out.append((AgentKey(agent_id, interval), facts))
    return out


class MetricsEngine:
    """Turns one tenant's events into facts, call records and live state; pure and in-memory."""

    def __init__(
        self,
        *,
        tenant: str,
        thresholds: Thresholds,
        queues: Iterable[str] = (),
        teams: Iterable[str] = (),
        record_horizon: timedelta = timedelta(hours=6),
        seen_limit: int = 200_000,
    ) -> None:
        self.tenant = tenant
        self.thresholds = thresholds
        self.records: dict[str, CallRecord] = {}
        self.agents: dict[str, AgentStatus] = {}
        self.live = LiveQueues()
        self.teams: set[str] = set(teams)
        self.closed_segments: dict[tuple[str, datetime], Segment] = {}
        self.state_totals: dict[tuple[str, ev.AgentState], float] = {}
        self.last_event_at: datetime | None = None
        self._record_horizon = record_horizon
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self._seen_limit = seen_limit
        self._before: dict[str, CallRecord | None] = {}
        for queue in queues:
            self.live.queue(queue)

    # --- state the adapters persisted ----------------------------------------------------------

    def load_records(self, records: Iterable[CallRecord]) -> None:
        """Hold records read back from storage (only those not already held)."""
        for record in records:
            self.records.setdefault(record.call_id, record)

    def load_agents(self, statuses: Iterable[AgentStatus]) -> None:
        """Hold agent statuses read back from storage."""
        for status in statuses:
            self.agents[status.agent_id] = status
            if status.team:
                self.teams.add(status.team)

    def load_segments(self, segments: Iterable[Segment]) -> None:
        """Remember closed segments so they are not counted again."""
        for segment in segments:
            self.closed_segments[segment.key] = segment

    def restore_waiting(self, records: Iterable[CallRecord]) -> None:
        """Put calls that were waiting when the service stopped back in their queues."""
        for record in records:
            self.records.setdefault(record.call_id, record)
            queue = record.final_queue or record.queue
            since = record.final_queue_at or record.offered_at
            if queue and since and record.ended_at is None and record.left_queue_at is None:
                self.live.enter(queue, record.call_id, since)

    def forget(self) -> None:
        """Drop everything held in memory (after a failed write); storage has the truth."""
        self.records.clear()
        self.agents.clear()
        self.closed_segments.clear()
        self._seen.clear()
        for live in self.live.queues.values():
            live.waiting.clear()

    def calls_needed(self, event: Envelope[EventData]) -> set[str]:
        """Return the call ids whose records this event reads (for the adapter to load)."""
        needed = {event.call_id} if event.call_id else set()
        if isinstance(event.data, ev.AgentStateChanged) and event.agent_id:
            status = self.agents.get(event.agent_id)
            if status is not None and status.last_call_id:
                needed.add(status.last_call_id)
        return {call_id for call_id in needed if call_id not in self.records}

    # --- applying events -------------------------------------------------------------------------

    def seen(self, event_id: UUID) -> bool:
        """Return True if this event id was applied already (a replay)."""
        return event_id in self._seen

    def validate(self, event: Envelope[EventData]) -> None:
        """Raise :class:`Unprocessable` for an event no retry can make usable."""
        if event.tenant != self.tenant:
            raise Unprocessable(
                f"event for tenant {event.tenant!r}; this service counts {self.tenant!r}"
            )
        for name, value in (("call_id", event.call_id), ("agent_id", event.agent_id)):
            if value is not None and not 0 < len(value) <= MAX_ID:
                raise Unprocessable(f"{name} must be 1 to {MAX_ID} characters")
        problem = label_problem(event.data)
        if problem is not None:
            raise Unprocessable(problem)
        kind = type(event.data)
        if kind in _NEEDS_CALL and not event.call_id:
            raise Unprocessable(f"{event.type} names no call_id")
        if kind in _NEEDS_AGENT and not event.agent_id:
            raise Unprocessable(f"{event.type} names no agent_id")

    def apply(self, event: Envelope[EventData]) -> Outcome:
        """Apply one event; a replayed id yields a duplicate outcome that changes nothing."""
        self.validate(event)
        if event.id in self._seen:
            return Outcome(event, duplicate=True)
        outcome = Outcome(event)
        handler = _DISPATCH.get(type(event.data))
        self._before = {}
        if handler is not None:
            handler(self, event, outcome)
        for call_id, before in self._before.items():
            self._add_call_difference(before, self.records[call_id], outcome)
        self._remember(event)
        return outcome

    def _remember(self, event: Envelope[EventData]) -> None:
        self._seen[event.id] = None
        if len(self._seen) > self._seen_limit:
            self._seen.popitem(last=False)
        if self.last_event_at is None or event.occurred_at > self.last_event_at:
            self.last_event_at = event.occurred_at

    def prune(self, now: datetime) -> list[str]:
        """Drop calls and segment keys past the horizon; return the call ids dropped."""
        limit = now - self._record_horizon
        gone = [cid for cid, rec in self.records.items() if rec.last_event_at < limit]
        for cid in gone:
            del self.records[cid]
        horizon = now - timedelta(days=2)
        old = [key for key, seg in self.closed_segments.items() if seg.end < horizon]
        for key in old:
            del self.closed_segments[key]
        return gone

    # --- helpers for handlers --------------------------------------------------------------------

    def open_record(self, call_id: str, event: Envelope[EventData], out: Outcome) -> CallRecord:
        """Return the call's record for changing, noting how it was before this event."""
        record = self.records.get(call_id)
        if call_id not in self._before:
            self._before[call_id] = record.copy() if record else None
            if record is None:
                record = self.records[call_id] = new_record(event, call_id)
            out.records.append(record)
        return self.records[call_id]

    def before(self, call_id: str) -> CallRecord | None:
        """Return the call's record as it was before the event being applied."""
        return self._before.get(call_id)

    def record_event(self, event: Envelope[EventData], out: Outcome) -> CallRecord:
        """Merge a call event into its call's record."""
        if event.call_id is None:
            raise Unprocessable(f"{event.type} names no call_id")
        record = self.open_record(event.call_id, event, out)
        apply_event(record, event)
        return record

    def agent(self, agent_id: str) -> AgentStatus:
        """Return the agent's status, creating it on first mention."""
        status = self.agents.get(agent_id)
        if status is None:
            status = self.agents[agent_id] = AgentStatus(agent_id)
        return status

    def team_of(self, agent_id: str | None) -> str | None:
        """Return the agent's current team, if known."""
        status = self.agents.get(agent_id) if agent_id else None
        return status.team if status else None

    def _add_call_difference(
        self, before: CallRecord | None, after: CallRecord, out: Outcome
    ) -> None:
        old_queue, old_agents, old = call_facts(before)
        new_queue, new_agents, new = call_facts(after)
        for key, facts, sign in ((old_queue, old, -1.0), (new_queue, new, 1.0)):
            if key is not None and facts:
                signed = {name: sign * value for name, value in facts.items()}
                add_facts(out.queue_facts.setdefault(key, {}), signed)
        for agents, sign in ((old_agents, -1.0), (new_agents, 1.0)):
            for akey, facts in agents:
                signed = {name: sign * value for name, value in facts.items()}
                add_facts(out.agent_facts.setdefault(akey, {}), signed)
                team = self.team_of(akey.agent_id)
                if team:
                    out.agent_teams[akey.agent_id] = team
        _drop_zeros(out.queue_facts)
        _drop_zeros(out.agent_facts)

    def close_segment(self, segment: Segment, out: Outcome) -> bool:
        """Count a stretch of agent time once; return False if it was counted before.

        A provisional segment (closed by a logout) gives way to a real one with the same start.
        """
        if segment.end <= segment.start:
            return False
        known = self.closed_segments.get(segment.key)
        if known is not None:
            if segment.provisional or not known.provisional:
                return False
            self._count_segment(known, -1.0, out)
        self.closed_segments[segment.key] = segment
        out.segments.append(segment)
        self._count_segment(segment, 1.0, out)
        return True

    def _count_segment(self, segment: Segment, sign: float, out: Outcome) -> None:
        if segment.state is ev.AgentState.LOGGED_OUT:
            return
        for begin, seconds in split_span(segment.start, segment.end):
            facts = {state_seconds(segment.state): sign * seconds}
            out.add_agent(segment.agent_id, segment.team, begin, facts)
        totals_key = (segment.team or NO_TEAM, segment.state)
        total = self.state_totals.get(totals_key, 0.0) + sign * segment.seconds
        self.state_totals[totals_key] = total
        _drop_zeros(out.agent_facts)


def _drop_zeros(facts_by_key: dict[QueueKey, Facts] | dict[AgentKey, Facts]) -> None:
    for key in list(facts_by_key):
        facts = facts_by_key[key]  # type: ignore[index]
        for name in [n for n, v in facts.items() if v == 0.0]:
            del facts[name]
        if not facts:
            del facts_by_key[key]  # type: ignore[arg-type]


def _offered_at(event: Envelope[EventData], wait_seconds: float) -> datetime:
    return event.occurred_at - timedelta(seconds=wait_seconds)


# --- one handler per event type ------------------------------------------------------------------


def _on_offered(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallOffered)
    record = engine.record_event(e, out)
    out.add_queue(d.queue, e.occurred_at, {"offered": 1.0})
    out.observe(Measure.OFFERED, queue=d.queue)
    left = record.left_queue_at is not None and record.left_queue_at >= e.occurred_at
    if record.ended_at is not None or left:
        engine.live.queue(d.queue)
    else:
        engine.live.enter(d.queue, record.call_id, e.occurred_at)


def _on_queued(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallQueued)
    engine.record_event(e, out)
    out.add_queue(d.queue, e.occurred_at, {"queued": 1.0})
    out.observe(Measure.QUEUED, queue=d.queue)
    if d.estimated_wait_seconds is not None:
        engine.live.queue(d.queue).estimated_wait_seconds = d.estimated_wait_seconds


def _on_blocked(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallBlocked)
    engine.record_event(e, out)
    out.add_queue(d.queue or NO_QUEUE, e.occurred_at, {"blocked": 1.0})
    out.observe(Measure.BLOCKED, queue=d.queue or NO_QUEUE, reason=d.reason)


def _on_ivr_completed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallIvrCompleted)
    engine.record_event(e, out)
    out.observe(Measure.IVR, d.duration_seconds, outcome=d.outcome)
    if d.outcome != "queued":
        out.add_queue(NO_QUEUE, e.occurred_at, {"ivr_only": 1.0})
        out.observe(Measure.IVR_ONLY)


def _on_call_detail(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    engine.record_event(e, out)


def _on_agent_missed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    engine.record_event(e, out)
    if e.agent_id:
        team = engine.team_of(e.agent_id)
        out.add_agent(e.agent_id, team, e.occurred_at, {"missed": 1.0})
        out.observe(Measure.MISSED, team=team or NO_TEAM)


def _on_answered(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallAnswered)
    record = engine.record_event(e, out)
    if d.queue_answer:
        # Only the queue's own answer counts in it: a click-to-call or a transfer to an agent
        # is an answer of the agent's (the queue never offered the one, answered the other).
        facts = wait_facts("answered", d.wait_seconds)
        facts["ring_seconds"] = d.ring_seconds
        out.add_queue(d.queue, _offered_at(e, d.wait_seconds), facts)
        engine.live.leave(record.call_id, d.queue)
        out.observe(Measure.ANSWERED, queue=d.queue)
        out.observe(Measure.WAIT, d.wait_seconds, queue=d.queue, outcome="answered")
        out.observe(Measure.RING, d.ring_seconds, queue=d.queue)
    if not e.agent_id:
        return
    team = engine.team_of(e.agent_id)
    agent_facts = {"answered": 1.0, "ring_seconds": d.ring_seconds}
    out.add_agent(e.agent_id, team, e.occurred_at, agent_facts)
    status = engine.agent(e.agent_id)
    if status.last_call_at is None or e.occurred_at >= status.last_call_at:
        status.last_call_id, status.last_call_at = record.call_id, e.occurred_at
        out.agent = status


def _on_abandoned(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallAbandoned)
    record = engine.record_event(e, out)
    out.add_queue(d.queue, _offered_at(e, d.wait_seconds), wait_facts("abandoned", d.wait_seconds))
    engine.live.leave(record.call_id, d.queue)
    out.observe(Measure.ABANDONED, queue=d.queue)
    if d.wait_seconds <= engine.thresholds.short_abandon_seconds:
        out.observe(Measure.SHORT_ABANDONED, queue=d.queue)
    out.observe(Measure.WAIT, d.wait_seconds, queue=d.queue, outcome="abandoned")


def _on_overflowed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallOverflowed)
    _left_queue(engine, e, out, d.queue, d.wait_seconds, "overflowed")
    out.observe(Measure.OVERFLOWED, queue=d.queue)


def _on_callback(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallCallbackRequested)
    _left_queue(engine, e, out, d.queue, d.wait_seconds, "callbacks")
    out.observe(Measure.CALLBACK, queue=d.queue)


def _left_queue(
    engine: MetricsEngine, e: Envelope[EventData], out: Outcome, queue: str, wait: float, fact: str
) -> None:
    record = engine.record_event(e, out)
    facts = {fact: 1.0, "queue_exits": 1.0, "queue_exit_wait_seconds": wait}
    out.add_queue(queue, _offered_at(e, wait), facts)
    engine.live.leave(record.call_id, queue)


def _on_transferred(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallTransferred)
    record = engine.record_event(e, out)
    out.observe(Measure.TRANSFERRED, queue=d.queue or record.handling_queue)


def _on_ended(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallEnded)
    record = engine.record_event(e, out)
    engine.live.leave(record.call_id)
    if record.handled:
        queue = record.handling_queue
        out.observe(Measure.HANDLED, queue=queue)
        out.observe(Measure.TALK, d.talk_seconds, queue=queue)
        out.observe(Measure.HOLD, d.hold_seconds, queue=queue)


def _on_survey(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.SurveyCompleted)
    record = engine.record_event(e, out)
    queue = d.queue or record.handling_queue
    if d.csat is not None:
        out.observe(Measure.CSAT, queue=queue, answer=str(d.csat))
    if d.nps is not None:
        category = "promoter" if d.nps >= 9 else "detractor" if d.nps <= 6 else "passive"
        out.observe(Measure.NPS, queue=queue, category=category)


def _on_evaluated(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.QaEvaluated)
    if d.calibration is not None:
        return  # a calibration score measures the evaluators, not the agent's call
    record = engine.record_event(e, out)
    before = engine.before(record.call_id)
    if before is not None and d.evaluation_id in before.qa_scores:
        return  # a revision replaces the score in the facts; the histogram takes one per evaluation
    team = engine.team_of(e.agent_id or record.agent_id)
    out.observe(Measure.QA, d.percent / 100, team=team or NO_TEAM)


def _on_logged_in(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.AgentLoggedIn)
    status = engine.agent(_agent_id(e))
    if status.login_at is None or e.occurred_at >= status.login_at:
        status.login_at, status.queues = e.occurred_at, tuple(d.queues)
        status.team = d.team or status.team
    for queue in d.queues:
        engine.live.queue(queue)
    _note_team(engine, status.team)
    out.agent = status


def _on_logged_out(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.AgentLoggedOut)
    status = engine.agent(_agent_id(e))
    if status.logout_at is None or e.occurred_at >= status.logout_at:
        status.logout_at = e.occurred_at
    since = status.since
    if status.state is not ev.AgentState.LOGGED_OUT and since and status.is_newer(e.occurred_at):
        team = d.team or status.team
        segment = Segment(
            status.agent_id, team, status.state, since, e.occurred_at, status.reason, True
        )
        engine.close_segment(segment, out)
        status.move_to(ev.AgentState.LOGGED_OUT, e.occurred_at, d.reason)
    out.agent = status


def _on_state_changed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.AgentStateChanged)
    status = engine.agent(_agent_id(e))
    team = d.team or status.team
    start = segment_start(status, d.from_state, d.from_state_since, e.occurred_at)
    if start is not None:
        reason = status.reason if status.since == start else None
        segment = Segment(status.agent_id, team, d.from_state, start, e.occurred_at, reason)
        if engine.close_segment(segment, out) and d.from_state is ev.AgentState.WRAP_UP:
            _wrap_up(engine, e, status, segment, out)
    if status.is_newer(e.occurred_at):
        status.move_to(d.to_state, e.occurred_at, d.reason)
        status.team = team
    _note_team(engine, team)
    out.agent = status


def _wrap_up(
    engine: MetricsEngine, e: Envelope[EventData], status: AgentStatus, seg: Segment, out: Outcome
) -> None:
    """Add a finished wrap-up to the call it followed (named, else the agent's last answer)."""
    call_id = e.call_id or status.last_call_id
    queue = NO_QUEUE
    if call_id is not None:
        record = engine.open_record(call_id, e, out)
        add_wrap_up(record, seg.seconds, e.occurred_at, status.agent_id)
        queue = record.handling_queue
    out.observe(Measure.WRAP_UP, seg.seconds, queue=queue)


def _on_dialer(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    """Count a dialer event for its campaign: facts by event time, and the live counters."""
    data = e.data
    campaign = str(getattr(data, "campaign", ""))
    out.add_campaign(campaign, facts_time(data, e.occurred_at), dialer_facts(data))
    result = answer_result(data)
    if isinstance(data, ev.DialerAttempted):
        out.observe(Measure.DIAL_ATTEMPT, campaign=campaign)
    elif isinstance(data, ev.DialerDispositioned):
        right_party = "true" if data.right_party else "false"
        out.observe(Measure.DISPOSITION, campaign=campaign, right_party=right_party)
    elif result is not None:
        out.observe(Measure.DIAL_ANSWER, campaign=campaign, result=result)
        if isinstance(data, ev.DialerMachineDetected) and data.after_bridge:
            out.observe(Measure.DIAL_MACHINE_AFTER_CONNECT, campaign=campaign)
        wait = getattr(data, "wait_seconds", 0.0)
        if result != "machine":
            out.observe(Measure.DIAL_ANSWER_WAIT, wait, campaign=campaign, result=result)


def _note_team(engine: MetricsEngine, team: str | None) -> None:
    if team:
        engine.teams.add(team)


def _agent_id(event: Envelope[EventData]) -> str:
    if not event.agent_id:
        raise Unprocessable(f"{event.type} names no agent_id")
    return event.agent_id


def _data(event: Envelope[EventData], cls: type[D]) -> D:
    data = event.data
    if not isinstance(data, cls):  # the dispatch table maps each model to its handler
        raise TypeError(f"{event.type} carries {type(data).__name__}, not {cls.__name__}")
    return data


Handler = Callable[[MetricsEngine, Envelope[EventData], Outcome], None]

_DISPATCH: dict[type[EventData], Handler] = {
    ev.CallOffered: _on_offered,
    ev.CallPlaced: _on_call_detail,
    ev.CallQueued: _on_queued,
    ev.CallBlocked: _on_blocked,
    ev.CallIvrCompleted: _on_ivr_completed,
    ev.CallAgentOffered: _on_call_detail,
    ev.CallAgentMissed: _on_agent_missed,
    ev.CallAnswered: _on_answered,
    ev.CallAbandoned: _on_abandoned,
    ev.CallOverflowed: _on_overflowed,
    ev.CallCallbackRequested: _on_callback,
    ev.CallHeld: _on_call_detail,
    ev.CallResumed: _on_call_detail,
    ev.CallTransferred: _on_transferred,
    ev.CallDispositioned: _on_call_detail,
    ev.CallEnded: _on_ended,
    ev.SurveyCompleted: _on_survey,
    ev.RecordingStarted: _on_call_detail,
    ev.QaEvaluated: _on_evaluated,
    ev.AgentLoggedIn: _on_logged_in,
    ev.AgentLoggedOut: _on_logged_out,
    ev.AgentStateChanged: _on_state_changed,
    ev.DialerAttempted: _on_dialer,
    ev.DialerConnected: _on_dialer,
    ev.DialerDropped: _on_dialer,
    ev.DialerMachineDetected: _on_dialer,
    ev.DialerDispositioned: _on_dialer,
}

_NEEDS_AGENT: frozenset[type[EventData]] = frozenset(
    {ev.AgentLoggedIn, ev.AgentLoggedOut, ev.AgentStateChanged}
)
_NEEDS_CALL: frozenset[type[EventData]] = frozenset(
    kind for kind in _DISPATCH if kind.event_type.startswith("call.")
) | {ev.SurveyCompleted, ev.RecordingStarted, ev.QaEvaluated}

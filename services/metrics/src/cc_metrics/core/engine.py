"""The metrics engine: each domain event becomes interval facts, a call record and live state.

Every fact lands in the 15-minute interval of an event time: a call's queue outcome (answered,
abandoned, overflowed, callback) in the interval it was *offered* (the event's time less its
wait), so an interval's service level and abandon rate are about the same calls; handling (talk,
hold, wrap-up) when it ends; agent state time split across the intervals it spans. The engine
skips an event id it has seen, so replays change nothing. It holds no I/O; the adapters persist
its :class:`Outcome` and feed Prometheus from it.
"""

from __future__ import annotations

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
from cc_metrics.core.records import CallRecord, add_wrap_up, apply_event, new_record
from cc_metrics.core.thresholds import Thresholds
from cc_proto import Envelope, EventData
from cc_proto import events as ev

NO_QUEUE = ""
"""The queue key of facts about calls that never reached a queue (IVR-only, trunk-blocked)."""

NO_TEAM = ""

D = TypeVar("D", bound=EventData)


class Unprocessable(ValueError):
    """An event the metrics cannot use, whatever the retry; ``reason`` goes to the dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Measure(StrEnum):
    """Single observations for Prometheus histograms and labelled counters."""

    WAIT_ANSWERED = "wait_answered"
    WAIT_ABANDONED = "wait_abandoned"
    RING = "ring"
    TALK = "talk"
    HOLD = "hold"
    WRAP_UP = "wrap_up"
    BLOCKED = "blocked"
    CSAT = "csat"
    NPS = "nps"
    QA = "qa"
    DIALER = "dialer"


@dataclass(frozen=True, slots=True)
class Observation:
    """One measurement of one call for Prometheus; labels never name a call or a person."""

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
    """Where agent facts go: an agent's 15-minute interval, with the team they were in."""

    agent_id: str
    team: str
    interval: datetime


@dataclass(slots=True)
class Outcome:
    """What one event changed: facts to add, the call record, the agent, live measurements."""

    event: Envelope[EventData]
    duplicate: bool = False
    queue_facts: dict[QueueKey, Facts] = field(default_factory=dict)
    agent_facts: dict[AgentKey, Facts] = field(default_factory=dict)
    record: CallRecord | None = None
    agent: AgentStatus | None = None
    segments: list[Segment] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    def add_queue(self, queue: str, at: datetime, facts: Facts) -> None:
        """Add facts to ``queue``'s interval holding ``at``."""
        add_facts(self.queue_facts.setdefault(QueueKey(queue, interval_start(at)), {}), facts)

    def add_agent(self, agent_id: str, team: str | None, at: datetime, facts: Facts) -> None:
        """Add facts to the agent's interval holding ``at``."""
        key = AgentKey(agent_id, team or NO_TEAM, interval_start(at))
        add_facts(self.agent_facts.setdefault(key, {}), facts)

    def observe(self, measure: Measure, value: float, **labels: str) -> None:
        """Note one measurement for the live metrics."""
        self.observations.append(Observation(measure, value, tuple(sorted(labels.items()))))


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
        self.closed_segments: dict[tuple[str, datetime], datetime] = {}
        self.state_totals: dict[tuple[str, ev.AgentState], float] = {}
        self.last_event_at: datetime | None = None
        self._record_horizon = record_horizon
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self._seen_limit = seen_limit
        for queue in queues:
            self.live.queue(queue)

    # --- loading state the adapters persisted -----------------------------------------------

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

    def load_segments(self, keys: Iterable[tuple[str, datetime, datetime]]) -> None:
        """Remember closed segments (agent, start, end) so they are not counted again."""
        for agent_id, start, end in keys:
            self.closed_segments[(agent_id, start)] = end

    def calls_needed(self, event: Envelope[EventData]) -> set[str]:
        """Return the call ids whose records this event reads (for the adapter to load)."""
        needed = {event.call_id} if event.call_id else set()
        if isinstance(event.data, ev.AgentStateChanged) and event.agent_id:
            status = self.agents.get(event.agent_id)
            if status is not None and status.last_call_id:
                needed.add(status.last_call_id)
        return needed - set(self.records)

    # --- applying events ---------------------------------------------------------------------

    def seen(self, event_id: UUID) -> bool:
        """Return True if this event id was applied already (a replay)."""
        return event_id in self._seen

    def apply(self, event: Envelope[EventData]) -> Outcome:
        """Apply one event; a replayed id yields a duplicate outcome that changes nothing."""
        if event.tenant != self.tenant:
            raise Unprocessable(
                f"event for tenant {event.tenant!r}; this service counts {self.tenant!r}"
            )
        if event.id in self._seen:
            return Outcome(event, duplicate=True)
        outcome = Outcome(event)
        handler = _DISPATCH.get(type(event.data))
        if handler is not None:
            handler(self, event, outcome)
        self._remember(event)
        return outcome

    def _remember(self, event: Envelope[EventData]) -> None:
        self._seen[event.id] = None
        if len(self._seen) > self._seen_limit:
            self._seen.popitem(last=False)
        if self.last_event_at is None or event.occurred_at > self.last_event_at:
            self.last_event_at = event.occurred_at

    def prune(self, now: datetime) -> list[str]:
        """Drop ended calls and old segment keys past the horizon; return the call ids dropped."""
        limit = now - self._record_horizon
        gone = [cid for cid, rec in self.records.items() if rec.last_event_at < limit]
        for cid in gone:
            del self.records[cid]
        old = [key for key, end in self.closed_segments.items() if end < now - timedelta(days=2)]
        for key in old:
            del self.closed_segments[key]
        return gone

    # --- helpers for handlers ----------------------------------------------------------------

    def _record(self, event: Envelope[EventData], outcome: Outcome) -> CallRecord:
        if event.call_id is None:
            raise Unprocessable(f"{event.type} names no call_id")
        record = self.records.get(event.call_id)
        if record is None:
            record = self.records[event.call_id] = new_record(event)
        apply_event(record, event)
        outcome.record = record
        return record

    def _agent(self, agent_id: str) -> AgentStatus:
        status = self.agents.get(agent_id)
        if status is None:
            status = self.agents[agent_id] = AgentStatus(agent_id)
        return status

    def team_of(self, agent_id: str | None) -> str | None:
        """Return the agent's current team, if known."""
        status = self.agents.get(agent_id) if agent_id else None
        return status.team if status else None

    def _handling_facts(self, record: CallRecord, at: datetime, facts: Facts, out: Outcome) -> None:
        out.add_queue(record.handling_queue, at, facts)
        if record.agent_id:
            out.add_agent(record.agent_id, record.agent_team, at, facts)

    def _fcr(self, before: CallRecord | None, after: CallRecord, out: Outcome) -> None:
        """Count the change in the call's first-contact verdict where the call was handled."""
        delta = _fcr_count(after) - (_fcr_count(before) if before else 0)
        if delta and after.ended_at is not None:
            self._handling_facts(after, after.ended_at, {"fcr_resolved": float(delta)}, out)

    def _close_segment(self, segment: Segment, out: Outcome) -> None:
        if segment.key in self.closed_segments or segment.end <= segment.start:
            return
        self.closed_segments[segment.key] = segment.end
        out.segments.append(segment)
        if segment.state is ev.AgentState.LOGGED_OUT:
            return
        for begin, seconds in split_span(segment.start, segment.end):
            out.add_agent(
                segment.agent_id, segment.team, begin, {state_seconds(segment.state): seconds}
            )
        totals_key = (segment.team or NO_TEAM, segment.state)
        self.state_totals[totals_key] = self.state_totals.get(totals_key, 0.0) + segment.seconds


def _fcr_count(record: CallRecord) -> int:
    return 1 if record.handled and record.fcr_verdict is True else 0


def _offered_at(event: Envelope[EventData], wait_seconds: float) -> datetime:
    return event.occurred_at - timedelta(seconds=wait_seconds)


# --- one handler per event type ------------------------------------------------------------


def _on_offered(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallOffered)
    record = engine._record(e, out)
    out.add_queue(d.queue, e.occurred_at, {"offered": 1.0})
    gone = record.ended_at is not None or (
        record.left_queue_at is not None and record.left_queue_at >= e.occurred_at
    )
    if gone:
        engine.live.queue(d.queue)
    else:
        engine.live.enter(d.queue, record.call_id, e.occurred_at)


def _on_queued(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallQueued)
    engine._record(e, out)
    out.add_queue(d.queue, e.occurred_at, {"queued": 1.0})
    if d.estimated_wait_seconds is not None:
        engine.live.queue(d.queue).estimated_wait_seconds = d.estimated_wait_seconds


def _on_blocked(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallBlocked)
    engine._record(e, out)
    out.add_queue(d.queue or NO_QUEUE, e.occurred_at, {"blocked": 1.0})
    out.observe(Measure.BLOCKED, 1.0, queue=d.queue or NO_QUEUE, reason=d.reason)


def _on_ivr_completed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallIvrCompleted)
    engine._record(e, out)
    if d.outcome != "queued":
        out.add_queue(NO_QUEUE, e.occurred_at, {"ivr_only": 1.0})


def _on_agent_offered(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    engine._record(e, out)


def _on_agent_missed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    engine._record(e, out)
    if e.agent_id:
        out.add_agent(e.agent_id, engine.team_of(e.agent_id), e.occurred_at, {"missed": 1.0})


def _on_answered(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallAnswered)
    record = engine._record(e, out)
    facts = wait_facts("answered", d.wait_seconds)
    facts["ring_seconds"] = d.ring_seconds
    out.add_queue(d.queue, _offered_at(e, d.wait_seconds), facts)
    engine.live.leave(record.call_id, d.queue)
    out.observe(Measure.WAIT_ANSWERED, d.wait_seconds, queue=d.queue)
    out.observe(Measure.RING, d.ring_seconds, queue=d.queue)
    if e.agent_id:
        team = engine.team_of(e.agent_id)
        if record.agent_id == e.agent_id:
            record.agent_team = team
        out.add_agent(
            e.agent_id, team, e.occurred_at, {"answered": 1.0, "ring_seconds": d.ring_seconds}
        )
        status = engine._agent(e.agent_id)
        if status.last_call_at is None or e.occurred_at >= status.last_call_at:
            status.last_call_id, status.last_call_at = record.call_id, e.occurred_at
            out.agent = status


def _on_abandoned(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallAbandoned)
    record = engine._record(e, out)
    out.add_queue(d.queue, _offered_at(e, d.wait_seconds), wait_facts("abandoned", d.wait_seconds))
    engine.live.leave(record.call_id, d.queue)
    out.observe(Measure.WAIT_ABANDONED, d.wait_seconds, queue=d.queue)


def _on_overflowed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallOverflowed)
    record = engine._record(e, out)
    facts = {"overflowed": 1.0, "queue_exits": 1.0, "queue_exit_wait_seconds": d.wait_seconds}
    out.add_queue(d.queue, _offered_at(e, d.wait_seconds), facts)
    engine.live.leave(record.call_id, d.queue)


def _on_callback(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallCallbackRequested)
    record = engine._record(e, out)
    facts = {"callbacks": 1.0, "queue_exits": 1.0, "queue_exit_wait_seconds": d.wait_seconds}
    out.add_queue(d.queue, _offered_at(e, d.wait_seconds), facts)
    engine.live.leave(record.call_id, d.queue)


def _on_call_detail(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    engine._record(e, out)


def _on_transferred(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallTransferred)
    record = engine._record(e, out)
    out.add_queue(d.queue or record.handling_queue, e.occurred_at, {"transferred": 1.0})
    agent_id = e.agent_id or record.agent_id
    if agent_id:
        out.add_agent(agent_id, engine.team_of(agent_id), e.occurred_at, {"transferred": 1.0})


def _on_dispositioned(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    before = engine.records[e.call_id].copy() if e.call_id in engine.records else None
    record = engine._record(e, out)
    engine._fcr(before, record, out)


def _on_ended(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.CallEnded)
    before = engine.records[e.call_id].copy() if e.call_id in engine.records else None
    record = engine._record(e, out)
    engine.live.leave(record.call_id)
    if record.agent_team is None and record.agent_id:
        record.agent_team = engine.team_of(record.agent_id)
    if d.outcome is ev.CallOutcome.ANSWERED:
        facts = {"handled": 1.0, "talk_seconds": d.talk_seconds, "hold_seconds": d.hold_seconds}
        engine._handling_facts(record, e.occurred_at, facts, out)
        out.observe(Measure.TALK, d.talk_seconds, queue=record.handling_queue)
        out.observe(Measure.HOLD, d.hold_seconds, queue=record.handling_queue)
    engine._fcr(before, record, out)


def _on_survey(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.SurveyCompleted)
    before = engine.records[e.call_id].copy() if e.call_id in engine.records else None
    record = engine._record(e, out)
    queue = d.queue or record.handling_queue
    facts: Facts = {}
    if d.csat is not None:
        facts.update(csat_answers=1.0, csat_satisfied=1.0 if d.csat <= 2 else 0.0)
        out.observe(Measure.CSAT, 1.0, queue=queue, answer=str(d.csat))
    if d.nps is not None:
        promoter, detractor = d.nps >= 9, d.nps <= 6
        facts.update(
            nps_answers=1.0, nps_promoters=float(promoter), nps_detractors=float(detractor)
        )
        category = "promoter" if promoter else "detractor" if detractor else "passive"
        out.observe(Measure.NPS, 1.0, queue=queue, category=category)
    if facts:
        out.add_queue(queue, e.occurred_at, facts)
        agent_id = e.agent_id or record.agent_id
        if agent_id:
            out.add_agent(
                agent_id, record.agent_team or engine.team_of(agent_id), e.occurred_at, facts
            )
    engine._fcr(before, record, out)


def _on_evaluated(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.RecordingEvaluated)
    record = engine._record(e, out) if e.call_id else None
    facts = {"qa_evaluations": 1.0, "qa_score_sum": d.score / d.max_score}
    out.add_queue(record.handling_queue if record else NO_QUEUE, e.occurred_at, facts)
    agent_id = e.agent_id or (record.agent_id if record else None)
    team = engine.team_of(agent_id)
    if agent_id:
        out.add_agent(agent_id, team, e.occurred_at, facts)
    out.observe(Measure.QA, d.score / d.max_score, team=team or NO_TEAM)


def _on_logged_in(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.AgentLoggedIn)
    status = engine._agent(_agent_id(e))
    if status.login_at is None or e.occurred_at >= status.login_at:
        status.login_at, status.queues = e.occurred_at, tuple(d.queues)
        status.team = d.team or status.team
    for queue in d.queues:
        engine.live.queue(queue)
    _note_team(engine, status.team)
    out.agent = status


def _on_logged_out(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.AgentLoggedOut)
    status = engine._agent(_agent_id(e))
    if status.logout_at is None or e.occurred_at >= status.logout_at:
        status.logout_at = e.occurred_at
    open_state = status.state is not ev.AgentState.LOGGED_OUT and status.since is not None
    if open_state and status.since is not None and status.is_newer(e.occurred_at):
        segment = Segment(
            status.agent_id,
            d.team or status.team,
            status.state,
            status.since,
            e.occurred_at,
            status.reason,
        )
        engine._close_segment(segment, out)
        status.move_to(ev.AgentState.LOGGED_OUT, e.occurred_at, d.reason)
    out.agent = status


def _on_state_changed(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    d = _data(e, ev.AgentStateChanged)
    status = engine._agent(_agent_id(e))
    team = d.team or status.team
    start = segment_start(status, d.from_state, d.from_state_since, e.occurred_at)
    if start is not None:
        reason = status.reason if status.since == start else None
        segment = Segment(status.agent_id, team, d.from_state, start, e.occurred_at, reason)
        fresh = segment.key not in engine.closed_segments
        engine._close_segment(segment, out)
        if fresh and d.from_state is ev.AgentState.WRAP_UP:
            _wrap_up(engine, e, status, segment, out)
    if status.is_newer(e.occurred_at):
        status.move_to(d.to_state, e.occurred_at, d.reason)
        status.team = team
    _note_team(engine, team)
    out.agent = status


def _wrap_up(
    engine: MetricsEngine, e: Envelope[EventData], status: AgentStatus, seg: Segment, out: Outcome
) -> None:
    """Count a finished wrap-up as after-call work of the call it followed."""
    call_id = e.call_id or status.last_call_id
    record = engine.records.get(call_id) if call_id else None
    facts = {"acw_seconds": seg.seconds}
    out.add_agent(status.agent_id, seg.team, e.occurred_at, facts)
    queue = record.handling_queue if record else NO_QUEUE
    out.add_queue(queue, e.occurred_at, facts)
    if record is not None:
        add_wrap_up(record, seg.seconds)
        out.record = record
    out.observe(Measure.WRAP_UP, seg.seconds, queue=queue)


def _on_dialer(engine: MetricsEngine, e: Envelope[EventData], out: Outcome) -> None:
    campaign = str(getattr(e.data, "campaign", ""))
    out.observe(Measure.DIALER, 1.0, campaign=campaign, result=e.type.removeprefix("dialer."))


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
    ev.CallQueued: _on_queued,
    ev.CallBlocked: _on_blocked,
    ev.CallIvrCompleted: _on_ivr_completed,
    ev.CallAgentOffered: _on_agent_offered,
    ev.CallAgentMissed: _on_agent_missed,
    ev.CallAnswered: _on_answered,
    ev.CallAbandoned: _on_abandoned,
    ev.CallOverflowed: _on_overflowed,
    ev.CallCallbackRequested: _on_callback,
    ev.CallHeld: _on_call_detail,
    ev.CallResumed: _on_call_detail,
    ev.CallTransferred: _on_transferred,
    ev.CallDispositioned: _on_dispositioned,
    ev.CallEnded: _on_ended,
    ev.SurveyCompleted: _on_survey,
    ev.RecordingStarted: _on_call_detail,
    ev.RecordingEvaluated: _on_evaluated,
    ev.AgentLoggedIn: _on_logged_in,
    ev.AgentLoggedOut: _on_logged_out,
    ev.AgentStateChanged: _on_state_changed,
    ev.DialerAttempted: _on_dialer,
    ev.DialerConnected: _on_dialer,
    ev.DialerDropped: _on_dialer,
}

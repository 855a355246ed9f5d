"""The call detail record: one row per call, assembled from every event that names the call.

Events arrive late and out of order, and each may be delivered twice; the engine hands each
event here once (it dedupes by event id). Fields a call can have more than once are merged so
that the order of arrival does not matter: the first queue and the first answer are the earliest
by event time, the final queue the latest, counts and sums add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from cc_proto import Envelope, EventData
from cc_proto import events as ev

QUEUE_EXIT_EVENTS = (
    "call.answered",
    "call.abandoned",
    "call.overflowed",
    "call.callback_requested",
)


@dataclass(slots=True)
class CallRecord:
    """What is known about one call; None means not (yet) known."""

    call_id: str
    tenant: str
    first_event_at: datetime
    last_event_at: datetime
    queue: str | None = None
    offered_at: datetime | None = None
    final_queue: str | None = None
    final_queue_at: datetime | None = None
    priority: int | None = None
    caller_number: str | None = None
    dialed_number: str | None = None
    customer_id: str | None = None
    direction: str = "inbound"
    """``outbound`` for an agent's click-to-call (the customer is ``dialed_number``)."""
    ivr_flow: str | None = None
    ivr_seconds: float | None = None
    ivr_outcome: str | None = None
    queued: bool = False
    agent_offers: int = 0
    agent_missed: int = 0
    legs: dict[str, datetime] = field(default_factory=dict)
    agent_id: str | None = None
    agent_leg_uuid: str | None = None
    answered_at: datetime | None = None
    wait_seconds: float | None = None
    ring_seconds: float | None = None
    left_queue_at: datetime | None = None
    abandoned: bool = False
    overflowed_to: str | None = None
    callback_requested: bool = False
    blocked_reason: str | None = None
    hold_count: int = 0
    hold_seconds: float | None = None
    talk_seconds: float | None = None
    wrap_up_seconds: float = 0.0
    transfers: int = 0
    transfer_kind: str | None = None
    transfer_target: str | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    outcome: str | None = None
    hangup_cause: str | None = None
    hangup_by: str | None = None
    disposition_code: str | None = None
    disposition_resolved: bool | None = None
    survey_csat: int | None = None
    survey_nps: int | None = None
    survey_fcr: bool | None = None
    recording_id: str | None = None
    qa_evaluations: int = 0
    qa_score_sum: float = 0.0
    qa_scores: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Each evaluation's counted score, by evaluation id: (revision, fraction of the maximum)."""
    ended_queue: str | None = None
    agent_parts: dict[str, list[float]] = field(default_factory=dict)
    """Each agent's own part of the call: [talk, hold, wrap-up] seconds, by agent id. A call
    transferred from agent to agent has one part per agent; ``talk_seconds`` and
    ``hold_seconds`` above are the call's, all parts together."""

    @property
    def handled(self) -> bool:
        """Return True once an agent's call has ended (what "handled" counts): one an agent
        transferred to a number was handled too (transfer rate is transferred / handled)."""
        return self.ended_at is not None and self.outcome in _HANDLED_OUTCOMES

    @property
    def leg_order(self) -> list[str]:
        """Return the agent legs in the order they were first rung."""
        return sorted(self.legs, key=lambda leg: (self.legs[leg], leg))

    @property
    def handling_queue(self) -> str:
        """Return the queue a handled call counts in: the last it entered ("" for none)."""
        return self.final_queue or self.ended_queue or self.queue or ""

    @property
    def fcr_verdict(self) -> bool | None:
        """Return resolved-on-first-contact: the caller's survey answer, else the disposition."""
        return self.survey_fcr if self.survey_fcr is not None else self.disposition_resolved

    def copy(self) -> CallRecord:
        """Return an independent copy (the engine compares before and after)."""
        parts = {agent: list(part) for agent, part in self.agent_parts.items()}
        return replace(
            self, legs=dict(self.legs), qa_scores=dict(self.qa_scores), agent_parts=parts
        )


def agent_parts(record: CallRecord) -> dict[str, list[float]]:
    """Return each agent's [talk, hold, wrap-up] on the call. What no agent was named for (a
    record of older events) is the answering agent's, as it was before calls had parts."""
    parts = {agent: list(part) for agent, part in record.agent_parts.items()}
    if record.agent_id is None:
        return parts
    totals = (record.talk_seconds or 0.0, record.hold_seconds or 0.0, record.wrap_up_seconds)
    named = [sum(part[i] for part in parts.values()) for i in range(3)]
    rest = [max(total - done, 0.0) for total, done in zip(totals, named, strict=True)]
    if record.agent_id not in parts or any(seconds > 1e-6 for seconds in rest):
        mine = parts.setdefault(record.agent_id, [0.0, 0.0, 0.0])
        for i, seconds in enumerate(rest):
            mine[i] += seconds if seconds > 1e-6 else 0.0
    return parts


_HANDLED_OUTCOMES = (ev.CallOutcome.ANSWERED, ev.CallOutcome.TRANSFERRED_OUT)
TALK, HOLD, WRAP_UP = range(3)
"""Positions in an agent's part of a call."""


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CallRecord))
"""Every field of a record, in order: the CDR table's columns."""


def new_record(event: Envelope[EventData], call_id: str) -> CallRecord:
    """Start the record of a call on the first event about it."""
    return CallRecord(call_id, event.tenant, event.occurred_at, event.occurred_at)


def add_wrap_up(
    record: CallRecord, seconds: float, at: datetime, agent_id: str | None = None
) -> None:
    """Add the agent's wrap-up time for this call, which ended at ``at``."""
    record.wrap_up_seconds += seconds
    if agent_id is not None:
        add_part(record, agent_id, WRAP_UP, seconds)
    record.first_event_at = min(record.first_event_at, at)
    record.last_event_at = max(record.last_event_at, at)


def add_part(record: CallRecord, agent_id: str, position: int, seconds: float) -> None:
    """Add seconds of talk, hold or wrap-up to the agent's part of the call."""
    part = record.agent_parts.setdefault(agent_id, [0.0, 0.0, 0.0])
    part[position] += seconds


def _earlier(at: datetime, than: datetime | None) -> bool:
    return than is None or at < than


def _later(at: datetime, than: datetime | None) -> bool:
    return than is None or at >= than


def apply_event(record: CallRecord, event: Envelope[EventData]) -> None:
    """Merge one (not yet seen) event into the call's record."""
    at = event.occurred_at
    record.first_event_at = min(record.first_event_at, at)
    record.last_event_at = max(record.last_event_at, at)
    handler = _HANDLERS.get(type(event.data))
    if handler is not None:
        handler(record, event.data, event)


def _offered(r: CallRecord, d: ev.CallOffered, e: Envelope[EventData]) -> None:
    if _earlier(e.occurred_at, r.offered_at):
        r.queue, r.offered_at, r.priority = d.queue, e.occurred_at, d.priority
    if _later(e.occurred_at, r.final_queue_at):
        r.final_queue, r.final_queue_at = d.queue, e.occurred_at
    r.caller_number = r.caller_number or d.caller_number
    r.dialed_number = r.dialed_number or d.dialed_number
    r.customer_id = r.customer_id or d.customer_id


def _placed(r: CallRecord, d: ev.CallPlaced, e: Envelope[EventData]) -> None:
    r.direction = d.direction
    r.queue = r.queue or d.queue
    r.dialed_number = r.dialed_number or d.dialed_number
    r.customer_id = r.customer_id or d.customer_id
    r.agent_id = r.agent_id or e.agent_id


def _queued(r: CallRecord, d: ev.CallQueued, e: Envelope[EventData]) -> None:
    r.queued = True


def _blocked(r: CallRecord, d: ev.CallBlocked, e: Envelope[EventData]) -> None:
    r.blocked_reason = d.reason
    r.queue = r.queue or d.queue


def _ivr(r: CallRecord, d: ev.CallIvrCompleted, e: Envelope[EventData]) -> None:
    r.ivr_flow, r.ivr_seconds, r.ivr_outcome = d.flow, d.duration_seconds, d.outcome
    r.customer_id = r.customer_id or d.customer_id


def _add_leg(r: CallRecord, leg: str, at: datetime) -> None:
    if leg not in r.legs or at < r.legs[leg]:
        r.legs[leg] = at


def _agent_offered(r: CallRecord, d: ev.CallAgentOffered, e: Envelope[EventData]) -> None:
    r.agent_offers += 1
    _add_leg(r, d.agent_leg_uuid, e.occurred_at)


def _agent_missed(r: CallRecord, d: ev.CallAgentMissed, e: Envelope[EventData]) -> None:
    r.agent_missed += 1
    # The miss comes after the ring: the leg was rung ring_seconds earlier.
    _add_leg(r, d.agent_leg_uuid, e.occurred_at - timedelta(seconds=d.ring_seconds))


def _left_queue(r: CallRecord, e: Envelope[EventData]) -> None:
    if _later(e.occurred_at, r.left_queue_at):
        r.left_queue_at = e.occurred_at


def _answered(r: CallRecord, d: ev.CallAnswered, e: Envelope[EventData]) -> None:
    _left_queue(r, e)
    _add_leg(r, d.agent_leg_uuid, e.occurred_at - timedelta(seconds=d.ring_seconds))
    if _earlier(e.occurred_at, r.answered_at):
        r.answered_at, r.wait_seconds, r.ring_seconds = (
            e.occurred_at,
            d.wait_seconds,
            d.ring_seconds,
        )
        r.agent_id, r.agent_leg_uuid = e.agent_id, d.agent_leg_uuid
        r.queue = r.queue or d.queue


def _abandoned(r: CallRecord, d: ev.CallAbandoned, e: Envelope[EventData]) -> None:
    _left_queue(r, e)
    r.abandoned = True
    if r.answered_at is None:
        r.wait_seconds = d.wait_seconds
    r.queue = r.queue or d.queue


def _overflowed(r: CallRecord, d: ev.CallOverflowed, e: Envelope[EventData]) -> None:
    _left_queue(r, e)
    r.overflowed_to = d.to_queue
    r.queue = r.queue or d.queue


def _callback(r: CallRecord, d: ev.CallCallbackRequested, e: Envelope[EventData]) -> None:
    _left_queue(r, e)
    r.callback_requested = True
    if r.answered_at is None:
        r.wait_seconds = d.wait_seconds
    r.queue = r.queue or d.queue


def _held(r: CallRecord, d: ev.CallHeld, e: Envelope[EventData]) -> None:
    r.hold_count += 1


def _transferred(r: CallRecord, d: ev.CallTransferred, e: Envelope[EventData]) -> None:
    r.transfers += 1
    r.transfer_kind, r.transfer_target = d.kind, f"{d.target_kind}:{d.target}"
    if e.agent_id is not None and d.talk_seconds is not None:
        # The call goes on with another agent: the transferring agent's part ends here.
        _add_talk(r, e.agent_id, d.talk_seconds, d.hold_seconds or 0.0)


def _dispositioned(r: CallRecord, d: ev.CallDispositioned, e: Envelope[EventData]) -> None:
    r.disposition_code, r.disposition_resolved = d.code, d.resolved


def _ended(r: CallRecord, d: ev.CallEnded, e: Envelope[EventData]) -> None:
    r.ended_at, r.duration_seconds, r.outcome = e.occurred_at, d.duration_seconds, d.outcome.value
    r.hangup_cause, r.hangup_by = d.hangup_cause, d.hangup_by
    r.agent_id = r.agent_id or e.agent_id
    r.ended_queue = d.queue
    _add_talk(r, e.agent_id, d.talk_seconds, d.hold_seconds)


def _add_talk(r: CallRecord, agent_id: str | None, talk: float, hold: float) -> None:
    """Add one agent's talk and hold to the call's, and to their part when they are known."""
    r.talk_seconds = (r.talk_seconds or 0.0) + talk
    r.hold_seconds = (r.hold_seconds or 0.0) + hold
    if agent_id is not None:
        add_part(r, agent_id, TALK, talk)
        add_part(r, agent_id, HOLD, hold)


def _recording(r: CallRecord, d: ev.RecordingStarted, e: Envelope[EventData]) -> None:
    r.recording_id = r.recording_id or d.recording_id


def _evaluated(r: CallRecord, d: ev.QaEvaluated, e: Envelope[EventData]) -> None:
    """Count one score per evaluation: a later revision (a resolved dispute) replaces it."""
    if d.calibration is not None:
        return  # a calibration score measures the evaluators, not the agent
    r.recording_id = r.recording_id or d.recording_id
    known = r.qa_scores.get(d.evaluation_id)
    if known is not None and known[0] >= d.revision:
        return  # an older revision arriving late: the newer score stands
    score = d.percent / 100
    if known is None:
        r.qa_evaluations += 1
        r.qa_score_sum += score
    else:
        r.qa_score_sum += score - known[1]
    r.qa_scores[d.evaluation_id] = (d.revision, score)


def _survey(r: CallRecord, d: ev.SurveyCompleted, e: Envelope[EventData]) -> None:
    r.survey_csat, r.survey_nps, r.survey_fcr = d.csat, d.nps, d.fcr


_HANDLERS: dict[type[EventData], Any] = {
    ev.CallOffered: _offered,
    ev.CallPlaced: _placed,
    ev.CallQueued: _queued,
    ev.CallBlocked: _blocked,
    ev.CallIvrCompleted: _ivr,
    ev.CallAgentOffered: _agent_offered,
    ev.CallAgentMissed: _agent_missed,
    ev.CallAnswered: _answered,
    ev.CallAbandoned: _abandoned,
    ev.CallOverflowed: _overflowed,
    ev.CallCallbackRequested: _callback,
    ev.CallHeld: _held,
    ev.CallTransferred: _transferred,
    ev.CallDispositioned: _dispositioned,
    ev.CallEnded: _ended,
    ev.RecordingStarted: _recording,
    ev.QaEvaluated: _evaluated,
    ev.SurveyCompleted: _survey,
}

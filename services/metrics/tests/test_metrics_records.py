"""Call detail records assembled from the events of one call, in any order."""

from __future__ import annotations

import random

from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.testing import Events
from cc_proto.events import (
    AgentState,
    CallDispositioned,
    CallHeld,
    CallIvrCompleted,
    CallOutcome,
    CallResumed,
    CallTransferred,
    QaEvaluated,
    RecordingStarted,
    SurveyCompleted,
)

E = Events()


def a_call() -> list:  # type: ignore[type-arg]
    c = "c1"
    return [
        E.make(CallIvrCompleted(flow="main", outcome="queued", queue="sales", duration_seconds=12,
                                customer_id="cust-9"), 12, call_id=c),
        E.offered(c, "sales", 12, caller_number="+4930123", priority=5),
        E.queued(c, "sales", 12),
        E.agent_missed(c, "sales", "a0", 30, ring=18),
        E.agent_offered(c, "sales", "a1", 31),
        E.answered(c, "sales", "a1", 40, wait=28, ring=9),
        E.make(RecordingStarted(recording_id="rec-1", channel_uuid=c), 40, call_id=c),
        E.make(CallHeld(), 100, call_id=c, agent_id="a1"),
        E.make(CallResumed(hold_seconds=20), 120, call_id=c, agent_id="a1"),
        E.make(CallTransferred(kind="blind", target_kind="queue", target="billing"), 200,
               call_id=c, agent_id="a1"),
        E.ended(c, 210, CallOutcome.ANSWERED, queue="sales", agent="a1", duration=198,
                talk=150, hold=20),
        E.state("a1", AgentState.WRAP_UP, AgentState.AVAILABLE, 250, since=210, call=c),
        E.make(CallDispositioned(code="billing", resolved=False), 240, call_id=c, agent_id="a1"),
        E.make(SurveyCompleted(csat=2, nps=8, fcr=True), 260, call_id=c),
        E.make(QaEvaluated(evaluation_id="e1", recording_id="rec-1", scorecard="std",
                           scorecard_version=1, evaluator="eve", percent=90, passed=True),
               9000, call_id=c, agent_id="a1"),
        # a calibration score of the same call grades the evaluator: not the agent's QA score
        E.make(QaEvaluated(evaluation_id="e2", recording_id="rec-1", scorecard="std",
                           scorecard_version=1, evaluator="cal", percent=10, passed=False,
                           calibration="week-1"),
               9001, call_id=c, agent_id="a1"),
    ]  # fmt: skip


def assemble(events: list) -> object:  # type: ignore[type-arg]
    engine = MetricsEngine(tenant="acme", thresholds=Thresholds())
    for event in events:
        engine.apply(event)
    return engine.records["c1"]


def test_a_record_holds_the_whole_journey() -> None:
    r = assemble(a_call())
    assert (r.queue, r.final_queue, r.priority, r.caller_number, r.customer_id) == (  # type: ignore[attr-defined]
        "sales", "sales", 5, "+4930123", "cust-9",
    )  # fmt: skip
    assert (r.ivr_flow, r.ivr_seconds, r.queued) == ("main", 12, True)  # type: ignore[attr-defined]
    assert (r.agent_offers, r.agent_missed, r.leg_order) == (1, 1, ["c1-a0", "c1-a1"])  # type: ignore[attr-defined]
    assert (r.agent_id, r.wait_seconds, r.ring_seconds) == ("a1", 28, 9)  # type: ignore[attr-defined]
    assert (r.hold_count, r.hold_seconds, r.talk_seconds, r.wrap_up_seconds) == (1, 20, 150, 40)  # type: ignore[attr-defined]
    assert (r.transfers, r.transfer_target, r.outcome) == (1, "queue:billing", "answered")  # type: ignore[attr-defined]
    assert (r.disposition_code, r.fcr_verdict) == ("billing", True)  # type: ignore[attr-defined]
    assert (r.survey_csat, r.survey_nps, r.recording_id) == (2, 8, "rec-1")  # type: ignore[attr-defined]
    assert (r.qa_evaluations, r.qa_score_sum) == (1, 0.9)  # type: ignore[attr-defined]
    assert r.first_event_at == E.at(12)  # type: ignore[attr-defined]
    assert r.last_event_at == E.at(9000)  # type: ignore[attr-defined]


def test_the_record_does_not_depend_on_arrival_order() -> None:
    events = a_call()
    expected = assemble(events)
    rng = random.Random(5)
    for _ in range(300):
        assert assemble(rng.sample(events, len(events))) == expected
    assert assemble(events[::-1]) == expected


def test_the_first_queue_and_the_last_are_kept_apart() -> None:
    events = [E.offered("c1", "sales", 0), E.offered("c1", "billing", 60)]
    for order in (events, events[::-1]):
        r = assemble(order)
        assert (r.queue, r.final_queue, r.handling_queue) == ("sales", "billing", "billing")  # type: ignore[attr-defined]

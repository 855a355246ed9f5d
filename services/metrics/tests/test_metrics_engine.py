"""The engine: events to interval facts by event time, idempotent, order-independent."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

import pytest

from cc_metrics.core.engine import NO_QUEUE, AgentKey, MetricsEngine, QueueKey, Unprocessable
from cc_metrics.core.facts import Facts, add_facts
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.testing import Events, simulate_run
from cc_proto import Envelope, EventData
from cc_proto.events import (
    AgentState,
    CallAnswered,
    CallOutcome,
    CallPlaced,
    CallTransferred,
    SurveyCompleted,
)

S = AgentState
E = Events()


def engine(**kw: object) -> MetricsEngine:
    return MetricsEngine(tenant="acme", thresholds=Thresholds(), **kw)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return E.at(seconds)


def feed(
    events: Iterable[Envelope[EventData]], eng: MetricsEngine | None = None
) -> tuple[dict[QueueKey, Facts], dict[AgentKey, Facts], MetricsEngine]:
    eng = eng or engine()
    queues: dict[QueueKey, Facts] = {}
    agents: dict[AgentKey, Facts] = {}
    for event in events:
        out = eng.apply(event)
        for qk, facts in out.queue_facts.items():
            add_facts(queues.setdefault(qk, {}), facts)
        for ak, facts in out.agent_facts.items():
            add_facts(agents.setdefault(ak, {}), facts)
    return queues, agents, eng


def test_queue_outcomes_count_in_the_interval_the_call_was_offered() -> None:
    # Offered at 09:14:50, answered 20 s later at 09:15:10: both belong to 09:00.
    events = [
        E.offered("c1", "sales", 890),
        E.queued("c1", "sales", 890),
        E.answered("c1", "sales", "a1", 910, wait=20, ring=4),
    ]
    queues, agents, _ = feed(events)
    nine = QueueKey("sales", at(0))
    assert set(queues) == {nine}
    assert queues[nine]["offered"] == 1
    assert queues[nine]["answered"] == 1
    assert queues[nine]["answered_within_20s"] == 1
    assert "answered_within_15s" not in queues[nine]
    assert queues[nine]["answered_wait_seconds"] == 20
    assert queues[nine]["ring_seconds"] == 4
    assert agents == {AgentKey("a1", at(900)): {"answered": 1.0, "ring_seconds": 4.0}}


def test_a_late_event_lands_in_its_own_interval() -> None:
    eng = engine()
    feed([E.offered("c2", "sales", 3600)], eng)
    queues, _, _ = feed([E.offered("c1", "sales", 60)], eng)
    assert list(queues) == [QueueKey("sales", at(0))]


def test_replaying_an_event_changes_nothing() -> None:
    eng = engine()
    event = E.answered("c1", "sales", "a1", 10, wait=5)
    first = eng.apply(event)
    again = eng.apply(event)
    assert first.queue_facts
    assert not first.duplicate
    assert again.duplicate
    assert not again.queue_facts
    assert not again.agent_facts
    assert eng.records["c1"].agent_id == "a1"


def test_short_abandons_and_abandon_facts() -> None:
    queues, _, _ = feed(
        [E.offered("c1", "sales", 0), E.abandoned("c1", "sales", 4, wait=4),
         E.offered("c2", "sales", 0), E.abandoned("c2", "sales", 50, wait=50)]
    )  # fmt: skip
    facts = queues[QueueKey("sales", at(0))]
    assert facts["abandoned"] == 2
    assert facts["abandoned_within_5s"] == 1
    assert facts["abandoned_within_60s"] == 2
    assert facts["abandoned_wait_seconds"] == 54
    assert facts["queue_exits"] == 2


def test_blocked_and_ivr_only_calls_count_without_a_queue() -> None:
    from cc_proto.events import CallBlocked, CallIvrCompleted

    events = [
        E.make(CallBlocked(reason="no_capacity"), 10, call_id="c1"),
        E.make(
            CallIvrCompleted(flow="main", outcome="ended", duration_seconds=30), 20, call_id="c2"
        ),
        E.make(
            CallIvrCompleted(flow="main", outcome="queued", duration_seconds=9), 20, call_id="c3"
        ),
    ]
    queues, _, _ = feed(events)
    assert queues == {QueueKey(NO_QUEUE, at(0)): {"blocked": 1.0, "ivr_only": 1.0}}


def test_agent_state_time_is_split_across_intervals() -> None:
    events = [
        E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 600),
        E.state("a1", S.AVAILABLE, S.ON_CALL, 1000, since=600),
        E.state("a1", S.ON_CALL, S.WRAP_UP, 2000, since=1000),
    ]
    _, agents, eng = feed(events)
    assert agents[AgentKey("a1", at(0))] == {"available_seconds": 300.0}
    assert agents[AgentKey("a1", at(900))] == {"available_seconds": 100.0, "on_call_seconds": 800.0}
    assert agents[AgentKey("a1", at(1800))] == {"on_call_seconds": 200.0}
    assert eng.agents["a1"].state is S.WRAP_UP
    assert eng.agents["a1"].since == at(2000)
    assert eng.state_totals[("blue", S.AVAILABLE)] == 400.0


def test_a_state_change_without_its_start_uses_the_agents_known_state() -> None:
    events = [
        E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 0),
        E.state("a1", S.AVAILABLE, S.BREAK, 120, reason="lunch"),
        E.state("a1", S.BREAK, S.AVAILABLE, 300),
    ]
    _, agents, eng = feed(events)
    assert agents[AgentKey("a1", at(0))] == {"available_seconds": 120.0, "break_seconds": 180.0}
    assert eng.agents["a1"].reason is None


def test_logout_closes_the_open_state_once_whichever_event_comes_first() -> None:
    closing = [
        E.logged_out("a1", 500),
        E.state("a1", S.AVAILABLE, S.LOGGED_OUT, 500, since=100),
    ]
    for order in (closing, closing[::-1]):
        start = [E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 100)]
        _, agents, eng = feed(start + order)
        assert agents[AgentKey("a1", at(0))] == {"available_seconds": 400.0}
        assert not eng.agents["a1"].logged_in


def test_wrap_up_is_after_call_work_of_the_call_in_its_queue() -> None:
    events = [
        E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 0),
        E.offered("c1", "support", 10),
        E.answered("c1", "support", "a1", 20, wait=10),
        E.ended("c1", 200, queue="support", agent="a1", talk=180, hold=15),
        E.state("a1", S.ON_CALL, S.WRAP_UP, 200, since=20),
        E.state("a1", S.WRAP_UP, S.AVAILABLE, 245, since=200),  # no call_id: the last call's
    ]
    queues, agents, eng = feed(events)
    q = queues[QueueKey("support", at(0))]
    assert (q["handled"], q["talk_seconds"], q["hold_seconds"], q["acw_seconds"]) == (
        1,
        180,
        15,
        45,
    )
    a = agents[AgentKey("a1", at(0))]
    assert (a["handled"], a["acw_seconds"], a["wrap_up_seconds"]) == (1, 45, 45)
    assert eng.records["c1"].wrap_up_seconds == 45


@pytest.mark.parametrize("reverse", [False, True])
def test_first_contact_resolution_prefers_the_survey_and_counts_once(reverse: bool) -> None:
    from cc_proto.events import CallDispositioned

    events = [
        E.offered("c1", "sales", 0),
        E.answered("c1", "sales", "a1", 5, wait=5),
        E.make(CallDispositioned(code="sale", resolved=True), 100, call_id="c1", agent_id="a1"),
        E.ended("c1", 90, queue="sales", agent="a1", talk=85),
    ]
    survey = E.make(SurveyCompleted(csat=1, nps=10, fcr=False), 150, call_id="c1")
    stream = [*events, survey] if not reverse else [survey, *events[::-1]]
    queues, _agents, _ = feed(stream)
    q = queues[QueueKey("sales", at(0))]
    assert q.get("fcr_resolved", 0) == 0
    assert (q["csat_answers"], q["csat_satisfied"], q["nps_promoters"]) == (1, 1, 1)
    without_survey, _, _ = feed(events)
    assert without_survey[QueueKey("sales", at(0))]["fcr_resolved"] == 1


def qa(evaluation: str, percent: float, at_s: float, revision: int = 0) -> Envelope[EventData]:
    from cc_proto.events import QaEvaluated

    data = QaEvaluated(
        evaluation_id=evaluation, revision=revision, recording_id="r1", scorecard="std",
        scorecard_version=1, evaluator="eve", percent=percent, passed=percent >= 80,
    )  # fmt: skip
    return E.make(data, at_s, call_id="c1", agent_id="a1")


@pytest.mark.parametrize("reverse", [False, True])
def test_a_resolved_dispute_replaces_the_evaluations_score_once(reverse: bool) -> None:
    call = [
        E.offered("c1", "sales", 0),
        E.answered("c1", "sales", "a1", 5, wait=5),
        E.ended("c1", 90, queue="sales", agent="a1", talk=85),
    ]
    scores = [
        qa("e1", 60, 1000),  # scored, disputed, amended to 90
        qa("e1", 90, 2000, revision=1),
        qa("e2", 70, 1100),  # scored, disputed, upheld: the same 70 again
        qa("e2", 70, 2100, revision=1),
    ]
    stream = [*call, *scores] if not reverse else [*scores[::-1], *call]
    queues, agents, eng = feed(stream)
    for facts in (queues[QueueKey("sales", at(0))], agents[AgentKey("a1", at(0))]):
        assert facts["qa_evaluations"] == 2
        assert facts["qa_score_sum"] == pytest.approx(0.9 + 0.7)
    assert eng.records["c1"].qa_scores == {"e1": (1, 0.9), "e2": (1, 0.7)}
    late = eng.apply(qa("e1", 50, 3000))  # a stale first score of a resolved evaluation
    assert (late.queue_facts, late.agent_facts, late.observations) == ({}, {}, [])
    assert eng.records["c1"].qa_scores["e1"] == (1, 0.9)
    live = engine()  # the live histogram gets one score per evaluation
    assert sum(o.measure == "qa" for e in stream for o in live.apply(e).observations) == 2


def test_waiting_calls_are_live_and_leave_on_any_exit() -> None:
    eng = engine(queues=["sales", "idle"])
    feed(
        [E.offered("c1", "sales", 10), E.offered("c2", "sales", 20), E.offered("c3", "sales", 30),
         E.answered("c2", "sales", "a1", 40, wait=20),
         E.ended("c3", 50, CallOutcome.ABANDONED)],
        eng,
    )  # fmt: skip
    live = eng.live.queues
    assert set(live) == {"sales", "idle"}
    assert live["sales"].waiting == {"c1": at(10)}
    assert live["sales"].oldest == at(10)
    assert live["idle"].oldest is None


def test_an_answer_seen_before_its_offer_leaves_nobody_waiting() -> None:
    eng = engine()
    feed([E.answered("c1", "sales", "a1", 40, wait=20), E.offered("c1", "sales", 20)], eng)
    assert eng.live.queues["sales"].waiting == {}


def test_events_the_engine_cannot_use_are_refused_with_a_reason() -> None:
    eng = engine()
    with pytest.raises(Unprocessable, match="tenant"):
        eng.apply(Events(tenant="other").offered("c1", "sales", 0))
    with pytest.raises(Unprocessable, match="call_id"):
        eng.apply(E.make(SurveyCompleted(csat=1), 0))
    with pytest.raises(Unprocessable, match="agent_id"):
        eng.apply(E.make(E.state("a", S.AVAILABLE, S.BREAK, 1).data, 1))


def _totals(facts: dict[object, Facts]) -> dict[object, dict[str, float]]:
    return {k: {n: round(v, 6) for n, v in f.items() if round(v, 6)} for k, f in facts.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_arrival_order_with_duplicates_gives_the_same_facts(seed: int) -> None:
    run = simulate_run(seed=seed, agents=6, calls_per_hour=120, duration_seconds=3600)
    in_order = feed(run.events)
    shuffled = list(run.events) + random.Random(seed).sample(run.events, len(run.events) // 5)
    random.Random(seed).shuffle(shuffled)
    out_of_order = feed(shuffled)
    assert _totals(out_of_order[0]) == _totals(in_order[0])  # type: ignore[arg-type]
    assert _totals(out_of_order[1]) == _totals(in_order[1])  # type: ignore[arg-type]
    for call_id, record in in_order[2].records.items():
        assert out_of_order[2].records[call_id] == record


def test_an_answer_that_is_not_the_queues_counts_for_the_agent_only() -> None:
    """A transfer to an agent answers the call a second time in its queue, and a click-to-call
    answer was never offered there: neither may count as an answered call of the queue."""

    def answer(call: str, agent: str, at: float, *, queue_answer: bool) -> Envelope[EventData]:
        data = CallAnswered(
            queue="sales",
            agent_leg_uuid=f"{call}-{agent}",
            wait_seconds=at,
            ring_seconds=2,
            queue_answer=queue_answer,
        )
        return E.make(data, at, call_id=call, agent_id=agent)

    placed = CallPlaced(queue="sales", dialed_number="+33612345678", customer_id="CRM-42")
    events = [
        E.offered("c1", "sales", 0),
        answer("c1", "a1", 5, queue_answer=True),
        answer("c1", "b1", 65, queue_answer=False),  # transferred to b1
        E.ended("c1", 200, agent="b1", talk=130),
        E.make(placed, 300, call_id="out1", agent_id="a1"),
        answer("out1", "a1", 320, queue_answer=False),
        E.ended("out1", 400, agent="a1", talk=80),
    ]
    queues, agents, eng = feed(events)
    nine = QueueKey("sales", at(0))
    assert (queues[nine]["offered"], queues[nine]["answered"]) == (1, 1)
    assert queues[nine]["answered_wait_seconds"] == 5
    assert agents[AgentKey("a1", at(0))]["answered"] == 2  # its inbound call and its own call
    assert agents[AgentKey("b1", at(0))]["answered"] == 1
    record = eng.records["out1"]
    assert (record.direction, record.dialed_number, record.customer_id, record.queue) == (
        "outbound",
        "+33612345678",
        "CRM-42",
        "sales",
    )
    assert (record.agent_id, record.outcome) == ("a1", "answered")
    assert eng.records["c1"].direction == "inbound"


def test_a_call_transferred_to_a_queue_is_answered_once_in_each_queue_and_handled_once() -> None:
    """Routing publishes two call.answered for a call transferred to a queue (one per queue it
    was offered in): each queue counts its own offer and answer, each agent their answer, and
    the call is handled once."""
    moved = CallTransferred(kind="blind", target_kind="queue", target="billing", queue="sales")
    events = [
        E.offered("c1", "sales", 0),
        E.answered("c1", "sales", "a1", 5, wait=5, ring=2),
        E.make(moved, 60, call_id="c1", agent_id="a1"),
        E.offered("c1", "billing", 60),
        E.answered("c1", "billing", "b1", 70, wait=10, ring=3),
        E.ended("c1", 200, agent="b1", talk=130),
    ]
    queues, agents, _ = feed(events)
    sales, billing = QueueKey("sales", at(0)), QueueKey("billing", at(0))
    assert (queues[sales]["offered"], queues[sales]["answered"]) == (1, 1)
    assert (queues[billing]["offered"], queues[billing]["answered"]) == (1, 1)
    assert agents[AgentKey("a1", at(0))]["answered"] == 1
    assert agents[AgentKey("b1", at(0))]["answered"] == 1
    assert sum(facts.get("handled", 0) for facts in queues.values()) == 1

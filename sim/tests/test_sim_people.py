"""People-like endpoints: agents' phones and scripted callers, on a manual clock."""

from __future__ import annotations

import random

from cc_sim.core.dialplan import Action, default_dialplan
from cc_sim.engine.endpoints import AgentPhone, AnswerPlan, CallerScript, Directory
from cc_sim.testing import SwitchBench


def test_sim_phone_outcomes_follow_their_probabilities() -> None:
    phone = AgentPhone(
        "1001",
        answer_delay=(1.0, 2.0),
        no_answer_probability=0.2,
        busy_probability=0.1,
        reject_probability=0.1,
        talk_seconds=(30.0, 60.0),
    )
    rng = random.Random(4)
    outcomes = [phone.plan(rng).outcome for _ in range(2000)]
    assert 0.55 < outcomes.count("answer") / 2000 < 0.65
    assert 0.17 < outcomes.count("no_answer") / 2000 < 0.23
    assert 0.07 < outcomes.count("busy") / 2000 < 0.13
    answered = AgentPhone("1002", answer_delay=(1.0, 2.0), talk_seconds=(30.0, 60.0))
    plan = answered.plan(random.Random(1))
    assert 1.0 <= plan.after_seconds <= 2.0
    assert plan.talk_seconds is not None
    assert 30.0 <= plan.talk_seconds <= 60.0


def test_sim_directory_registration() -> None:
    directory = Directory()
    directory.register(AgentPhone("1001"))
    assert directory.phone("1001@127.0.0.1") is not None
    directory.unregister("1001")
    assert directory.phone("1001") is None
    assert directory.callee("+4930") is not None


def routed_bench() -> SwitchBench:
    """Callers on 8000 hear a menu (answer), then wait parked for an agent."""
    plan = default_dialplan()
    plan.set_extension("default", "8000", [Action("answer"), Action("park")])
    return SwitchBench(dialplan=plan)


def test_sim_caller_presses_digits_once_answered() -> None:
    bench = routed_bench()
    uuid = bench.callers.dial(
        "8000", caller_number="5550001", caller_name="Ann", script=CallerScript(dtmf=[(2.0, "1#")])
    )
    bench.advance(1.9)
    assert not bench.named("DTMF")
    bench.advance(0.2)
    digits = [e.get("DTMF-Digit") for e in bench.named("DTMF") if e.unique_id == uuid]
    assert digits == ["1", "#"]
    assert (
        bench.first("CHANNEL_CREATE", lambda e: e.unique_id == uuid).get("Caller-Caller-ID-Number")
        == "5550001"
    )


def test_sim_caller_gives_up_when_patience_runs_out() -> None:
    outcomes: list[tuple[str, str]] = []
    bench = SwitchBench()  # 7100 parks without answering
    uuid = bench.callers.dial(
        "7100",
        caller_number="5550002",
        caller_name="Bob",
        script=CallerScript(patience_seconds=30.0, on_done=lambda c, o: outcomes.append((c, o))),
    )
    bench.advance(29)
    assert bench.switch.get(uuid) is not None
    bench.advance(2)
    assert outcomes == [("ORIGINATOR_CANCEL", "abandoned")]
    hangup = bench.first("CHANNEL_HANGUP", lambda e: e.unique_id == uuid)
    assert hangup.get("Hangup-Cause") == "ORIGINATOR_CANCEL"


def test_sim_caller_talks_to_the_agent_then_hangs_up() -> None:
    outcomes: list[tuple[str, str]] = []
    bench = routed_bench()
    bench.directory.register(AgentPhone("1001", plans=[AnswerPlan("answer", 1.0)]))
    caller = bench.callers.dial(
        "8000",
        caller_number="5550003",
        caller_name="Cy",
        script=CallerScript(
            patience_seconds=60.0, talk_seconds=45.0, on_done=lambda c, o: outcomes.append((c, o))
        ),
    )
    bench.advance(5)
    bench.api("originate", "{origination_uuid=ag}user/1001 &park()")
    bench.advance(1.5)
    assert bench.api("uuid_bridge", f"{caller} ag") == ["+OK ag\n"]
    bench.advance(44)
    assert outcomes == []
    bench.advance(2)
    assert outcomes == [("NORMAL_CLEARING", "completed")]
    bench.advance(1)
    assert bench.switch.get("ag") is None  # the agent's leg ends with the bridge

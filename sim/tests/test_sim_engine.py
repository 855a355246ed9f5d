"""The switch engine on a manual clock: call flows, failure causes, media, and API replies."""

from __future__ import annotations

import wave
from pathlib import Path

from cc_common.esl.channels import parse_show_channels
from cc_sim.core.dialplan import Action, default_dialplan
from cc_sim.engine.endpoints import AgentPhone, AnswerPlan, Callee
from cc_sim.testing import SwitchBench

CUSTOMER = (
    "{origination_uuid=cust-a,origination_caller_id_number=5551000}loopback/7100/default &park()"
)


def start_customer(bench: SwitchBench) -> str:
    """A customer parked ringing on 7100 (its B leg), like scenario 01; return the B leg."""
    assert bench.api("originate", CUSTOMER) == []  # pending until answered
    return bench.channel_named("7100-b")


def test_sim_loopback_originate_parks_b_leg_and_answers_on_uuid_answer() -> None:
    bench = SwitchBench()
    replies: list[str] = []
    bench.switch.api.execute("originate", CUSTOMER, replies.append)
    bench.settle()
    b = bench.channel_named("7100-b")
    assert bench.names("cust-a") == [
        "CODEC",
        "CODEC",
        "CHANNEL_OUTGOING",
        "CHANNEL_STATE",
        "CHANNEL_CREATE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_STATE",
        "CHANNEL_STATE",
    ]
    assert bench.names(b)[-2:] == ["CHANNEL_EXECUTE", "CHANNEL_PARK"]
    assert replies == []
    assert bench.api("uuid_answer", b) == ["+OK\n"]
    assert replies == ["+OK cust-a\n"]
    assert bench.names("cust-a")[-6:] == [
        "CHANNEL_ANSWER",
        "CHANNEL_CALLSTATE",
        "CALL_UPDATE",
        "CHANNEL_STATE",
        "CHANNEL_EXECUTE",
        "CHANNEL_PARK",
    ]


def test_sim_failures_carry_freeswitch_causes() -> None:
    bench = SwitchBench()
    assert bench.api("originate", "error/user_busy &park()") == ["-ERR USER_BUSY\n"]
    assert bench.api("originate", "user/1000 &park()") == ["-ERR USER_NOT_REGISTERED\n"]
    assert bench.api("originate", "loopback/9999/nosuchcontext &park()") == [
        "-ERR NO_ROUTE_DESTINATION\n"
    ]
    unreachable = bench.api("originate", "sofia/internal/nobody@127.0.0.1:5999 &park()")
    bench.advance(1)
    assert unreachable == ["-ERR NORMAL_TEMPORARY_FAILURE\n"]
    assert bench.api("originate", "bogus/thing &park()") == ["-ERR CHAN_NOT_IMPLEMENTED\n"]
    assert bench.api("originate", "loopback/7100") == [
        "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
        "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
    ]
    bench.advance(5)
    assert bench.switch.live_count() == 0


def test_sim_originate_timeout_gives_no_answer_at_the_right_simulated_time() -> None:
    bench = SwitchBench()
    replies = bench.api("originate", "{originate_timeout=3}loopback/7100/default &park()")
    bench.advance(2.9)
    assert replies == []
    bench.advance(0.2)
    assert replies == ["-ERR NO_ANSWER\n"]
    bench.advance(1)
    complete = bench.named("CHANNEL_HANGUP_COMPLETE")
    assert len(complete) == 2
    assert all(e.headers.count(("Hangup-Cause", "NO_ANSWER")) == 2 for e in complete)


def test_sim_agent_phone_answers_busy_rejects_or_rings_out() -> None:
    bench = SwitchBench()
    bench.directory.register(
        AgentPhone(
            "1001",
            plans=[
                AnswerPlan("answer", 2.0),
                AnswerPlan("busy", 0.1),
                AnswerPlan("reject", 1.0),
                AnswerPlan("no_answer", 0.0),
            ],
        )
    )
    answered = bench.api("originate", "{origination_uuid=o1}user/1001 &park()")
    bench.advance(1.9)
    assert answered == []
    assert "CHANNEL_PROGRESS" in bench.names("o1")
    bench.advance(0.2)
    assert answered == ["+OK o1\n"]
    busy = bench.api("originate", "user/1001 &park()")
    bench.advance(1)
    assert busy == ["-ERR USER_BUSY\n"]
    rejected = bench.api("originate", "user/1001 &park()")
    bench.advance(1.5)
    timed_out = bench.api("originate", "{originate_timeout=5}user/1001 &park()")
    bench.advance(6)
    assert rejected == ["-ERR CALL_REJECTED\n"]
    assert timed_out == ["-ERR NO_ANSWER\n"]
    causes = [e.get("Hangup-Cause") for e in bench.named("CHANNEL_HANGUP")]
    assert causes == ["USER_BUSY", "CALL_REJECTED", "NO_ANSWER"]


def test_sim_agent_talks_then_hangs_up_and_wraps_up_busy() -> None:
    bench = SwitchBench()
    phone = bench.directory.register(
        AgentPhone("1002", answer_delay=(1, 1), talk_seconds=(10, 10), wrap_up_seconds=(30, 30))
    )
    assert bench.api("originate", "{origination_uuid=o2}user/1002 &park()") == []
    bench.advance(1.1)
    bench.advance(10)
    assert bench.first("CHANNEL_HANGUP", lambda e: e.unique_id == "o2").get("Hangup-Cause") == (
        "NORMAL_CLEARING"
    )
    busy = bench.api("originate", "user/1002 &park()")
    bench.advance(1)
    assert busy == ["-ERR USER_BUSY\n"]
    bench.advance(30)
    later = bench.api("originate", "user/1002 &park()")
    bench.advance(2)
    assert later
    assert later[0].startswith("+OK")
    assert phone.calls == 3


def test_sim_uuid_kill_cause_and_cdr_times_are_simulated() -> None:
    bench = SwitchBench()
    b = start_customer(bench)
    bench.advance(2)
    bench.api("uuid_answer", b)
    bench.advance(30)
    assert bench.api("uuid_kill", f"{b} ORIGINATOR_CANCEL") == ["+OK\n"]
    bench.advance(1)
    complete = bench.first("CHANNEL_HANGUP_COMPLETE", lambda e: e.unique_id == b)
    assert complete.headers.count(("Hangup-Cause", "ORIGINATOR_CANCEL")) == 2
    assert complete.get("variable_billsec") == "30"
    assert complete.get("variable_duration") == "32"
    assert complete.get("variable_hangup_cause_q850") == "487"
    assert bench.api("uuid_kill", b) == ["-ERR No such channel!\n"]
    assert bench.api("uuid_exists", b) == ["false"]


def agent_call(bench: SwitchBench) -> tuple[str, str]:
    """Customer answered on 7100 and agent on 7101, both parked: return (customer, agent)."""
    customer = start_customer(bench)
    bench.api("uuid_answer", customer)
    bench.api("originate", "{origination_uuid=agent-a}loopback/7101/default &park()")
    bench.settle()
    return customer, "agent-a"


def test_sim_uuid_bridge_then_hangup_tears_down_both_calls() -> None:
    bench = SwitchBench()
    customer, agent = agent_call(bench)
    assert bench.api("uuid_bridge", f"{customer} {agent}") == [f"+OK {agent}\n"]
    bridge = bench.first("CHANNEL_BRIDGE")
    assert bridge.get("Bridge-A-Unique-ID") == customer
    assert bridge.get("Bridge-B-Unique-ID") == agent
    assert bridge.get("Other-Leg-Unique-ID") == agent
    assert bench.api("uuid_bridge", f"{customer} nonexistent") == ["-ERR Invalid uuid\n"]
    bench.api("uuid_kill", customer)
    bench.advance(1)
    assert bench.switch.live_count() == 0
    assert bench.names(customer)[-6:] == [
        "CHANNEL_STATE",
        "CHANNEL_CALLSTATE",
        "CHANNEL_STATE",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
        "CHANNEL_STATE",
    ]
    assert "CHANNEL_UNBRIDGE" in bench.names(customer)


def test_sim_uuid_record_writes_a_wav_of_the_simulated_length(tmp_path: Path) -> None:
    bench = SwitchBench()
    customer, agent = agent_call(bench)
    bench.api("uuid_bridge", f"{customer} {agent}")
    path = tmp_path / "rec" / "call.wav"
    assert bench.api("uuid_record", f"{customer} start {path}") == ["+OK Success\n"]
    bench.advance(4.5)
    assert bench.api("uuid_record", f"{customer} stop {path}") == ["+OK Success\n"]
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 36000  # 4.5 s at 8 kHz
    stop = bench.first("RECORD_STOP")
    assert stop.get("variable_record_ms") == "4500"
    assert stop.get("Record-File-Path") == str(path)
    short = tmp_path / "short.wav"
    bench.api("uuid_record", f"{customer} start {short}")
    bench.advance(2)
    bench.api("uuid_record", f"{customer} stop {short}")
    assert short.exists()  # no RECORD_MIN_SEC: kept, as FreeSWITCH 1.10 does
    bench.api("uuid_setvar", f"{customer} RECORD_MIN_SEC 3")
    short.unlink()
    bench.api("uuid_record", f"{customer} start {short}")
    bench.advance(2)
    bench.api("uuid_record", f"{customer} stop {short}")
    assert not short.exists()  # under RECORD_MIN_SEC: deleted
    assert bench.api("uuid_record", f"{customer} stop {short}") == [
        "-ERR Cannot stop record session!\n"
    ]


def test_sim_hold_on_loopback_fails_off_but_toggles() -> None:
    bench = SwitchBench()
    customer, agent = agent_call(bench)
    bench.api("uuid_bridge", f"{customer} {agent}")
    assert bench.api("uuid_hold", customer) == ["+OK Success\n"]
    assert bench.api("uuid_hold", f"off {customer}") == ["-ERR Operation failed\n"]
    assert bench.api("uuid_hold", f"toggle {customer}") == ["+OK Success\n"]
    assert len(bench.named("CHANNEL_HOLD")) == 2
    moh = bench.first("PLAYBACK_START", lambda e: e.unique_id == agent)
    assert moh.get("Playback-File-Path") == "local_stream://moh"


def test_sim_sip_hold_and_unhold_change_call_states() -> None:
    bench = SwitchBench()
    bench.api(
        "originate",
        "{origination_caller_id_number=5551000}sofia/internal/7100@127.0.0.1:5080 &park()",
    )
    customer = bench.channel_named("5551000@127.0.0.1")
    bench.api("uuid_answer", customer)
    bench.api("originate", "{origination_uuid=ag}sofia/internal/7101@127.0.0.1:5080 &park()")
    bench.advance(0.1)
    bench.api("uuid_bridge", f"{customer} ag")
    assert bench.api("uuid_hold", customer) == ["+OK Success\n"]
    assert bench.api("uuid_hold", f"off {customer}") == ["+OK Success\n"]
    states = [
        e.get("Channel-Call-State") for e in bench.of(customer) if e.name == "CHANNEL_CALLSTATE"
    ]
    assert states[-3:] == ["HELD", "UNHELD", "ACTIVE"]
    assert bench.named("CUSTOM")[0].subclass == "sofia::reinvite"


def test_sim_variables_show_channels_and_transfer() -> None:
    bench = SwitchBench()
    customer = start_customer(bench)
    assert bench.api("uuid_setvar", f"{customer} cc_queue sales") == ["+OK\n"]
    assert bench.api("uuid_getvar", f"{customer} cc_queue") == ["sales"]
    assert bench.api("uuid_getvar", f"{customer} nothing") == ["_undef_"]
    assert bench.api("uuid_getvar", "nonexistent x") == ["-ERR No such channel!\n"]
    rows = parse_show_channels(bench.api("show", "channels as json")[0])
    assert {row.name for row in rows} == {"loopback/7100-a", "loopback/7100-b"}
    parked = next(row for row in rows if row.uuid == customer)
    assert parked.application == "park"
    assert parked.callstate == "RINGING"
    bench.dialplan.set_extension("default", "7200", [Action("answer"), Action("park")])
    assert bench.api("uuid_transfer", f"{customer} 7200 XML default") == ["+OK\n"]
    bench.settle()
    assert bench.first("CHANNEL_ANSWER", lambda e: e.unique_id == customer)


def test_sim_play_and_get_digits_collects_dtmf() -> None:
    plan = default_dialplan()
    plan.set_extension(
        "default",
        "7300",
        [
            Action("answer"),
            Action("play_and_get_digits", "1 1 3 5000 # ivr/menu.wav ivr/invalid.wav choice \\d"),
            Action("park"),
        ],
    )
    bench = SwitchBench(dialplan=plan)
    bench.api("originate", "loopback/7300/default &park()")
    leg = bench.channel_named("7300-b")
    bench.advance(1)
    assert bench.api("uuid_recv_dtmf", f"{leg} 2") == [f"+OK {leg} received DTMF 2.\n"]
    bench.settle()
    assert bench.switch.sessions[leg].channel.variables["choice"] == "2"
    assert bench.names(leg)[-2:] == ["CHANNEL_EXECUTE", "CHANNEL_PARK"]


def test_sim_bridge_app_rings_an_agent_and_eavesdrop_listens() -> None:
    plan = default_dialplan()
    plan.set_extension("default", "7400", [Action("answer"), Action("bridge", "user/1001")])
    bench = SwitchBench(dialplan=plan)
    bench.directory.register(AgentPhone("1001", plans=[AnswerPlan("answer", 1.0, 20.0)]))
    bench.api("originate", "{origination_uuid=c}loopback/7400/default &park()")
    caller = bench.channel_named("7400-b")
    bench.advance(1.5)
    bridge = bench.first("CHANNEL_BRIDGE")
    assert bridge.get("Bridge-A-Unique-ID") == caller
    plan.set_extension("default", "7500", [Action("eavesdrop", caller)])
    bench.api("originate", "{origination_uuid=sup}loopback/7500/default &park()")
    bench.advance(1)
    listener = bench.channel_named("7500-b")
    assert bench.first("CHANNEL_EXECUTE", lambda e: e.get("Application") == "eavesdrop")
    bench.advance(25)
    assert bench.switch.get(caller) is None
    assert (
        bench.first(
            "CHANNEL_EXECUTE_COMPLETE", lambda e: e.get("Application") == "eavesdrop"
        ).unique_id
        == listener
    )


def test_sim_gateway_callee_plans_and_unknown_api() -> None:
    bench = SwitchBench()
    bench.directory.callees["+4930555"] = Callee(plans=[AnswerPlan("busy", 0.5)])
    busy = bench.api("originate", "sofia/gateway/carrier/+4930555 &park()")
    bench.advance(1)
    assert busy == ["-ERR USER_BUSY\n"]
    assert bench.api("nosuchcommand") == ["-ERR nosuchcommand Command not found!\n"]
    api_events = bench.named("API")
    assert api_events[-1].get("API-Command") == "nosuchcommand"
    assert api_events[-1].get("API-Command-Argument") is None


def test_sim_sendmsg_record_session_and_hangup_messages(tmp_path: Path) -> None:
    from cc_sim.engine.session import Message

    bench = SwitchBench()
    customer = start_customer(bench)
    bench.api("uuid_answer", customer)
    sess = bench.switch.sessions[customer]
    path = tmp_path / "session.wav"
    bench.switch.deliver(sess, Message("execute", "record_session", str(path)))
    bench.advance(5)
    bench.switch.deliver(sess, Message("hangup", hangup_cause="CALL_REJECTED"))
    bench.advance(1)
    assert path.exists()  # stopped by the hangup after 5 s: kept
    assert bench.first("RECORD_STOP").get("Record-Completion-Cause") == "success-maxtime"
    commands = [e for e in bench.named("PRIVATE_COMMAND") if e.unique_id == customer]
    assert len(commands) == 2
    hangup = bench.first("CHANNEL_HANGUP", lambda e: e.unique_id == customer)
    assert hangup.get("Hangup-Cause") == "CALL_REJECTED"


def test_sim_a_failing_command_replies_an_error_and_the_switch_goes_on() -> None:
    from cc_sim.engine import api

    bench = SwitchBench()

    def broken(_api: api.ApiCommands, _arg: str, _reply: object) -> None:
        raise RuntimeError("boom")

    original = api.HANDLERS["status"]
    api.HANDLERS["status"] = broken
    try:
        assert bench.api("status") == ["-ERR RuntimeError: boom\n"]
    finally:
        api.HANDLERS["status"] = original
    assert bench.api("status")[0].startswith("UP 0 years")


def test_sim_hash_application_keeps_memory_bounded() -> None:
    from cc_sim.engine import apps

    plan = default_dialplan()
    plan.set_extension("default", "7600", [Action("hash", "insert/r/${uuid}/x"), Action("hangup")])
    bench = SwitchBench(dialplan=plan)
    limit, apps.HASH_LIMIT = apps.HASH_LIMIT, 5
    try:
        for _ in range(8):
            bench.api("originate", "loopback/7600/default &park()")
            bench.advance(1)
    finally:
        apps.HASH_LIMIT = limit
    assert len(bench.switch.hash_store) == 5


def test_sim_an_originated_leg_exists_only_after_its_setup_delay() -> None:
    """As on FreeSWITCH: the leg appears a moment after the originate starts; a command naming
    it before then finds no channel, and the leg rings on regardless."""
    bench = SwitchBench()
    bench.switch.settings.originate_setup_seconds = (0.01, 0.01)
    replies: list[str] = []
    bench.switch.api.execute(
        "originate", "{origination_uuid=late,originate_timeout=5}loopback/7302/default &park()",
        replies.append,
    )  # fmt: skip
    bench.settle()
    assert bench.api("uuid_kill", "late") == ["-ERR No such channel!\n"]
    assert bench.api("uuid_setvar", "late cc_queue support") == ["-ERR No such channel!\n"]
    assert bench.api("uuid_exists", "late") == ["false"]
    assert bench.names("late") == []
    bench.advance(0.01)
    assert "CHANNEL_CREATE" in bench.names("late")
    bench.advance(1.0)
    assert "CHANNEL_HANGUP" not in bench.names("late")  # the kill found nothing: it rings on
    assert bench.api("uuid_kill", "late ORIGINATOR_CANCEL") == ["+OK\n"]
    bench.advance(0.1)
    assert replies == ["-ERR ORIGINATOR_CANCEL\n"]


def test_sim_originate_delay_start_counts_in_the_originate_block_only() -> None:
    """``{originate_delay_start=N}`` waits N ticks of about 1 ms; in a leg's ``[]`` it is
    ignored, as FreeSWITCH reads it from the originate-wide variables only."""
    bench = SwitchBench()
    dial = "loopback/7302/default &park()"
    bench.api("originate", "{origination_uuid=slow,originate_delay_start=300}" + dial)
    bench.api("originate", "{origination_uuid=quick}[originate_delay_start=300]" + dial)
    assert bench.names("slow") == []
    assert "CHANNEL_CREATE" in bench.names("quick")
    bench.advance(0.299)
    assert bench.names("slow") == []
    bench.advance(0.002)
    assert "CHANNEL_CREATE" in bench.names("slow")


def listed(bench: SwitchBench, what: str = "channels") -> set[str]:
    """Return the uuids ``show channels`` (or ``show calls``) lists now."""
    return {row.uuid for row in parse_show_channels(bench.api("show", f"{what} as json")[0])}


def test_sim_show_channels_lists_a_new_channel_only_after_the_listing_lag() -> None:
    """As on FreeSWITCH, whose channels table is written by a background thread: a leg that
    exists (CHANNEL_CREATE fired, uuid_exists/uuid_getvar/uuid_dump find it) is not listed yet."""
    bench = SwitchBench()
    bench.switch.settings.listing_lag_seconds = (0.1, 0.1)
    bench.api("originate", "{origination_uuid=fresh,cc_role=agent}loopback/7303/default &park()")
    assert "CHANNEL_CREATE" in bench.names("fresh")
    assert bench.api("uuid_exists", "fresh") == ["true"]
    assert bench.api("uuid_getvar", "fresh cc_role") == ["agent"]
    assert "Unique-ID: fresh\n" in bench.api("uuid_dump", "fresh")[0]
    assert listed(bench) == set()
    assert bench.api("show", "channels count") == ["\n0 total.\n"]
    bench.advance(0.099)
    assert listed(bench) == set()
    bench.advance(0.002)
    assert "fresh" in listed(bench)
    assert len(listed(bench)) == 2  # both halves of the loopback pair


def test_sim_show_channels_keeps_an_ended_channel_until_the_listing_lag_passed() -> None:
    bench = SwitchBench()
    bench.switch.settings.listing_lag_seconds = (0.1, 0.1)
    bench.api("originate", "{origination_uuid=ending}loopback/7303/default &park()")
    bench.advance(0.2)
    assert "ending" in listed(bench)
    assert bench.api("uuid_kill", "ending") == ["+OK\n"]
    assert "CHANNEL_HANGUP_COMPLETE" in bench.names("ending")
    assert bench.api("uuid_exists", "ending") == ["false"]
    assert "ending" in listed(bench)
    bench.advance(0.101)
    assert listed(bench) == set()


def test_sim_a_channel_gone_before_it_was_listed_is_never_listed() -> None:
    bench = SwitchBench()
    bench.switch.settings.listing_lag_seconds = (0.1, 0.1)
    bench.api("originate", "{origination_uuid=brief}loopback/7303/default &park()")
    bench.api("uuid_kill", "brief")
    assert bench.api("uuid_exists", "brief") == ["false"]
    seen: set[str] = set()
    for _ in range(30):
        bench.advance(0.01)
        seen |= listed(bench)
    assert seen == set()


def test_sim_show_calls_trails_a_bridge_the_same_way() -> None:
    bench = SwitchBench()
    bench.switch.settings.listing_lag_seconds = (0.1, 0.1)
    bench.api("originate", "{origination_uuid=one}loopback/7303/default &park()")
    assert listed(bench, "calls") == set()
    bench.advance(0.2)
    assert "one" in listed(bench, "calls")


def test_sim_the_listing_lag_is_drawn_in_its_range_from_the_seed() -> None:
    """Each change waits its own draw; the same seed draws the same lags."""

    def lags(seed: int) -> list[float]:
        bench = SwitchBench()
        bench.switch.settings.seed = seed
        bench.switch.settings.listing_lag_seconds = (0.03, 0.3)
        listing = type(bench.switch.listing)(bench.switch)
        return [listing.lag() for _ in range(50)]

    assert lags(7) == lags(7)
    assert lags(7) != lags(8)
    assert all(0.03 <= lag <= 0.3 for lag in lags(7))
    assert max(lags(7)) - min(lags(7)) > 0.1

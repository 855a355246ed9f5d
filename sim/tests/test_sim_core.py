"""The pure core: caller profiles, channels, event composition, dialplan, dial strings, media."""

from __future__ import annotations

import io
import wave

import pytest

from cc_common.esl.event import event_from_json, event_from_plain
from cc_sim.clock import LoopScheduler, ManualScheduler
from cc_sim.core.channel import L16, Channel
from cc_sim.core.dialplan import Action, Dialplan, Extension, default_dialplan, parse_actions
from cc_sim.core.dialstring import ORIGINATE_USAGE, DialError, parse_originate, split_vars
from cc_sim.core.events import EventFactory, HostInfo
from cc_sim.core.profile import CallerProfile
from cc_sim.core.states import CallState, ChannelState, cause_code, normalize_cause
from cc_sim.engine import media


def channel(**changes: object) -> Channel:
    profile = CallerProfile(caller_id_name="Ann", caller_id_number="100", destination_number="7100")
    ch = Channel(
        uuid="u1",
        name="loopback/7100-b",
        direction="inbound",
        kind="loopback",
        session_id=1,
        created_us=1,
        profile=profile,
        read_codec=L16,
        write_codec=L16,
    )
    for name, value in changes.items():
        setattr(ch, name, value)
    return ch


def test_sim_profile_headers_leave_empty_fields_out() -> None:
    profile = CallerProfile(caller_id_number="5553000", orig_caller_id_number="5553000")
    names = [name for name, _ in profile.headers("Caller")]
    assert "Caller-Caller-ID-Number" in names
    assert "Caller-Orig-Caller-ID-Number" in names
    assert "Caller-Caller-ID-Name" not in names
    assert "Caller-Orig-Caller-ID-Name" not in names
    assert "Caller-Profile-Index" in names
    other = [name for name, _ in profile.clone(keep_index=False).headers("Other-Leg")]
    assert "Other-Leg-Profile-Index" not in other
    assert other[-1] == "Other-Leg-Privacy-Hide-Number"


def test_sim_variables_move_to_the_end_and_empty_unsets() -> None:
    ch = channel()
    ch.set_var("a", "1")
    ch.set_var("b", "2")
    ch.set_var("a", "3")
    assert list(ch.variables) == ["b", "a"]
    ch.set_var("b", "")
    assert list(ch.variables) == ["a"]
    assert ch.get_var("uuid") == "u1"
    assert ch.get_var("missing") is None


def test_sim_answer_state_follows_flags_and_hangup() -> None:
    ch = channel()
    assert ch.answer_state() == "ringing"
    ch.flags.add("early")
    assert ch.answer_state() == "early"
    ch.flags.add("answered")
    assert ch.answer_state() == "answered"
    ch.hangup_cause = "NORMAL_CLEARING"
    headers = dict(ch.basic_headers())
    assert headers["Answer-State"] == "hangup"
    assert headers["Hangup-Cause"] == "NORMAL_CLEARING"
    assert headers["Channel-Call-UUID"] == "u1"


def test_sim_events_carry_variables_only_where_freeswitch_does() -> None:
    factory = EventFactory(HostInfo(core_uuid="core"))
    ch = channel()
    ch.set_var("cc_queue", "sales")
    execute = factory.make("CHANNEL_EXECUTE", 1_000_000, channel=ch)
    state = factory.make("CHANNEL_STATE", 2_000_000, channel=ch)
    assert execute.get("variable_cc_queue") == "sales"
    assert state.get("variable_cc_queue") is None
    assert int(state.get("Event-Sequence") or 0) == int(execute.get("Event-Sequence") or 0) + 1
    assert execute.get("Event-Calling-Function") == "switch_core_session_exec"
    custom = factory.make("CUSTOM", 3, subclass="sofia::reinvite", post=[("Unique-ID", "u1")])
    assert custom.headers[0] == ("Event-Subclass", "sofia::reinvite")


def test_sim_events_serialize_as_freeswitch_plain_and_json() -> None:
    factory = EventFactory(HostInfo(core_uuid="core"))
    ch = channel()
    ch.set_var("weird", "a b&c=d")
    event = factory.make("CHANNEL_PARK", 1_795_341_044_617_405, channel=ch)
    assert b"variable_weird: a%20b%26c%3Dd\n" in event.plain()
    assert event_from_plain(event.plain()).headers == event.headers
    assert event_from_json(event.json()).headers == event.headers
    job = factory.make(
        "BACKGROUND_JOB", 1, post=[("Job-UUID", "j"), ("Content-Length", "4")], body="+OK\n"
    )
    assert event_from_plain(job.plain()).body == "+OK\n"


def test_sim_dialplan_routes_continue_kinds_and_captures() -> None:
    plan = Dialplan()
    plan.add("default", Extension("g", ".*", (Action("log", "x"),), True, frozenset({"sofia"})))
    plan.add("default", Extension("q", r"^8(\d+)$", (Action("set", "queue=$1"), Action("park"))))
    assert plan.route("default", "8123", "sofia") == [
        Action("log", "x"),
        Action("set", "queue=123"),
        Action("park"),
    ]
    assert plan.route("default", "8123", "loopback") == [Action("set", "queue=123"), Action("park")]
    assert plan.route("default", "999", "sofia") is None
    assert plan.route("nosuchcontext", "8123", "sofia") is None


def test_sim_default_dialplan_has_the_capture_extensions() -> None:
    plan = default_dialplan(socket_address="127.0.0.1:9999")
    assert plan.route("default", "7100", "loopback") == [Action("park")]
    assert plan.route("default", "7101", "loopback") == [Action("answer"), Action("park")]
    assert plan.route("default", "7102", "loopback") == [
        Action("socket", "127.0.0.1:9999 async full")
    ]
    public = plan.route("public", "7100", "sofia")
    assert public is not None
    assert public[-1] == Action("transfer", "7100 XML default")


def test_sim_parse_actions_and_its_errors() -> None:
    assert parse_actions("answer;socket:127.0.0.1:8084 async full;park") == [
        Action("answer"),
        Action("socket", "127.0.0.1:8084 async full"),
        Action("park"),
    ]
    assert parse_actions("answer,park") == [Action("answer"), Action("park")]
    with pytest.raises(ValueError, match="not an action"):
        parse_actions("9bad")


def test_sim_originate_arguments_parse_like_freeswitch() -> None:
    request = parse_originate(
        "{origination_uuid=abc,cc_skills='billing\\,vip',origination_caller_id_name=Q1}"
        "user/1001 &park()"
    )
    assert request.dial == "user/1001"
    assert request.app == "park"
    assert request.var("cc_skills") == "billing,vip"
    assert request.var("origination_uuid") == "abc"
    exten = parse_originate("loopback/7101/default 7100 XML default Bob 100 20")
    assert (exten.extension, exten.context, exten.cid_name, exten.timeout) == (
        "7100",
        "default",
        "Bob",
        20.0,
    )
    with pytest.raises(DialError) as error:
        parse_originate("user/1001")
    assert str(error.value) == ORIGINATE_USAGE
    assert split_vars("a=1,b='x,y',c") == [("a", "1"), ("b", "x,y")]


def test_sim_causes_and_states_carry_freeswitch_numbers() -> None:
    assert cause_code("NORMAL_CLEARING") == 16
    assert cause_code("USER_NOT_REGISTERED") == 806
    assert normalize_cause("user_busy") == "USER_BUSY"
    assert normalize_cause("19") == "NO_ANSWER"
    assert normalize_cause("bogus") == "NORMAL_CLEARING"
    assert int(ChannelState.CS_EXECUTE) == 4
    assert int(CallState.HELD) == 5


def test_sim_playback_lengths_follow_the_stream() -> None:
    assert (
        media.playback_seconds("tone_stream://%(400,200,440,480);loops=2", default_seconds=3) == 1.2
    )
    assert media.playback_seconds("tone_stream://%(1000,0,350,440)", default_seconds=3) == 1.0
    assert media.playback_seconds("silence_stream://1500", default_seconds=3) == 1.5
    assert media.playback_seconds("local_stream://moh", default_seconds=3) is None
    assert media.playback_seconds("ivr/welcome@4.5s.wav", default_seconds=3) == 4.5
    assert media.playback_seconds("ivr/welcome.wav", default_seconds=3) == 3
    assert media.playback_type("local_stream://moh") == "local_stream"
    assert media.playback_type("ivr/welcome.wav") == "wav"


def test_sim_wav_files_have_the_recorded_length() -> None:
    payload = media.wav_bytes(4.02, 8000)
    assert len(payload) == 64364  # the size FreeSWITCH reported for its 4.02 s recording
    with wave.open(io.BytesIO(payload)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 32160


def test_sim_manual_scheduler_runs_timers_in_order_and_cancels() -> None:
    clock = ManualScheduler(start_us=0)
    seen: list[str] = []
    clock.call_later(2, lambda: seen.append("b"))
    clock.call_later(1, lambda: seen.append("a"))
    timer = clock.call_later(1.5, lambda: seen.append("never"))
    timer.cancel()
    clock.advance(1.9)
    assert seen == ["a"]
    clock.advance(0.1)
    assert seen == ["a", "b"]
    assert clock.now_us() == 2_000_000


def test_sim_loop_scheduler_compresses_time() -> None:
    clock = LoopScheduler(20.0, start_epoch=1000.0)
    assert clock.real_seconds(30) == 1.5
    assert clock.now_us() >= 1_000_000_000
    with pytest.raises(ValueError, match="compression"):
        LoopScheduler(0)

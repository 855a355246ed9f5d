"""Core commands become the ESL lines FreeSWITCH expects; FreeSWITCH events become core inputs."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from cc_common.esl import EslEvent, event_from_plain
from cc_routing.adapters.freeswitch import (
    AgentAnswered,
    AgentLegEnded,
    BadCall,
    CallerBridged,
    CallerEnded,
    CallerParked,
    CustomerAnswered,
    CustomerEnded,
    Dialplan,
    HangupNote,
    JobFinished,
    classify,
    event_time,
    failure_cause,
    parse_hangup_note,
    to_esl,
)
from cc_routing.core import (
    BridgeCall,
    CancelOffer,
    Destination,
    DialCustomer,
    HangupCall,
    HoldCall,
    OfferCall,
    PlayAnnouncement,
    PlayMusicOnHold,
    ReleaseCaller,
    SetCallVariables,
    TransferCall,
)

DIALPLAN = Dialplan(context="contact-center", hold_music="local_stream://moh")
GATEWAY = "sofia/gateway/carrier/{number}"


def esl(command: object) -> list[str]:
    return to_esl(command, dialplan=DIALPLAN, gateway_template=GATEWAY)  # type: ignore[arg-type]


def event(name: str, uuid: str | None = "leg-1", body: str = "", **headers: str) -> EslEvent:
    lines = [f"Event-Name: {name}", "Event-Date-Timestamp: 1795341044617405"]
    if uuid is not None:
        lines.append(f"Unique-ID: {uuid}")
    lines += [f"{key.replace('__', '-')}: {quote(value)}" for key, value in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body.encode())}")
    text = "\n".join(lines) + "\n\n" + body
    return event_from_plain(text.encode())


def test_an_offer_originates_the_agent_leg_with_our_uuid_and_parks_it() -> None:
    offer = OfferCall(
        offer_id="a1b2",
        call_id="c9",
        agent_id="alice",
        contact="user/1001",
        queue="sales support",
        ring_timeout_seconds=14.6,
        attempt=1,
        caller_number="+4930123",
    )
    [line] = esl(offer)
    assert line.startswith(
        "originate {origination_uuid=a1b2,cc_role=agent,cc_leg=a1b2,cc_call_id=c9,"
    )
    # FreeSWITCH's own timeout trails routing's ring timer, so the two never race.
    assert "originate_timeout=17" in line
    assert "origination_caller_id_number=+4930123" in line
    assert "origination_caller_id_name='sales support'" in line  # a space needs quoting
    assert line.endswith("}user/1001 &park()")


def test_a_dial_string_with_a_gateway_is_kept_whole() -> None:
    offer = OfferCall("o", "c", "bob", "sofia/gateway/carrier/+4930555", "q", 20, 1)
    assert esl(offer)[0].endswith("}sofia/gateway/carrier/+4930555 &park()")


def test_a_callback_dials_the_customer_through_the_gateway_template() -> None:
    [line] = esl(DialCustomer("cb1", "+4930777", "o1", "alice", "sales", 30))
    assert "origination_uuid=cb1,cc_role=customer" in line
    assert line.endswith("}sofia/gateway/carrier/+4930777 &park()")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (CancelOffer("o1", "c1", "a", "answered_elsewhere"), ["uuid_kill o1 ORIGINATOR_CANCEL"]),
        (BridgeCall("c1", "o1", "a"), ["uuid_bridge c1 o1"]),
        (HangupCall("c1", "NORMAL_CLEARING"), ["uuid_kill c1 NORMAL_CLEARING"]),
        (ReleaseCaller("c1", "callback"), ["uuid_kill c1 NORMAL_CLEARING"]),
        (HoldCall("c1", "a1", on=True), ["uuid_hold a1"]),
        # The resume drops the caller's queued hold music first, while the agent is still held.
        (HoldCall("c1", "a1", on=False), ["uuid_break c1 all", "uuid_hold off a1"]),
        (PlayMusicOnHold("c1", "q", None), ["uuid_broadcast c1 local_stream://moh aleg"]),
        (PlayMusicOnHold("c1", "q", "/m/jazz.wav"), ["uuid_broadcast c1 /m/jazz.wav aleg"]),
        (
            PlayAnnouncement("c1", "q", 3, 150.0),
            [
                "uuid_broadcast c1 phrase:cc_queue_position:3:2 aleg",
                "uuid_broadcast c1 local_stream://moh aleg",
            ],
        ),
        (
            SetCallVariables("c1", (("cc_enqueued_at", "1.5"), ("cc_agent", "a"))),
            [
                "uuid_setvar_multi c1 cc_enqueued_at=1.5;cc_agent=a",
                # Queued: the channel notes its own hangup (time, last bridge partner and time)
                # for an instance that was down.
                "uuid_setvar c1 api_hangup_hook hash::insert/cc_routing_hangup/c1/"
                "${end_uepoch}:${last_bridge_to}:${bridge_uepoch}",
            ],
        ),
        (
            # A value uuid_setvar_multi would split goes with its own uuid_setvar.
            SetCallVariables("c1", (("cc_agent", "a;b"), ("cc_queue", "q"))),
            ["uuid_setvar_multi c1 cc_queue=q", "uuid_setvar c1 cc_agent a;b"],
        ),
        (
            TransferCall("c1", Destination("transfer", "5000"), "max_wait"),
            ["uuid_transfer c1 5000 XML contact-center"],
        ),
        (
            TransferCall("c1", Destination("transfer", "vm XML voicemail"), "max_wait"),
            ["uuid_transfer c1 vm XML voicemail"],
        ),
        (
            TransferCall("c1", Destination("hangup", "USER_BUSY"), "full"),
            ["uuid_kill c1 USER_BUSY"],
        ),
    ],
)
def test_commands_become_esl_lines(command: object, expected: list[str]) -> None:
    assert esl(command) == expected


def test_a_parked_caller_with_a_queue_is_a_new_call() -> None:
    parked = classify(
        event(
            "CHANNEL_PARK",
            variable_cc_queue="sales",
            variable_cc_priority="5",
            variable_caller_id_number="+4930123",
        )
    )
    assert isinstance(parked, CallerParked)
    assert (parked.parked.queue, parked.parked.priority, parked.after_bridge) == ("sales", 5, False)
    assert parked.parked.caller_number == "+4930123"


def test_a_caller_parked_again_after_talking_is_recognised() -> None:
    parked = classify(event("CHANNEL_PARK", variable_cc_queue="s", variable_cc_answered_at="9.5"))
    assert isinstance(parked, CallerParked)
    assert parked.after_bridge


def test_a_caller_with_unreadable_variables_is_reported_not_dropped() -> None:
    bad = classify(event("CHANNEL_PARK", variable_cc_queue="s", variable_cc_priority="high"))
    assert isinstance(bad, BadCall)
    assert "cc_priority" in bad.reason


def test_channels_without_routing_variables_are_not_ours() -> None:
    assert classify(event("CHANNEL_PARK")) is None
    assert classify(event("CHANNEL_ANSWER", variable_cc_queue="s")) is None
    assert classify(event("HEARTBEAT", uuid=None)) is None


def test_agent_legs_answer_and_end() -> None:
    assert classify(event("CHANNEL_ANSWER", "o1", variable_cc_role="agent")) == AgentAnswered("o1")
    ended = classify(
        event("CHANNEL_HANGUP_COMPLETE", "o1", variable_cc_role="agent", Hangup__Cause="NO_ANSWER")
    )
    assert ended == AgentLegEnded("o1", "NO_ANSWER")
    # An agent leg parks after answering (&park()); that is not a caller.
    assert classify(event("CHANNEL_PARK", "o1", variable_cc_role="agent")) is None


def test_callers_and_customers_hanging_up() -> None:
    caller = classify(
        event(
            "CHANNEL_HANGUP_COMPLETE", "c1", variable_cc_queue="s", Hangup__Cause="NORMAL_CLEARING"
        )
    )
    assert caller == CallerEnded("c1", "NORMAL_CLEARING")
    assert classify(event("CHANNEL_ANSWER", "cb", variable_cc_role="customer")) == CustomerAnswered(
        "cb"
    )
    unanswered = classify(
        event(
            "CHANNEL_HANGUP_COMPLETE", "cb", variable_cc_role="customer", Hangup__Cause="USER_BUSY"
        )
    )
    assert unanswered == CustomerEnded("cb", "USER_BUSY", answered=False)
    talked = classify(
        event(
            "CHANNEL_HANGUP_COMPLETE",
            "cb",
            variable_cc_role="customer",
            variable_answer_epoch="1795341044",
            Hangup__Cause="NORMAL_CLEARING",
        )
    )
    assert talked == CustomerEnded("cb", "NORMAL_CLEARING", answered=True)


def test_background_jobs_report_the_originate_failure_cause() -> None:
    failed = classify(event("BACKGROUND_JOB", None, body="-ERR USER_BUSY\n", Job__UUID="j1"))
    assert failed == JobFinished("j1", ok=False, cause="USER_BUSY")
    done = classify(event("BACKGROUND_JOB", None, body="+OK o1\n", Job__UUID="j2"))
    assert done == JobFinished("j2", ok=True, cause=None)
    assert failure_cause("-ERR") == "NORMAL_TEMPORARY_FAILURE"


def test_event_time_is_freeswitchs_own() -> None:
    assert event_time(event("CHANNEL_PARK"), default=0.0) == pytest.approx(1795341044.617405)


def test_the_bridge_of_a_caller_is_reported_and_a_customer_legs_is_not() -> None:
    # FreeSWITCH sends CHANNEL_BRIDGE once, on uuid_bridge's first leg (sip-plain/06_uuid_bridge).
    bridged = classify(
        event(
            "CHANNEL_BRIDGE",
            "c1",
            variable_cc_queue="s",
            Other__Leg__Unique__ID="o1",
            Bridge__A__Unique__ID="c1",
            Bridge__B__Unique__ID="o1",
        )
    )
    assert bridged == CallerBridged("c1")
    assert classify(event("CHANNEL_BRIDGE", "cb", variable_cc_role="customer")) is None


def test_the_far_half_of_a_loopback_agent_pair_is_not_the_agent_leg() -> None:
    # mod_loopback copies the originate variables onto both halves; only the leg whose uuid
    # routing chose (cc_leg) is the agent leg.
    ours = event("CHANNEL_ANSWER", "o1", variable_cc_role="agent", variable_cc_leg="o1")
    far = event("CHANNEL_ANSWER", "o1-b", variable_cc_role="agent", variable_cc_leg="o1")
    assert classify(ours) == AgentAnswered("o1")
    assert classify(far) is None
    ended = event("CHANNEL_HANGUP_COMPLETE", "o1-b", variable_cc_role="agent", variable_cc_leg="o1")
    assert classify(ended) is None


def test_a_callers_numbers_come_from_the_caller_profile_headers() -> None:
    parked = classify(
        event(
            "CHANNEL_PARK",
            "c1",
            variable_cc_queue="support",
            Caller__Caller__ID__Number="+4930111",
            Caller__Destination__Number="7200",
        )
    )
    assert isinstance(parked, CallerParked)
    assert parked.parked.caller_number == "+4930111"
    assert parked.parked.dialed_number == "7200"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1700000002500000:leg-1:1700000001000000",
            HangupNote(1700000002.5, "leg-1", 1700000001.0),
        ),
        ("1700000002500000::0", HangupNote(1700000002.5)),  # never bridged
        ("1700000002500000", HangupNote(1700000002.5)),  # noted by an older routing
        ("", None),  # -ERR or nothing noted
        ("0::", None),
        ("-ERR Not found", None),
    ],
)
def test_a_hangup_note_names_the_time_and_the_last_bridge(
    text: str, expected: HangupNote | None
) -> None:
    assert parse_hangup_note(text) == expected

"""Calls through the IVR on the simulator and the real FreeSWITCH: a caller dials, hears the
greeting, presses digits, is looked up in the CRM and is parked for routing with the right
queue, priority and skills; timeouts, invalid input, after-hours, CRM failures, language choice,
self-service, hang-up mid-flow and an IVR that is down each take their branch."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from cc_common.testing import eventually
from cc_ivr.flows import sample_documents

from .conftest import ACCOUNT, BROKEN, CONTEXT, GARBAGE, SLOW, UNKNOWN, VIP, Caller, Ivr, Line

pytestmark = pytest.mark.integration

BRANCH_SKILL = {
    "on_not_found": "unknown",
    "on_timeout": "crm_timeout",
    "on_error": "crm_error",
    "on_circuit_open": "crm_circuit",
}

PROOF: dict[str, Any] = {
    "name": "proof",
    "start": "hours",
    "languages": ["en"],
    "prompts": {
        "welcome": {"en": "prompts/welcome.wav"},
        "menu": {"en": "prompts/press_1_sales_2_support.wav"},
        "invalid": {"en": "prompts/invalid_option.wav"},
        "account": {"en": "prompts/your_call_is_important.wav"},
        "goodbye": {"en": "prompts/goodbye.wav"},
    },
    "nodes": {
        "hours": {
            "type": "hours",
            "timezone": "UTC",
            "open": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "when_open": "welcome",
            "when_closed": "bye",
        },
        "welcome": {"type": "play", "prompts": ["welcome"], "next": "whois"},
        "whois": {
            "type": "crm",
            "vip_priority": 10,
            "on_found": "menu",
            **{branch: branch.removeprefix("on_") for branch in BRANCH_SKILL},
        },
        **{
            branch.removeprefix("on_"): {
                "type": "set",
                "variables": {"skills": skill},
                "next": "menu",
            }
            for branch, skill in BRANCH_SKILL.items()
        },
        "menu": {
            "type": "menu",
            "prompt": "menu",
            "invalid_prompt": "invalid",
            "choices": {"1": "account", "2": "banking"},
            "timeout_seconds": 1.5,
            "retries": 1,
            "on_timeout": "timed_out",
            "on_invalid": "invalid_input",
        },
        "account": {
            "type": "collect",
            "prompt": "account",
            "variable": "account",
            "min_digits": 8,
            "max_digits": 8,
            "timeout_seconds": 3,
            "retries": 0,
            "next": "balance",
            "on_failure": "banking",
        },
        "balance": {
            "type": "crm",
            "lookup": "variable",
            "variable": "account",
            "assign": {"balance": "balance"},
            "on_found": "read_balance",
            "on_not_found": "banking",
            "on_timeout": "banking",
            "on_error": "banking",
            "on_circuit_open": "banking",
        },
        "read_balance": {"type": "say", "kind": "money", "value": "${balance}", "next": "done"},
        "done": {"type": "hangup", "prompt": "goodbye", "self_served": True},
        "banking": {"type": "queue", "queue": "banking", "skills": ["banking"]},
        "timed_out": {"type": "queue", "queue": "timeouts"},
        "invalid_input": {"type": "queue", "queue": "invalid"},
        "bye": {"type": "hangup"},
    },
}

CLOSED = {
    **PROOF,
    "name": "closed",
    "nodes": {
        **PROOF["nodes"],
        "hours": {**PROOF["nodes"]["hours"], "open": {}},
    },
}


def support_flow() -> dict[str, Any]:
    """The sample support line, with prompts the test switch has in both languages."""
    document: dict[str, Any] = json.loads(json.dumps(sample_documents()["support"]))
    for files in document["prompts"].values():
        files["zh"] = files["en"]
    return document


def after_hours_flow() -> dict[str, Any]:
    """The sample after-hours line, closed all week."""
    document: dict[str, Any] = json.loads(
        json.dumps(sample_documents()["after_hours"], default=str)
    )
    document["nodes"]["hours"]["open"] = {}
    document["nodes"]["voicemail"]["max_seconds"] = 3
    return document


TRANSFER = {
    **PROOF,
    "name": "transfer",
    "nodes": {**PROOF["nodes"], "welcome": {"type": "transfer", "destination": "7101"}},
}
TRANSFER["nodes"] = {k: v for k, v in TRANSFER["nodes"].items() if k in ("hours", "welcome", "bye")}


async def live(ivr: Ivr) -> None:
    for number, document in (
        ("8000", PROOF),
        ("8001", CLOSED),
        ("8003", after_hours_flow()),
        ("8004", TRANSFER),
    ):
        info = await ivr.store.create(document)
        await ivr.store.activate(info.name, info.version)
        await ivr.store.bind(number, info.name)
    info = await ivr.store.create(support_flow())
    await ivr.store.activate(info.name, info.version)
    await ivr.store.bind("8002", "support")


async def parked(line: Line, caller: Caller) -> dict[str, str | None]:
    await eventually(lambda: line.parked_with_queue(caller.b_leg) is not None, within=30)
    event = line.parked_with_queue(caller.b_leg)
    assert event is not None
    names = ("cc_queue", "cc_priority", "cc_skills", "cc_customer_id", "cc_language")
    return {name: event.variable(name) for name in names}


async def completed(ivr: Ivr, caller: Caller) -> Any:
    await eventually(
        lambda: any(e.call_id == caller.b_leg for e in ivr.of("call.ivr_completed")), within=20
    )
    return next(e for e in ivr.of("call.ivr_completed") if e.call_id == caller.b_leg).data


async def test_a_vip_caller_is_found_in_the_crm_and_parked_for_routing(
    ivr: Ivr, line: Line
) -> None:
    await live(ivr)
    caller = await line.call("8000", VIP, ivr.port)
    await line.collecting(caller, 1)
    assert line.executed(caller.b_leg, "playback") >= 1  # the greeting
    await caller.press("2")
    variables = await parked(line, caller)
    assert variables == {
        "cc_queue": "banking",
        "cc_priority": "10",
        "cc_skills": "banking",
        "cc_customer_id": "C-1",
        "cc_language": "en",
    }
    data = await completed(ivr, caller)
    assert data.outcome == "queued"
    assert data.selections == ["2"]
    assert data.path[:4] == ["hours", "welcome", "whois", "menu"]
    assert data.flow_version == 1
    started = [e for e in ivr.of("call.ivr_started") if e.call_id == caller.b_leg]
    assert getattr(started[0].data, "dialed_number", None) == "8000"
    assert getattr(started[0].data, "caller_number", None) == VIP
    await eventually(lambda: ivr.runner.stats.active == 0)
    sample = ivr.registry.get_sample_value
    assert sample("cc_ivr_calls_total", {"flow": "proof", "outcome": "queued"}) == 1
    assert sample("cc_ivr_crm_lookups_total", {"status": "found"}) == 1
    assert sample("cc_ivr_active_calls") == 0


async def test_self_service_balance_read_back_then_goodbye(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    caller = await line.call("8000", UNKNOWN, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("1")
    await line.collecting(caller, 2)
    await caller.press(ACCOUNT)
    await eventually(lambda: line.hung_up(caller.b_leg), within=30)
    data = await completed(ivr, caller)
    assert data.outcome == "self_served"
    assert data.path[-3:] == ["balance", "read_balance", "done"]
    assert line.executed(caller.b_leg, "say") == 1
    assert line.parked_with_queue(caller.b_leg) is None


async def test_timeouts_and_invalid_input_take_their_branches(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    silent = await line.call("8000", UNKNOWN, ivr.port)
    wrong = await line.call("8000", UNKNOWN, ivr.port)
    await line.collecting(wrong, 1)
    await wrong.press("9")
    await line.collecting(wrong, 2)
    await wrong.press("7")
    assert (await parked(line, silent))["cc_queue"] == "timeouts"
    assert line.executed(silent.b_leg, "play_and_get_digits") == 2  # one retry
    variables = await parked(line, wrong)
    assert variables["cc_queue"] == "invalid"
    assert variables["cc_skills"] == "unknown"  # the CRM did not know the caller


@pytest.mark.parametrize(
    ("number", "skill"), [(SLOW, "crm_timeout"), (BROKEN, "crm_error"), (GARBAGE, "crm_error")]
)
async def test_crm_failures_take_their_branch(
    ivr: Ivr, line: Line, number: str, skill: str
) -> None:
    await live(ivr)
    caller = await line.call("8000", number, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    variables = await parked(line, caller)
    assert variables["cc_skills"] == f"banking,{skill}"
    assert variables["cc_priority"] == "0"


async def test_an_open_circuit_skips_the_crm(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    for _ in range(3):
        ivr.runner.crm.breaker.failure(time.monotonic())
    caller = await line.call("8000", VIP, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    assert (await parked(line, caller))["cc_skills"] == "banking,crm_circuit"


async def test_after_hours_hangs_up_with_the_ended_outcome(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    caller = await line.call("8001", VIP, ivr.port)
    await eventually(lambda: line.hung_up(caller.b_leg), within=20)
    data = await completed(ivr, caller)
    assert (data.outcome, data.path) == ("ended", ["hours", "bye"])


async def test_language_choice_sets_the_language_and_queue(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    caller = await line.call("8002", UNKNOWN, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    await line.collecting(caller, 2)
    await caller.press("1")
    variables = await parked(line, caller)
    assert (variables["cc_queue"], variables["cc_language"]) == ("sales", "zh")
    assert (await completed(ivr, caller)).language == "zh"


async def test_hanging_up_mid_flow_is_abandoned_in_ivr(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    caller = await line.call("8000", UNKNOWN, ivr.port)
    await line.collecting(caller, 1)
    await caller.hang_up()
    data = await completed(ivr, caller)
    assert data.outcome == "abandoned"
    assert data.path[-1] == "menu"
    await eventually(lambda: ivr.runner.stats.active == 0)
    assert ivr.runner.stats.outcomes.get("abandoned") == 1


async def test_an_ivr_that_is_down_falls_through_to_the_default_queue(ivr: Ivr, line: Line) -> None:
    from cc_sim.switches import free_port

    caller = await line.call("8000", VIP, free_port())  # nothing listens there
    variables = await parked(line, caller)
    assert variables["cc_queue"] == "general"
    assert line.executed(caller.b_leg, "play_and_get_digits") == 0


async def test_after_hours_voicemail_is_recorded_and_tied_to_the_call(
    ivr: Ivr, line: Line, switch: Any
) -> None:
    await live(ivr)
    caller = await line.call("8003", UNKNOWN, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("1")
    await eventually(lambda: line.hung_up(caller.b_leg), within=30)
    data = await completed(ivr, caller)
    assert data.outcome == "voicemail"
    assert data.voicemail_file == f"voicemail-acme-{caller.b_leg}.wav"
    assert line.executed(caller.b_leg, "record") == 1
    if switch.real is not None:  # the real switch wrote the message where the flow said
        recordings = switch.endpoint.work_dir / "recordings"
        await eventually(lambda: (recordings / data.voicemail_file).exists(), within=10)


async def test_a_callback_request_parks_the_caller_with_their_number(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    caller = await line.call("8003", VIP, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    variables = await parked(line, caller)
    assert variables["cc_queue"] == "support"
    event = line.parked_with_queue(caller.b_leg)
    assert event is not None
    assert event.variable("cc_callback_number") == VIP
    assert (await completed(ivr, caller)).outcome == "callback"


async def test_a_transfer_sends_the_call_to_the_extension(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    caller = await line.call("8004", VIP, ivr.port)
    data = await completed(ivr, caller)
    assert data.outcome == "transferred"
    await eventually(lambda: line.executed(caller.b_leg, "transfer") == 1)
    await eventually(
        lambda: any(e.name == "CHANNEL_PARK" and e.unique_id == caller.b_leg for e in line.events)
    )
    assert line.parked_with_queue(caller.b_leg) is None  # at 7101, not in a queue


async def test_a_call_in_progress_finishes_on_the_version_it_started_on(
    ivr: Ivr, line: Line
) -> None:
    await live(ivr)
    first = await line.call("8000", UNKNOWN, ivr.port)
    await line.collecting(first, 1)
    changed = json.loads(json.dumps(PROOF))
    changed["nodes"]["banking"]["queue"] = "banking2"
    info = await ivr.store.create(changed)
    await ivr.store.activate("proof", info.version)
    await first.press("2")
    assert (await parked(line, first))["cc_queue"] == "banking"
    assert (await completed(ivr, first)).flow_version == 1
    second = await line.call("8000", UNKNOWN, ivr.port)
    await line.collecting(second, 1)
    await second.press("2")
    assert (await parked(line, second))["cc_queue"] == "banking2"
    assert (await completed(ivr, second)).flow_version == 2


SURVEYED = {
    **PROOF,
    "name": "surveyed",
    "survey": {
        "sample_rate": 1.0,
        "csat_prompt": "menu",
        "nps_prompt": "account",
        "fcr_prompt": "menu",
        "thanks_prompt": "goodbye",
        "invalid_prompt": "invalid",
        "timeout_seconds": 3,
    },
}


async def talk_to_an_agent_who_hangs_up(line: Line, caller: Caller) -> None:
    """What routing does, by hand: bridge the parked caller to an agent; the agent hangs up."""
    await parked(line, caller)
    job = await line.client.bgapi(f"originate loopback/7101/{CONTEXT} &park()")
    async with asyncio.timeout(20):
        result = await job.result()
    agent = result.text.split()[-1]
    assert (await line.client.api(f"uuid_setvar {caller.b_leg} cc_agent 1001")).ok
    bridged = await line.client.api(f"uuid_bridge {caller.b_leg} {agent}")
    assert bridged.ok, bridged.text
    await asyncio.sleep(1.0)
    await line.client.api(f"uuid_kill {agent}")


async def surveyed(ivr: Ivr, caller: Caller) -> Any:
    await eventually(
        lambda: any(e.call_id == caller.b_leg for e in ivr.of("survey.completed")), within=30
    )
    return next(e for e in ivr.of("survey.completed") if e.call_id == caller.b_leg)


async def test_a_post_call_survey_after_the_agent_hangs_up(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    info = await ivr.store.create(SURVEYED)
    await ivr.store.activate("surveyed", info.version)
    await ivr.store.bind("8005", "surveyed")
    caller = await line.call("8005", VIP, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    await talk_to_an_agent_who_hangs_up(line, caller)
    for count, keys in ((2, "1"), (3, "9#"), (4, "1")):
        await line.collecting(caller, count)
        await caller.press(keys)
    event = await surveyed(ivr, caller)
    assert (event.data.csat, event.data.nps, event.data.fcr) == (1, 9, True)
    assert event.data.queue == "banking"
    assert event.agent_id == "1001"
    await eventually(lambda: line.hung_up(caller.b_leg), within=20)  # thanked and hung up
    assert line.parked_with_queue_count(caller.b_leg) == 1  # never queued again


async def test_a_survey_cut_short_keeps_the_answers_given(ivr: Ivr, line: Line) -> None:
    await live(ivr)
    info = await ivr.store.create(SURVEYED)
    await ivr.store.activate("surveyed", info.version)
    await ivr.store.bind("8005", "surveyed")
    caller = await line.call("8005", UNKNOWN, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    await talk_to_an_agent_who_hangs_up(line, caller)
    await line.collecting(caller, 2)
    await caller.press("3")
    await line.collecting(caller, 3)
    await caller.hang_up()
    event = await surveyed(ivr, caller)
    assert (event.data.csat, event.data.nps, event.data.fcr) == (3, None, None)


MISSING_PROMPTS = {
    **PROOF,
    "name": "missing",
    "prompts": {
        **PROOF["prompts"],
        "welcome": {"en": "prompts/no_such_greeting.wav"},
        "menu": {"en": "prompts/no_such_menu.wav"},
    },
}


async def test_missing_prompt_files_never_leave_the_caller_in_silence(ivr: Ivr, line: Line) -> None:
    info = await ivr.store.create(MISSING_PROMPTS)
    await ivr.store.activate("missing", info.version)
    await ivr.store.bind("8006", "missing")
    caller = await line.call("8006", UNKNOWN, ivr.port)
    assert (await parked(line, caller))["cc_queue"] == "timeouts"  # the menu's timeout branch
    assert (await completed(ivr, caller)).outcome == "queued"


async def test_an_ivr_that_dies_mid_call_lets_the_call_fall_to_the_default_queue(
    ivr: Ivr, line: Line
) -> None:
    await live(ivr)
    caller = await line.call("8000", VIP, ivr.port)
    await line.collecting(caller, 1)
    await ivr.server.close()  # the IVR process goes away with the caller in its menu
    variables = await parked(line, caller)
    assert variables["cc_queue"] == "general"
    assert not line.hung_up(caller.b_leg)

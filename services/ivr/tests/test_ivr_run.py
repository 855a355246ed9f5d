"""One call's walk through a flow, with scripted channel results and a fixed clock."""

from __future__ import annotations

import datetime as dt

from cc_ivr.core import (
    CollectDigits,
    Command,
    Finish,
    FlowRun,
    InputRefused,
    LookupCustomer,
    LookupResult,
    PlayFiles,
    RecordMessage,
    SayValue,
    parse_flow,
)
from cc_ivr.flows import sample_documents

from .test_ivr_pci import PAYMENT

# A Wednesday, 14:00 in London and 09:00 in New York; and a Sunday night.
OPEN = dt.datetime(2026, 12, 9, 14, 0, tzinfo=dt.UTC)
CLOSED = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)
HOLIDAY = dt.datetime(2026, 12, 25, 15, 0, tzinfo=dt.UTC)


def run_of(name: str, now: dt.datetime = OPEN, caller: str = "15551230000") -> FlowRun:
    flow = parse_flow(sample_documents()[name])
    return FlowRun(flow, call_id="c1", caller=caller, dialed="8000", started_at=now)


def drive(run: FlowRun, answers: list[object], now: dt.datetime = OPEN) -> list[Command]:
    """Answer each asking command in turn (plays get None); return every command seen."""
    seen = [run.start(now)]
    pending = list(answers)
    while not isinstance(seen[-1], Finish):
        command = seen[-1]
        asks = isinstance(command, CollectDigits | LookupCustomer)
        result = pending.pop(0) if asks else None
        now += dt.timedelta(seconds=2)
        seen.append(run.resume(result, now))
    assert not pending, f"answers left over: {pending}"
    return seen


def test_bank_balance_read_back_is_self_service() -> None:
    run = run_of("bank")
    seen = drive(
        run,
        [
            LookupResult("found", {"customer_id": "C-7", "vip": "true"}),
            "1",
            "12345678",
            LookupResult("found", {"balance": "1234.50"}),
        ],
    )
    assert isinstance(seen[0], PlayFiles)
    assert seen[0].files == ("prompts/welcome.wav",)
    lookups = [c for c in seen if isinstance(c, LookupCustomer)]
    assert [(c.by, c.key) for c in lookups] == [("caller", "15551230000"), ("account", "12345678")]
    assert SayValue("en", "money", "1234.50") in seen
    finish = seen[-1]
    assert isinstance(finish, Finish)
    assert finish.outcome == "self_served"
    assert finish.hangup
    assert run.choices == ["1"]
    assert run.path[:4] == ["hours", "welcome", "whois", "menu"]
    assert run.seconds > 0


def test_a_vip_found_by_the_crm_is_queued_with_priority_and_skills() -> None:
    run = run_of("bank")
    seen = drive(run, [LookupResult("found", {"customer_id": "C-9", "vip": "yes"}), "2"])
    finish = seen[-1]
    assert isinstance(finish, Finish)
    assert finish.outcome == "queued"
    assert finish.variables == {
        "cc_queue": "banking",
        "cc_priority": "10",
        "cc_language": "en",
        "cc_skills": "banking",
        "cc_customer_id": "C-9",
    }


def test_menu_timeouts_retry_then_take_the_timeout_branch() -> None:
    run = run_of("bank")
    seen = drive(run, [LookupResult("not_found"), "", "", ""])
    collects = [c for c in seen if isinstance(c, CollectDigits)]
    assert len(collects) == 3  # the first try and two retries
    finish = seen[-1]
    assert isinstance(finish, Finish)
    assert finish.queue == "banking"
    assert "cc_customer_id" not in finish.variables
    assert finish.variables["cc_priority"] == "0"


def test_invalid_input_plays_the_invalid_prompt_before_the_retry() -> None:
    run = run_of("bank")
    seen = drive(run, [LookupResult("timeout"), "7", "9", "2"])
    collects = [c for c in seen if isinstance(c, CollectDigits)]
    assert collects[1].files[0] == "prompts/invalid_option.wav"
    assert run.choices == ["2"]


def test_crm_failure_branches_and_a_bad_account_number() -> None:
    run = run_of("bank")
    seen = drive(run, [LookupResult("circuit_open"), "1", "12", "12", "12"])
    assert isinstance(seen[-1], Finish)
    assert seen[-1].queue == "banking"
    run = run_of("bank")
    seen = drive(
        run, [LookupResult("found", {}), "1", "5555", LookupResult("found", {"balance": "lots"})]
    )
    assert not any(isinstance(c, SayValue) for c in seen)  # garbage is never spoken


def test_after_hours_voicemail_and_callback_and_holidays() -> None:
    run = run_of("after_hours", CLOSED)
    seen = drive(run, ["1"], CLOSED)
    assert any(isinstance(c, RecordMessage) for c in seen)
    assert isinstance(seen[-1], Finish)
    assert seen[-1].outcome == "voicemail"
    run = run_of("after_hours", CLOSED)
    seen = drive(run, ["2"], CLOSED)
    finish = seen[-1]
    assert isinstance(finish, Finish)
    assert finish.outcome == "callback"
    assert finish.callback_number == "15551230000"
    assert finish.queue == "support"
    assert not finish.hangup  # parked in the queue; routing turns it into a callback
    assert finish.variables["cc_callback_number"] == "15551230000"
    assert finish.variables["cc_queue"] == "support"
    run = run_of("after_hours", HOLIDAY)
    assert isinstance(run.start(HOLIDAY), CollectDigits)  # closed on the 25th, inside hours
    assert run.path == ["hours", "closed"]
    run = run_of("after_hours", dt.datetime(2026, 12, 9, 15, 0, tzinfo=dt.UTC))
    finish = run.start(dt.datetime(2026, 12, 9, 15, 0, tzinfo=dt.UTC))
    assert isinstance(finish, Finish)
    assert finish.queue == "support"


def test_language_choice_changes_the_prompts_and_the_queue_language() -> None:
    run = run_of("support")
    seen = drive(run, ["2", "2"])
    collects = [c for c in seen if isinstance(c, CollectDigits)]
    assert collects[1].files == ("prompts/zh/press_1_sales_2_support.wav",)
    finish = seen[-1]
    assert isinstance(finish, Finish)
    assert finish.variables["cc_language"] == "zh"
    assert finish.variables["cc_skills"] == "support"
    run = run_of("support")
    finish = drive(run, ["", "", "1"])[-1]
    assert isinstance(finish, Finish)
    assert finish.variables["cc_language"] == "en"


def test_vip_tier_from_the_crm_becomes_a_skill_only_when_it_is_a_valid_name() -> None:
    finish = drive(run_of("vip"), [LookupResult("found", {"vip": "true", "tier": "gold"})])[-1]
    assert isinstance(finish, Finish)
    assert finish.variables["cc_priority"] == "50"
    assert finish.variables["cc_skills"] == "gold"
    finish = drive(run_of("vip"), [LookupResult("found", {"vip": "1", "tier": "a b&c"})])[-1]
    assert isinstance(finish, Finish)
    assert "cc_skills" not in finish.variables
    finish = drive(run_of("vip"), [LookupResult("error")])[-1]
    assert isinstance(finish, Finish)
    assert finish.variables["cc_priority"] == "0"


def test_a_hangup_mid_flow_is_abandoned_in_ivr() -> None:
    run = run_of("bank")
    run.start(OPEN)
    run.abandon(OPEN + dt.timedelta(seconds=7))
    assert run.outcome == "abandoned"
    assert run.seconds == 7.0


def test_a_dtmf_flood_is_invalid_input_not_a_choice() -> None:
    run = run_of("bank")
    seen = drive(run, [LookupResult("not_found"), "1111", "2222", "9999"])
    assert run.choices == []
    finish = seen[-1]
    assert isinstance(finish, Finish)
    assert run.path[-1] == "agent"  # on_invalid


def test_a_sensitive_collection_is_marked_and_a_refusal_is_not_retried() -> None:
    run = FlowRun(
        parse_flow(PAYMENT), call_id="c1", caller="15551230000", dialed="8300", started_at=OPEN
    )
    menu = run.start(OPEN)
    assert isinstance(menu, CollectDigits)
    assert not menu.sensitive
    card = run.resume("1", OPEN)
    assert isinstance(card, CollectDigits)
    assert card.sensitive
    # The recording could not be paused: no second try, straight to the card's failure branch.
    finish = run.resume(InputRefused("recording service unreachable"), OPEN)
    assert isinstance(finish, Finish)
    assert (finish.outcome, finish.queue) == ("queued", "payments")
    assert run.refused == ["card"]
    assert "card" not in run.variables

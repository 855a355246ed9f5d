"""Subscription bookkeeping: what a fresh connection must send to be where the old one was."""

from __future__ import annotations

import pytest

from cc_common.esl.subscriptions import Subscriptions


def _after(*lines: str) -> list[str]:
    state = Subscriptions()
    for line in lines:
        state.apply(line)
    return state.restore_commands()


def test_nothing_asked_means_nothing_to_restore() -> None:
    assert _after() == []


@pytest.mark.parametrize(
    ("lines", "restore"),
    [
        (["event plain ALL"], ["event plain ALL"]),
        (
            ["event plain CHANNEL_PARK", "event json CHANNEL_ANSWER"],
            ["event json CHANNEL_PARK CHANNEL_ANSWER"],
        ),
        (
            ["event plain CHANNEL_PARK CUSTOM sofia::reinvite callcenter::info"],
            ["event plain CHANNEL_PARK CUSTOM sofia::reinvite callcenter::info"],
        ),
        (
            ["event plain CHANNEL_PARK CUSTOM sofia::reinvite", "nixevent CUSTOM sofia::reinvite"],
            ["event plain CHANNEL_PARK CUSTOM"],
        ),
        (
            ["event plain ALL", "nixevent HEARTBEAT RE_SCHEDULE"],
            [
                "event plain ALL",
                "nixevent HEARTBEAT RE_SCHEDULE",
            ],
        ),
        (["event plain ALL", "nixevent HEARTBEAT", "event plain HEARTBEAT"], ["event plain ALL"]),
        (
            ["event plain ALL CUSTOM sofia::reinvite", "nixevent ALL"],
            ["event plain CUSTOM sofia::reinvite"],
        ),
        (["event plain CHANNEL_PARK", "noevents"], []),
        (
            ["event plain CHANNEL_CREATE CHANNEL_ANSWER BACKGROUND_JOB", "nixevent CHANNEL_ANSWER"],
            ["event plain CHANNEL_CREATE BACKGROUND_JOB"],
        ),
    ],
)
def test_event_subscriptions(lines: list[str], restore: list[str]) -> None:
    assert _after(*lines) == restore


def test_filters_are_restored_in_order_and_deletions_are_honoured() -> None:
    restore = _after(
        "event plain ALL",
        "filter Event-Name CHANNEL_PARK",
        "filter Unique-ID 1111",
        "filter Unique-ID 2222",
        "filter Caller-Caller-ID-Name John Smith",
        "filter delete Unique-ID 1111",
        "filter delete Event-Name",
    )
    assert restore == [
        "event plain ALL",
        "filter Unique-ID 2222",
        "filter Caller-Caller-ID-Name John Smith",
    ]
    assert _after("filter A b", "filter delete all") == []


def test_session_flags_come_first_and_last() -> None:
    restore = _after(
        "myevents 5a1b-uuid json", "event json CHANNEL_EXECUTE_COMPLETE", "divert_events on"
    )
    assert restore == [
        "myevents 5a1b-uuid json",
        "event json CHANNEL_EXECUTE_COMPLETE",
        "divert_events on",
    ]

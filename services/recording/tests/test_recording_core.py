"""The pure core: policy decisions, paused stretches, retries, retention and signed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cc_recording.core import retention, signing
from cc_recording.core.policy import Policy, RecordMode, decide, draw
from cc_recording.core.recording import (
    Pause,
    Status,
    Transition,
    close_pauses,
    is_paused,
    next_retry,
    pause,
    resume,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALL, NONE = Policy(RecordMode.ALL), Policy(RecordMode.NONE)


def test_the_most_specific_policy_wins() -> None:
    mono = Policy(RecordMode.ALL, stereo=False)
    assert decide("c", queue=None, agent=None, default=ALL).source == "default"
    assert decide("c", queue=NONE, agent=None, default=ALL).record is False
    chosen = decide("c", queue=NONE, agent=mono, default=ALL)
    assert (chosen.record, chosen.stereo, chosen.source) == (True, False, "agent")
    assert decide("c", queue=ALL, agent=NONE, default=ALL).record is False


def test_a_sampled_share_records_about_that_share_and_the_same_call_decides_the_same() -> None:
    third = Policy(RecordMode.SAMPLED, share=0.3)
    calls = [f"call-{n}" for n in range(4000)]
    recorded = [decide(c, queue=third, agent=None, default=NONE).record for c in calls]
    assert 0.27 < sum(recorded) / len(calls) < 0.33
    again = [decide(c, queue=third, agent=None, default=NONE).record for c in calls]
    assert recorded == again
    never = Policy(RecordMode.SAMPLED, share=0.0)
    always = Policy(RecordMode.SAMPLED, share=1.0)
    assert not any(decide(c, queue=never, agent=None, default=ALL).record for c in calls[:200])
    assert all(decide(c, queue=always, agent=None, default=NONE).record for c in calls[:200])


@given(st.text(min_size=1, max_size=60))
def test_the_draw_is_a_fraction(call_id: str) -> None:
    assert 0.0 <= draw(call_id) < 1.0


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        Policy(RecordMode.SAMPLED, share=share)


def test_pauses_open_and_close_at_offsets_from_the_start() -> None:
    first = pause(Status.RECORDING, [], T0, T0 + timedelta(seconds=2.5), "card")
    assert first == [Pause(2.5, None, "card")]
    assert is_paused(first)
    with pytest.raises(Transition, match="already paused"):
        pause(Status.RECORDING, first, T0, T0 + timedelta(seconds=3), None)
    done = resume(Status.RECORDING, first, T0, T0 + timedelta(seconds=6))
    assert done == [Pause(2.5, 6.0, "card")]
    assert not is_paused(done)
    with pytest.raises(Transition, match="not paused"):
        resume(Status.RECORDING, done, T0, T0 + timedelta(seconds=7))
    second = pause(Status.RECORDING, done, T0, T0 + timedelta(seconds=9), None)
    assert close_pauses(second, 12.0) == [Pause(2.5, 6.0, "card"), Pause(9.0, 12.0, None)]
    assert close_pauses(done, 12.0) == done


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.RECORDING])
def test_only_a_recording_in_progress_is_paused_or_resumed(status: Status) -> None:
    with pytest.raises(Transition, match=status.value):
        pause(status, [], T0, T0, None)
    with pytest.raises(Transition, match=status.value):
        resume(status, [Pause(1.0, None)], T0, T0)


def test_a_pause_before_the_start_counts_from_zero_and_round_trips_as_json() -> None:
    early = pause(Status.RECORDING, [], T0, T0 - timedelta(seconds=1), None)
    assert early[0].start == 0.0
    assert Pause.from_json(Pause(1.25, 3.5, "card").to_json()) == Pause(1.25, 3.5, "card")
    assert Pause.from_json({"start": 1, "end": None}) == Pause(1.0, None, None)


def test_retries_back_off_to_a_ceiling_and_run_out() -> None:
    delays = [next_retry(n, first=1, maximum=10, limit=6) for n in range(6)]
    assert [d.delay_seconds for d in delays] == [1, 2, 4, 8, 10, 10]
    assert [d.exhausted for d in delays] == [False] * 5 + [True]
    assert delays[-1].attempts == 6


def test_retention_expires_unless_held_or_kept_forever() -> None:
    expiry = retention.expires_at(T0, 30)
    assert expiry == T0 + timedelta(days=30)
    assert retention.expires_at(T0, None) is None
    with pytest.raises(ValueError, match="negative"):
        retention.expires_at(T0, -1)
    assert not retention.is_expired(expiry, False, T0 + timedelta(days=29))
    assert retention.is_expired(expiry, False, T0 + timedelta(days=30))
    assert not retention.is_expired(expiry, True, T0 + timedelta(days=300))
    assert not retention.is_expired(None, False, T0 + timedelta(days=3000))


def test_a_signed_link_opens_until_it_expires_and_not_when_altered() -> None:
    key = b"k" * 32
    grant = signing.Grant("rec-1", "sue", int(T0.timestamp()) + 60)
    signature = signing.sign(grant, key)
    signing.verify(grant, signature, key, T0)
    with pytest.raises(signing.BadSignature, match="expired"):
        signing.verify(grant, signature, key, T0 + timedelta(seconds=60))
    for forged in (
        signing.Grant("rec-2", "sue", grant.expires),
        signing.Grant("rec-1", "mallory", grant.expires),
        signing.Grant("rec-1", "sue", grant.expires + 3600),
        signing.Grant("rec-1", "sue", grant.expires, "download"),
    ):
        with pytest.raises(signing.BadSignature, match="does not match"):
            signing.verify(forged, signature, key, T0)
    with pytest.raises(signing.BadSignature):
        signing.verify(grant, signature, b"other-key", T0)

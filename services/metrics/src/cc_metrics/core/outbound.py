"""Outbound facts: what each of the dialer's events adds to its campaign's interval.

Every dialer event counts in the 15-minute interval of its own time: a dial when it was placed,
an answer when the customer was bridged or dropped, a disposition when the agent gave it. A
live answer is a person who picked up (``dialer.connected`` by a human, or no detection, and
``dialer.dropped``); machines are counted apart, so the connect rate and the abandon rule's
denominator are people only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cc_metrics.core.facts import Facts
from cc_metrics.core.intervals import INTERVAL, interval_start
from cc_proto import EventData
from cc_proto.events import DialerAttempted, DialerConnected, DialerDispositioned, DialerDropped

ABANDON_RULE_WINDOW = timedelta(days=30)
"""The abandon rule's rolling window: abandons over live answers of the last 30 days."""

ANSWER_RESULTS = ("connected", "abandoned", "machine")
"""How an answered dial ended: each is a label value of the live answer counter."""


def dialer_facts(data: EventData) -> Facts:
    """Return the campaign facts one dialer event adds (none for any other event)."""
    if isinstance(data, DialerAttempted):
        return {"attempts": 1.0}
    if isinstance(data, DialerConnected):
        if data.answered_by == "machine":
            return {"machine_answers": 1.0}
        return {"live_answers": 1.0, "connected": 1.0, "connect_wait_seconds": data.wait_seconds}
    if isinstance(data, DialerDropped):
        return {"live_answers": 1.0, "abandoned": 1.0, "abandoned_wait_seconds": data.wait_seconds}
    if isinstance(data, DialerDispositioned):
        return {"dispositions": 1.0, "right_party_contacts": 1.0 if data.right_party else 0.0}
    return {}


def answer_result(data: EventData) -> str | None:
    """Return how an answered dial ended (one of :data:`ANSWER_RESULTS`), None for the rest."""
    if isinstance(data, DialerConnected):
        return "machine" if data.answered_by == "machine" else "connected"
    if isinstance(data, DialerDropped):
        return "abandoned"
    return None


def abandon_rule_window(at: datetime) -> tuple[datetime, datetime]:
    """Return the 30 days the abandon rule looks at for ``at``: up to the end of the
    15-minute interval holding it (the data is kept per interval)."""
    end = interval_start(at) + INTERVAL
    return end - ABANDON_RULE_WINDOW, end

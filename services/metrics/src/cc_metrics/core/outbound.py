"""Outbound facts: what each of the dialer's events adds to its campaign's interval.

Every dialer event counts in the 15-minute interval of its own time: a dial when it was placed,
an answer when the customer was bridged or dropped, a disposition when the agent gave it. A
live answer is a person who picked up (``dialer.connected`` by a human, or no detection, and
``dialer.dropped``); machines are counted apart, so the connect rate and the abandon rule's
denominator are people only.

A machine is told by ``dialer.machine_detected``. Before the bridge it is the answer's only
event (a machine answer, at the beep). After the bridge the answer already went out as
``dialer.connected``: the machine event takes that answer back out of the live ones (and its
wait out of the connect wait) and counts it a machine, in the interval the ``dialer.connected``
counted in (the time it names). Facts only add up, so the two events give the same figures in
either order, and a replay is skipped by its event id like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cc_metrics.core.facts import Facts
from cc_metrics.core.intervals import INTERVAL, interval_start
from cc_proto import EventData
from cc_proto.events import (
    DialerAttempted,
    DialerConnected,
    DialerDispositioned,
    DialerDropped,
    DialerMachineDetected,
)

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
    if isinstance(data, DialerMachineDetected):
        if not data.after_bridge:
            return {"machine_answers": 1.0}
        return {
            "machine_answers": 1.0,
            "live_answers": -1.0,
            "connected": -1.0,
            "connect_wait_seconds": -data.connected_wait_seconds,
        }
    return {}


def facts_time(data: EventData, occurred_at: datetime) -> datetime:
    """Return when a dialer event's facts count: its own time, except a machine found after
    the bridge, which corrects the answer where its ``dialer.connected`` counted (the event's
    own time when that is unknown: a call adopted after a restart)."""
    if isinstance(data, DialerMachineDetected) and data.after_bridge and data.connected_at:
        return data.connected_at
    return occurred_at


def answer_result(data: EventData) -> str | None:
    """Return how an answered dial ended (one of :data:`ANSWER_RESULTS`), None for the rest."""
    if isinstance(data, DialerConnected):
        return "machine" if data.answered_by == "machine" else "connected"
    if isinstance(data, DialerDropped):
        return "abandoned"
    if isinstance(data, DialerMachineDetected):
        return "machine"
    return None


def abandon_rule_window(at: datetime) -> tuple[datetime, datetime]:
    """Return the 30 days the abandon rule looks at for ``at``: up to the end of the
    15-minute interval holding it (the data is kept per interval)."""
    end = interval_start(at) + INTERVAL
    return end - ABANDON_RULE_WINDOW, end

"""People on the other end of the simulated lines: agents' phones and callers.

An :class:`AgentPhone` registers as ``user/<id>`` and, when rung, answers after a delay, lets
it ring out, is busy, or rejects, then hangs up after a talk time (or leaves it to the
platform). A :class:`CallerScript` dials in, presses DTMF when answered, and hangs up when its
patience runs out before an agent takes the call, or after talking. Outbound numbers dialled
through ``sofia/gateway/<name>/<number>`` reach :class:`Callee` plans in the directory.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["answer", "no_answer", "busy", "reject", "unreachable"]

CAUSE_BY_OUTCOME: dict[str, str] = {
    "busy": "USER_BUSY",
    "reject": "CALL_REJECTED",
    "unreachable": "NORMAL_TEMPORARY_FAILURE",
}
"""The hangup cause FreeSWITCH reports for each way a far end can refuse a call."""


@dataclass(frozen=True, slots=True)
class AnswerPlan:
    """What a rung phone does: its outcome, when, and how long it talks once answered."""

    outcome: Outcome = "answer"
    after_seconds: float = 1.0
    talk_seconds: float | None = None
    early_media: bool = False


@dataclass(slots=True)
class AgentPhone:
    """An agent's SIP phone: registered or not, and a behaviour when it rings."""

    user: str
    registered: bool = True
    answer_delay: tuple[float, float] = (1.0, 3.0)
    """Seconds from ringing to answering: uniform in this range."""
    no_answer_probability: float = 0.0
    busy_probability: float = 0.0
    reject_probability: float = 0.0
    talk_seconds: tuple[float, float] | None = None
    """When set, the agent hangs up this long after answering (uniform range)."""
    plans: list[AnswerPlan] = field(default_factory=list)
    """Scripted answers, used in order before the probabilities (tests use these)."""
    wrap_up_seconds: tuple[float, float] | None = None
    """After a call the agent is busy (the phone answers busy) this long (uniform range)."""
    calls: int = 0
    busy_until_us: int = 0
    in_call: bool = False

    def plan(self, rng: random.Random, now_us: int = 0) -> AnswerPlan:
        """Decide what happens on the next ring."""
        self.calls += 1
        if self.plans:
            return self.plans.pop(0)
        if self.in_call or now_us < self.busy_until_us:
            return AnswerPlan("busy", 0.1)
        roll = rng.random()
        delay = rng.uniform(*self.answer_delay)
        talk = rng.uniform(*self.talk_seconds) if self.talk_seconds else None
        if roll < self.busy_probability:
            return AnswerPlan("busy", 0.2)
        roll -= self.busy_probability
        if roll < self.reject_probability:
            return AnswerPlan("reject", delay)
        roll -= self.reject_probability
        if roll < self.no_answer_probability:
            return AnswerPlan("no_answer", delay)
        return AnswerPlan("answer", delay, talk)

    def call_ended(self, now_us: int, rng: random.Random) -> None:
        """The agent's call is over: wrap-up starts (the phone is busy until it ends)."""
        self.in_call = False
        if self.wrap_up_seconds:
            self.busy_until_us = now_us + int(rng.uniform(*self.wrap_up_seconds) * 1_000_000)


@dataclass(slots=True)
class Callee:
    """A number reachable through a gateway (outbound dialling): same choices as a phone."""

    plans: list[AnswerPlan] = field(default_factory=list)
    default: AnswerPlan = field(default_factory=lambda: AnswerPlan("answer", 2.0, 30.0))

    def plan(self, rng: random.Random) -> AnswerPlan:
        """Decide what happens on the next call to this number."""
        if self.plans:
            return self.plans.pop(0)
        return self.default


@dataclass(slots=True)
class CallerScript:
    """A caller: patience in queue, digits to press once answered, talk time with an agent."""

    patience_seconds: float | None = None
    """Hang up (ORIGINATOR_CANCEL before answer, NORMAL_CLEARING after) if not bridged by then."""
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    """(seconds after answer, digits) to press, e.g. the IVR menu choice."""
    talk_seconds: float | None = None
    """Hang up this long after being bridged to an agent (None: wait for the agent)."""
    on_done: Callable[[str, str], None] | None = None
    """Told (hangup cause, outcome) when the call ends: outcome is ``completed`` (talked to an
    agent), ``abandoned`` (patience ran out) or ``ended`` (anything else)."""
    on_bridged: Callable[[], None] | None = None
    """Told when the caller is bridged to someone (an agent)."""


@dataclass(slots=True)
class Directory:
    """Registered phones and reachable numbers."""

    users: dict[str, AgentPhone] = field(default_factory=dict)
    callees: dict[str, Callee] = field(default_factory=dict)
    default_callee: Callee | None = field(default_factory=Callee)
    rng: random.Random = field(default_factory=random.Random)

    def register(self, phone: AgentPhone) -> AgentPhone:
        """Register (or replace) a phone."""
        phone.registered = True
        self.users[phone.user] = phone
        return phone

    def unregister(self, user: str) -> None:
        """Take a phone offline (calls to it fail with USER_NOT_REGISTERED)."""
        phone = self.users.get(user)
        if phone is not None:
            phone.registered = False

    def phone(self, user: str) -> AgentPhone | None:
        """Return the registered phone of ``user`` (``1001`` or ``1001@domain``)."""
        found = self.users.get(user.split("@", 1)[0])
        return found if found is not None and found.registered else None

    def callee(self, number: str) -> Callee | None:
        """Return who answers ``number`` on a gateway (None: nobody, the call fails)."""
        return self.callees.get(number, self.default_callee)

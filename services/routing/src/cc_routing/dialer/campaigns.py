"""Campaigns: how a list is called (mode, agents, caller id, hours, retries), their life cycle."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cc_common.names import Label, Name
from cc_routing.dialer.pacing import DialMode

SOUND_PATTERN = r"^[\w][\w./:@+\-]*$"
ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
"""Campaign names, list ids, lead and import ids: ASCII, no spaces, nothing PostgreSQL refuses."""
MAX_CAMPAIGN_NAME = 200
"""As long as a campaign name or a list id may be (the width of their columns)."""
MAX_ID = 64
"""As long as a lead or import id may be (the dialer hands out 32 hex digits)."""

CampaignName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CAMPAIGN_NAME, pattern=ID_PATTERN)
]
"""A campaign's name (or a list id) in a request body."""


class CampaignError(ValueError):
    """A request a campaign cannot honour in its current state."""


class Outcome(StrEnum):
    """How one dial attempt ended."""

    CONNECTED = "connected"
    """A live customer reached an agent."""
    ABANDONED = "abandoned"
    """A live customer answered and no agent came within the grace."""
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"
    FAILED = "failed"
    """The network refused the call (bad number, congestion...)."""


RETRYABLE = (Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.FAILED)


class RetryRule(BaseModel):
    """When to try a lead again after an outcome, and how many attempts in all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delay_seconds: float = Field(ge=0, le=30 * 86400)
    max_attempts: int = Field(ge=1, le=100)


class CallingWindow(BaseModel):
    """Hours a callee may be called, in the callee's local time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(9, 0)
    end: time = time(21, 0)
    days: frozenset[int] = Field(default=frozenset(range(7)))
    """ISO weekdays allowed, Monday = 1 ... Sunday = 7 (0 also means Sunday)."""

    @field_validator("start", "end")
    @classmethod
    def _local(cls, value: time) -> time:
        """A window is in each callee's own local time: an offset has no meaning here (and an
        aware time cannot be compared with the naive clock times it is checked against)."""
        if value.tzinfo is not None:
            raise ValueError("calling window times are local: give no UTC offset or Z")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> CallingWindow:
        if self.end <= self.start:
            raise ValueError("calling window end must be after its start")
        if not self.days <= frozenset(range(8)):
            raise ValueError("days are ISO weekdays 1-7")
        return self


class DispositionEffect(StrEnum):
    """What an agent's disposition does to the lead."""

    CLOSE = "close"
    """The lead is done (a sale, no interest, the wrong party...)."""
    RETRY = "retry"
    """Dial again after a delay, within a number of attempts."""
    CALLBACK = "callback"
    """Dial again at the time the agent gives (for them, or anyone)."""
    DNC = "dnc"
    """The number goes on the tenant's do-not-call list; the lead is closed."""


class DispositionRule(BaseModel):
    """What one disposition does; ``retry`` needs its rule (delay and attempts in all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: DispositionEffect
    retry: RetryRule | None = None

    @model_validator(mode="after")
    def _retry_has_a_rule(self) -> DispositionRule:
        if (self.effect is DispositionEffect.RETRY) != (self.retry is not None):
            raise ValueError("a retry disposition, and only it, has a retry rule")
        return self


DEFAULT_RIGHT_PARTY = frozenset({"sale", "no_sale", "callback"})
"""Dispositions that mean the agent spoke with the person sought, unless the campaign names
its own ``right_party`` set (``dnc``, ``wrong_party`` and any other are not)."""

DEFAULT_DISPOSITION_EFFECTS = {
    "callback": DispositionEffect.CALLBACK,
    "dnc": DispositionEffect.DNC,
}
"""Dispositions named so act so unless the campaign says otherwise; any other closes the lead."""


@dataclass(frozen=True, slots=True)
class Disposed:
    """What becomes of a lead after the agent's disposition."""

    effect: DispositionEffect
    due_at: float | None
    """When to dial it again (retry, callback); None: it is closed."""


_CALLER_ID = re.compile(r"\+?[0-9]{3,20}")
"""Matched whole: ``$`` would let a trailing line break through into the originate command."""
_DEFAULT_RETRIES = {
    Outcome.BUSY: RetryRule(delay_seconds=600, max_attempts=3),
    Outcome.NO_ANSWER: RetryRule(delay_seconds=3600, max_attempts=3),
    Outcome.MACHINE: RetryRule(delay_seconds=4 * 3600, max_attempts=2),
    Outcome.FAILED: RetryRule(delay_seconds=3600, max_attempts=2),
}


class CampaignConfig(BaseModel):
    """A campaign as an administrator defines it."""

    model_config = ConfigDict(extra="forbid")

    name: CampaignName
    mode: DialMode = DialMode.PROGRESSIVE
    agents: list[Name] = Field(default_factory=list, max_length=5000)
    teams: list[Name] = Field(default_factory=list, max_length=500)
    caller_id: str
    calling_window: CallingWindow = CallingWindow()
    country_windows: dict[str, CallingWindow] = Field(default_factory=dict)
    """Per ISO country (region code, e.g. ``FR``): overrides the campaign's window there."""
    retries: dict[Outcome, RetryRule] = Field(default_factory=lambda: dict(_DEFAULT_RETRIES))
    dispositions: list[Label] = Field(
        default_factory=lambda: ["sale", "no_sale", "callback", "dnc"], max_length=200
    )
    disposition_rules: dict[Label, DispositionRule] = Field(default_factory=dict)
    """What a disposition does to its lead, by disposition; unnamed ones act by default
    (``callback`` books a callback, ``dnc`` blocks the number, any other closes the lead)."""
    right_party: list[Label] | None = Field(default=None, max_length=200)
    """The dispositions that count as a right-party contact (the agent reached the person
    sought); None: those of the set named in :data:`DEFAULT_RIGHT_PARTY`."""
    wrap_up_seconds: float | None = Field(default=None, ge=0, le=3600)
    """Wrap-up after each outbound call before the agent's next one (for the disposition);
    None: the agent's own wrap-up, as after a queue call without its own setting."""
    detect_machines: bool = False
    """Answering-machine detection (mod_avmd's beep) on every answer. The answer is bridged to
    an agent at once all the same (2-second rule); a beep after the bridge takes the customer
    back from the agent. Off: machines reach agents, who dispose of them."""
    machine_action: Literal["hangup", "message"] = "hangup"
    machine_message: str | None = Field(default=None, max_length=500, pattern=SOUND_PATTERN)
    """A sound file the switch plays to a machine: a path, no spaces, variables or commands."""
    abandon_cap: float = Field(default=0.03, gt=0, le=0.2)

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        if not _CALLER_ID.fullmatch(value):
            raise ValueError("caller id must be digits, optionally with a leading +")
        return value

    @field_validator("country_windows")
    @classmethod
    def _countries(cls, value: dict[str, CallingWindow]) -> dict[str, CallingWindow]:
        for code in value:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"country {code!r} is not an ISO 3166 code like FR")
        return value

    @field_validator("retries")
    @classmethod
    def _retries(cls, value: dict[Outcome, RetryRule]) -> dict[Outcome, RetryRule]:
        wrong = set(value) - set(RETRYABLE)
        if wrong:
            raise ValueError(f"no retry for {sorted(wrong)}: only busy, no_answer, machine, failed")
        return value

    @model_validator(mode="after")
    def _staffed_and_consistent(self) -> CampaignConfig:
        if not self.agents and not self.teams:
            raise ValueError("a campaign needs agents or teams")
        if self.machine_action == "message" and not self.machine_message:
            raise ValueError("machine_action 'message' needs a machine_message")
        unknown = sorted(set(self.disposition_rules) - set(self.dispositions))
        if unknown:
            raise ValueError(f"disposition_rules name dispositions not in the set: {unknown}")
        strays = sorted(set(self.right_party or ()) - set(self.dispositions))
        if strays:
            raise ValueError(f"right_party names dispositions not in the set: {strays}")
        return self

    def is_right_party(self, disposition: str) -> bool:
        """Whether ``disposition`` counts as a right-party contact (for the outbound KPIs)."""
        if self.right_party is None:
            return disposition in DEFAULT_RIGHT_PARTY and disposition in self.dispositions
        return disposition in self.right_party

    def disposition_rule(self, disposition: str) -> DispositionRule:
        """What ``disposition`` does (CampaignError when it is not one of the campaign's)."""
        if disposition not in self.dispositions:
            raise CampaignError(
                f"{disposition!r} is not a disposition of {self.name!r}: "
                f"one of {sorted(self.dispositions)}"
            )
        effect = DEFAULT_DISPOSITION_EFFECTS.get(disposition, DispositionEffect.CLOSE)
        return self.disposition_rules.get(disposition, DispositionRule(effect=effect))

    def window_for(self, region: str | None) -> CallingWindow:
        """The calling window for a callee in ``region`` (the campaign's unless overridden)."""
        return self.country_windows.get(region or "", self.calling_window)


class CampaignState(StrEnum):
    """Whether a campaign dials."""

    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


_MOVES = {
    "start": ({CampaignState.STOPPED, CampaignState.PAUSED}, CampaignState.RUNNING),
    "pause": ({CampaignState.RUNNING}, CampaignState.PAUSED),
    "stop": ({CampaignState.RUNNING, CampaignState.PAUSED}, CampaignState.STOPPED),
}


def change_state(current: CampaignState, action: str) -> CampaignState:
    """Start, pause or stop; raises :class:`CampaignError` for a move that makes no sense."""
    if action not in _MOVES:
        raise CampaignError(f"unknown action {action!r}: start, pause or stop")
    allowed, target = _MOVES[action]
    if current not in allowed:
        raise CampaignError(f"cannot {action} a campaign that is {current.value}")
    return target


def next_attempt_at(
    config: CampaignConfig, outcome: Outcome, attempts: int, now: float
) -> float | None:
    """When to dial again after ``attempts`` tries ended this way; None when the lead is done."""
    rule = config.retries.get(outcome)
    return None if rule is None else _due(rule, attempts, now)


def dispose(
    config: CampaignConfig,
    disposition: str,
    attempts: int,
    now: float,
    callback_at: float | None = None,
) -> Disposed:
    """What the agent's disposition after ``attempts`` dials does to the lead.

    Raises :class:`CampaignError` for a disposition the campaign does not have, a callback
    without its time, or a time given for another disposition.
    """
    rule = config.disposition_rule(disposition)
    if rule.effect is DispositionEffect.CALLBACK:
        if callback_at is None:
            raise CampaignError(f"disposition {disposition!r} books a callback: give callback_at")
        return Disposed(rule.effect, max(callback_at, now))
    if callback_at is not None:
        raise CampaignError(f"disposition {disposition!r} books no callback: no callback_at")
    due = None if rule.retry is None else _due(rule.retry, attempts, now)
    return Disposed(rule.effect, due)


def _due(rule: RetryRule, attempts: int, now: float) -> float | None:
    """When to dial again by ``rule`` after ``attempts`` dials; None when they are used up."""
    return None if attempts >= rule.max_attempts else now + rule.delay_seconds

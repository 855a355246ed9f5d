"""What an administrator configures: queues, agents, tiers, destinations; checked on the way in."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from cc_common.names import label_problem, name_problem
from cc_routing.core.expressions import (
    MAX_PROFICIENCY,
    ExpressionError,
    Requirement,
    parse_requirement,
)

MAX_NAME = 200
"""Longest contact or destination the event contracts accept."""
MAX_SOUND = 500
"""Longest music-on-hold path or stream."""
MAX_REQUIREMENT = 1000
"""Longest skill requirement expression."""
MAX_STEPS = 20
MAX_SKILLS = 100
MAX_TIERS = 500
MAX_CODES = 200
MAX_SECONDS = 7 * 86400.0
"""Longest timer any queue or agent may set: a week."""
MAX_COUNT = 1_000_000


class ConfigError(ValueError):
    """A queue or agent configuration that cannot be used; the message names the field."""


class Strategy(StrEnum):
    """How a queue orders the agents it may offer a call to (mod_callcenter's names)."""

    LONGEST_IDLE_AGENT = "longest-idle-agent"
    RING_ALL = "ring-all"
    ROUND_ROBIN = "round-robin"
    TOP_DOWN = "top-down"
    AGENT_WITH_LEAST_TALK_TIME = "agent-with-least-talk-time"
    AGENT_WITH_FEWEST_CALLS = "agent-with-fewest-calls"
    SEQUENTIALLY_BY_AGENT_ORDER = "sequentially-by-agent-order"
    RANDOM = "random"
    RING_PROGRESSIVELY = "ring-progressively"


DestinationKind = Literal["queue", "transfer", "hangup"]


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a call goes when it leaves a queue other than to an agent."""

    kind: DestinationKind
    target: str = ""

    @classmethod
    def parse(cls, text: str) -> Destination:
        """Read ``queue:<name>``, ``transfer:<extension> [dialplan] [context]`` or ``hangup``."""
        kind, _, target = text.strip().partition(":")
        if kind == "hangup" and not target:
            return cls("hangup", "NORMAL_CLEARING")
        if kind in ("queue", "transfer", "hangup") and target.strip():
            return cls(kind, target.strip())  # type: ignore[arg-type]
        raise ConfigError(
            f"destination {text!r}: expected 'queue:<name>', 'transfer:<target>' or 'hangup'"
        )

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def check_destination(destination: Destination, where: str) -> None:
    """Refuse a destination that is not one of the kinds, too long, or unsafe to hand the switch."""
    if len(str(destination)) > MAX_NAME:
        raise ConfigError(f"{where}: destination longer than {MAX_NAME} characters")
    if destination.kind not in ("queue", "transfer", "hangup") or not destination.target.strip():
        raise ConfigError(f"{where}: {destination!r} is not a usable destination")
    target = destination.target
    if destination.kind == "queue":
        problem = name_problem(target, "queue name")
    elif destination.kind == "hangup":
        problem = None if _CAUSE.fullmatch(target) else "a hangup cause is like USER_BUSY"
    else:
        problem = None if _TRANSFER.fullmatch(target) else _TRANSFER_FORM
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")


_CAUSE = re.compile(r"[A-Z][A-Z0-9_]{0,49}")
_TRANSFER = re.compile(r"[\w+*#.@:\-]{1,80}(?: [\w.\-]{1,40}){0,2}")
_TRANSFER_FORM = (
    "a transfer is '<extension> [dialplan] [context]': single spaces; "
    "letters, digits and + * # . @ : -"
)


# --- what reaches FreeSWITCH --------------------------------------------------------------------

_ENDPOINT = re.compile(r"[a-z][a-z0-9_.]{0,31}/[A-Za-z0-9_.+\-/@:=;%#*~]+")
_SOUND = re.compile(r"[A-Za-z0-9_.+\-/@:=;%#*~,()]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def dial_string_problem(text: str) -> str | None:
    """Say why ``text`` is not one FreeSWITCH endpoint (``<module>/<target>``), or None.

    It is sent inside ``originate {variables}<text> &park()``: whitespace or a line break would
    end the argument (or the command), ``&`` starts a dialplan application, ``{}``/``[]`` blocks
    and ``${}`` set or expand channel variables (routing writes its own block), ``,`` and ``|``
    ring further endpoints.
    """
    if not text.strip():
        return "a dial string is required"
    if len(text) > MAX_NAME:
        return f"a dial string is at most {MAX_NAME} characters"
    if _CONTROL.search(text) or any(char.isspace() for char in text):
        return "a dial string may not contain whitespace or line breaks"
    if "&" in text:
        return "a dial string may not contain '&' (it would start a dialplan application)"
    if "$" in text:
        return "a dial string may not expand variables ('$')"
    if any(char in text for char in "{}[]"):
        return "a dial string may not carry a {...} or [...] variable block (routing sets its own)"
    if "," in text or "|" in text:
        return "a dial string names one endpoint (no ',' or '|')"
    if _ENDPOINT.fullmatch(text) is None:
        return (
            "a dial string is '<endpoint>/<target>' (like user/1001 or sofia/gateway/carrier/123) "
            "of letters, digits and _ . + - / @ : = ; % # * ~"
        )
    return None


def check_dial_string(text: str, where: str) -> None:
    """Raise :class:`ConfigError` unless ``text`` is one safe FreeSWITCH endpoint."""
    problem = dial_string_problem(text)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")


def sound_problem(text: str) -> str | None:
    """Say why ``text`` is no sound file or stream to play (``uuid_broadcast``), or None."""
    if not text:
        return "a sound is a file path or a stream like local_stream://moh"
    if len(text) > MAX_SOUND:
        return f"a sound is at most {MAX_SOUND} characters"
    if _CONTROL.search(text) or any(char.isspace() for char in text):
        return "a sound may not contain whitespace or line breaks"
    if "::" in text or "$" in text:
        return "a sound may not name an application ('::') or expand variables ('$')"
    if _SOUND.fullmatch(text) is None:
        return "a sound may hold letters, digits and _ . + - / @ : = ; % # * ~ , ( )"
    return None


@dataclass(frozen=True, slots=True)
class RelaxationStep:
    """From ``after_seconds`` of waiting on, the call needs ``requirement`` (None: any member)."""

    after_seconds: float
    requirement: str | None


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue as configured; see the README for each behaviour."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE_AGENT
    requirements: tuple[RelaxationStep, ...] = ()
    ring_timeout_seconds: float = 20.0
    ring_progressively_delay_seconds: float = 10.0
    wrap_up_seconds: float | None = None
    service_level_threshold_seconds: float = 20.0
    service_level_target: float = 0.8
    service_level_window_seconds: float = 900.0
    short_abandon_seconds: float = 5.0
    max_wait_seconds: float | None = None
    max_wait_destination: Destination | None = None
    overflow_after_seconds: float | None = None
    overflow_destination: Destination | None = None
    max_length: int | None = None
    full_destination: Destination | None = None
    no_agents: Literal["queue", "block"] = "queue"
    no_agents_destination: Destination | None = None
    max_wait_no_agents_seconds: float | None = None
    fallback: Destination | None = None
    music_on_hold: str | None = None
    announce_every_seconds: float | None = None
    expected_handle_seconds: float = 180.0
    callback_retry_seconds: float = 300.0
    callback_max_attempts: int = 3
    callback_dial_timeout_seconds: float = 30.0
    disposition_codes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    """An agent's membership of one queue: lower level first, then position (mod_callcenter)."""

    level: int = 1
    position: int = 1


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One agent: how to reach them, what they know, which queues they serve."""

    agent_id: str
    contact: str
    skills: Mapping[str, int] = field(default_factory=dict)
    tiers: Mapping[str, Tier] = field(default_factory=dict)
    team: str | None = None
    wrap_up_seconds: float = 0.0
    max_no_answer: int = 3
    no_answer_delay_seconds: float = 0.0
    busy_delay_seconds: float = 0.0
    reject_delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class CompiledQueue:
    """A queue config with its requirement steps parsed, ready for routing."""

    config: QueueConfig
    steps: tuple[tuple[float, Requirement | None], ...]


def check_queue_input(config: QueueConfig) -> None:
    """Refuse names, sounds, codes and sizes no queue may have (before anything remembers them)."""
    if not isinstance(config.name, str) or not config.name.strip():
        raise ConfigError("a queue needs a name")
    problem = name_problem(config.name, "queue name")
    if problem is not None:
        raise ConfigError(problem)
    where = f"queue {config.name!r}"
    if config.music_on_hold is not None and (problem := sound_problem(config.music_on_hold)):
        raise ConfigError(f"{where}: music_on_hold: {problem}")
    if len(config.requirements) > MAX_STEPS:
        raise ConfigError(f"{where}: at most {MAX_STEPS} requirement steps")
    for index, step in enumerate(config.requirements):
        if step.requirement is not None and len(step.requirement) > MAX_REQUIREMENT:
            raise ConfigError(
                f"{where}: requirement step {index + 1} is longer than {MAX_REQUIREMENT} characters"
            )
    codes = config.disposition_codes or ()
    if len(codes) > MAX_CODES:
        raise ConfigError(f"{where}: at most {MAX_CODES} disposition codes")
    for code in codes:
        if problem := label_problem(code, "disposition code"):
            raise ConfigError(f"{where}: {problem}")


def compile_queue(config: QueueConfig, *, known_skills: Collection[str] | None) -> CompiledQueue:
    """Check every field of a queue and parse its requirements, or raise :class:`ConfigError`."""
    check_queue_input(config)
    try:
        strategy = Strategy(config.strategy)
    except ValueError:
        names = ", ".join(s.value for s in Strategy)
        raise ConfigError(
            f"queue {config.name!r}: unknown strategy {config.strategy!r} (one of {names})"
        ) from None
    config = replace(config, strategy=strategy)
    _check_queue_numbers(config)
    steps: list[tuple[float, Requirement | None]] = []
    previous = -1.0
    for index, step in enumerate(config.requirements):
        if step.after_seconds <= previous or step.after_seconds < 0:
            raise ConfigError(
                f"queue {config.name!r}: relaxation step {index + 1} must come later than the one "
                f"before (after_seconds {step.after_seconds})"
            )
        if index == 0 and step.after_seconds != 0:
            raise ConfigError(f"queue {config.name!r}: the first requirement step must start at 0")
        previous = step.after_seconds
        steps.append((step.after_seconds, _parse_step(config.name, index, step, known_skills)))
    if not steps:
        steps.append((0.0, None))
    return CompiledQueue(config, tuple(steps))


def _parse_step(
    queue: str, index: int, step: RelaxationStep, known: Collection[str] | None
) -> Requirement | None:
    """Parse one relaxation step's expression, naming the queue and step in any error."""
    if step.requirement is None or not step.requirement.strip():
        return None
    try:
        return parse_requirement(step.requirement, known_skills=known)
    except ExpressionError as exc:
        raise ConfigError(f"queue {queue!r}, requirement step {index + 1}: {exc}") from None


def _check_queue_numbers(config: QueueConfig) -> None:
    """Reject impossible numbers and names too long for the event contracts."""
    destinations = {
        "max_wait_destination": config.max_wait_destination,
        "overflow_destination": config.overflow_destination,
        "full_destination": config.full_destination,
        "no_agents_destination": config.no_agents_destination,
        "fallback": config.fallback,
    }
    for name, destination in destinations.items():
        if destination is not None:
            check_destination(destination, f"queue {config.name!r}: {name}")
    positive = {
        "ring_timeout_seconds": config.ring_timeout_seconds,
        "ring_progressively_delay_seconds": config.ring_progressively_delay_seconds,
        "service_level_threshold_seconds": config.service_level_threshold_seconds,
        "service_level_window_seconds": config.service_level_window_seconds,
        "expected_handle_seconds": config.expected_handle_seconds,
        "callback_dial_timeout_seconds": config.callback_dial_timeout_seconds,
        "max_wait_seconds": config.max_wait_seconds,
        "overflow_after_seconds": config.overflow_after_seconds,
        "max_wait_no_agents_seconds": config.max_wait_no_agents_seconds,
        "announce_every_seconds": config.announce_every_seconds,
    }
    for name, value in positive.items():
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"queue {config.name!r}: {name} must be a positive number")
        if value is not None and value > MAX_SECONDS:
            raise ConfigError(f"queue {config.name!r}: {name} is at most {MAX_SECONDS:.0f}")
    non_negative = {
        "wrap_up_seconds": config.wrap_up_seconds,
        "short_abandon_seconds": config.short_abandon_seconds,
        "callback_retry_seconds": config.callback_retry_seconds,
    }
    for name, value in non_negative.items():
        if value is not None and not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"queue {config.name!r}: {name} must be zero or more")
        if value is not None and value > MAX_SECONDS:
            raise ConfigError(f"queue {config.name!r}: {name} is at most {MAX_SECONDS:.0f}")
    if not 0 < config.service_level_target <= 1:
        raise ConfigError(f"queue {config.name!r}: service_level_target must be in (0, 1]")
    if config.max_length is not None and not 0 <= config.max_length <= MAX_COUNT:
        raise ConfigError(f"queue {config.name!r}: max_length must be 0-{MAX_COUNT}")
    if not 1 <= config.callback_max_attempts <= 100:
        raise ConfigError(f"queue {config.name!r}: callback_max_attempts must be 1-100")


def check_agent(config: AgentConfig) -> None:
    """Reject an agent whose proficiencies, tiers or timers make no sense."""
    if not config.agent_id:
        raise ConfigError("an agent needs an id")
    if problem := name_problem(config.agent_id, "agent id"):
        raise ConfigError(problem)
    if not config.contact or not config.contact.strip():
        raise ConfigError(f"agent {config.agent_id!r}: contact (a dial string) is required")
    check_dial_string(config.contact, f"agent {config.agent_id!r}: contact")
    if config.team is not None and (problem := name_problem(config.team, "team")):
        raise ConfigError(f"agent {config.agent_id!r}: {problem}")
    _check_names(config)
    for skill, level in config.skills.items():
        if not isinstance(level, int) or not 1 <= level <= MAX_PROFICIENCY:
            raise ConfigError(
                f"agent {config.agent_id!r}: proficiency of {skill!r} must be 1-{MAX_PROFICIENCY}"
            )
    for queue, tier in config.tiers.items():
        if not (0 <= tier.level <= MAX_COUNT and 0 <= tier.position <= MAX_COUNT):
            raise ConfigError(
                f"agent {config.agent_id!r}: tier for {queue!r} must be 0-{MAX_COUNT}"
            )
    timers = {
        "wrap_up_seconds": config.wrap_up_seconds,
        "no_answer_delay_seconds": config.no_answer_delay_seconds,
        "busy_delay_seconds": config.busy_delay_seconds,
        "reject_delay_seconds": config.reject_delay_seconds,
    }
    for name, value in timers.items():
        if not (value >= 0 and math.isfinite(value)) or value > MAX_SECONDS:
            raise ConfigError(
                f"agent {config.agent_id!r}: {name} must be 0-{MAX_SECONDS:.0f} seconds"
            )
    if not 0 <= config.max_no_answer <= 1000:
        raise ConfigError(f"agent {config.agent_id!r}: max_no_answer must be 0-1000")


_SKILL = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _check_names(config: AgentConfig) -> None:
    """Refuse skill and tier names no expression or queue could use, and too many of them."""
    where = f"agent {config.agent_id!r}"
    if len(config.skills) > MAX_SKILLS or len(config.tiers) > MAX_TIERS:
        raise ConfigError(f"{where}: at most {MAX_SKILLS} skills and {MAX_TIERS} tiers")
    for skill in config.skills:
        if problem := name_problem(skill, "skill name"):
            raise ConfigError(f"{where}: {problem}")
        if _SKILL.fullmatch(skill) is None:
            raise ConfigError(
                f"{where}: skill name {skill!r} must start with a letter or _ and hold only "
                "letters, digits and _ . -"
            )
    for queue in config.tiers:
        if problem := name_problem(queue, "tier queue name"):
            raise ConfigError(f"{where}: {problem}")

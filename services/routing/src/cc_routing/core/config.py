"""What an administrator configures: queues, agents, tiers, destinations; checked on the way in."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from cc_routing.core.expressions import (
    MAX_PROFICIENCY,
    ExpressionError,
    Requirement,
    parse_requirement,
)

MAX_NAME = 200
"""Longest queue name, contact or destination the event contracts accept."""


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
    """Refuse a destination that is not one of the kinds or too long to publish."""
    if destination.kind not in ("queue", "transfer", "hangup") or not destination.target.strip():
        raise ConfigError(f"{where}: {destination!r} is not a usable destination")
    if len(str(destination)) > MAX_NAME:
        raise ConfigError(f"{where}: destination longer than {MAX_NAME} characters")


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


def compile_queue(config: QueueConfig, *, known_skills: Collection[str] | None) -> CompiledQueue:
    """Check every field of a queue and parse its requirements, or raise :class:`ConfigError`."""
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
    if not config.name or not config.name.strip():
        raise ConfigError("a queue needs a name")
    if len(config.name) > MAX_NAME:
        raise ConfigError(f"queue name longer than {MAX_NAME} characters: {config.name[:40]}...")
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
    non_negative = {
        "wrap_up_seconds": config.wrap_up_seconds,
        "short_abandon_seconds": config.short_abandon_seconds,
        "callback_retry_seconds": config.callback_retry_seconds,
    }
    for name, value in non_negative.items():
        if value is not None and not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"queue {config.name!r}: {name} must be zero or more")
    if not 0 < config.service_level_target <= 1:
        raise ConfigError(f"queue {config.name!r}: service_level_target must be in (0, 1]")
    if config.max_length is not None and config.max_length < 0:
        raise ConfigError(f"queue {config.name!r}: max_length must be zero or more")
    if config.callback_max_attempts < 1:
        raise ConfigError(f"queue {config.name!r}: callback_max_attempts must be at least 1")


def check_agent(config: AgentConfig) -> None:
    """Reject an agent whose proficiencies, tiers or timers make no sense."""
    if not config.agent_id:
        raise ConfigError("an agent needs an id")
    if not config.contact or not config.contact.strip():
        raise ConfigError(f"agent {config.agent_id!r}: contact (a dial string) is required")
    if len(config.contact) > MAX_NAME:
        raise ConfigError(f"agent {config.agent_id!r}: contact longer than {MAX_NAME} characters")
    for skill, level in config.skills.items():
        if not isinstance(level, int) or not 1 <= level <= MAX_PROFICIENCY:
            raise ConfigError(
                f"agent {config.agent_id!r}: proficiency of {skill!r} must be 1-{MAX_PROFICIENCY}"
            )
    for queue, tier in config.tiers.items():
        if tier.level < 0 or tier.position < 0:
            raise ConfigError(f"agent {config.agent_id!r}: tier for {queue!r} must be >= 0")
    timers = {
        "wrap_up_seconds": config.wrap_up_seconds,
        "no_answer_delay_seconds": config.no_answer_delay_seconds,
        "busy_delay_seconds": config.busy_delay_seconds,
        "reject_delay_seconds": config.reject_delay_seconds,
    }
    for name, value in timers.items():
        if not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"agent {config.agent_id!r}: {name} must be zero or more")
    if config.max_no_answer < 0:
        raise ConfigError(f"agent {config.agent_id!r}: max_no_answer must be zero or more")

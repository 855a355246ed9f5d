"""Blended agents: outbound takes an agent only while the inbound queues they serve meet their
service level, and hands them back when inbound needs them.

Pure: the dialer passes what routing shows of each inbound queue (callers waiting, the longest
wait, the service-level threshold and target, the recent service level) and which queues were
already keeping their agents. A queue *keeps* its blended agents (no dial is placed for them, and
one back from an outbound call is not taken for the next) once it misses its service level; it
lets them go only when it is clearly back, so an agent does not flap between the two.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundQueue:
    """What the rule needs of one inbound queue (from ``Acd.queue_status`` and its config)."""

    name: str
    waiting: int
    oldest_wait_seconds: float | None
    """How long the longest-waiting caller on the line has waited; None when nobody waits."""
    threshold_seconds: float
    """The service-level threshold T (answered within T counts as in service level)."""
    target: float
    """The share of calls answered within T the queue aims for (0.8 for 80/20)."""
    service_level: float | None
    """Routing's recent service level (its window, callers already waiting beyond T counted as
    misses); None when routing has no measure."""


@dataclass(frozen=True, slots=True)
class BlendRule:
    """The two bands of the hysteresis: when a queue keeps its agents, and when it lets go."""

    release_margin: float = 0.05
    """A keeping queue lets go only at ``target + release_margin`` (capped at 1)."""
    keep_wait_share: float = 1.0
    """A queue keeps its agents once a caller has waited this share of T (1: beyond T)."""
    release_wait_share: float = 0.5
    """... and lets go only when nobody has waited this share of T."""

    def __post_init__(self) -> None:
        if not 0 <= self.release_margin < 1:
            raise ValueError("release_margin must be in [0, 1)")
        if not 0 < self.release_wait_share <= self.keep_wait_share:
            raise ValueError("release_wait_share must be in (0, keep_wait_share]")


DEFAULT_RULE = BlendRule()


def keeps_agents(queue: InboundQueue, *, keeping: bool, rule: BlendRule = DEFAULT_RULE) -> bool:
    """Whether ``queue`` keeps its blended agents from outbound now.

    ``keeping`` is the last answer for this queue (hysteresis): a queue that missed its service
    level keeps its agents until the level is ``release_margin`` above target and nobody has
    waited ``release_wait_share`` of T; one meeting it starts keeping them at the first miss.
    """
    wait = queue.oldest_wait_seconds if queue.waiting > 0 else None
    level = queue.service_level
    late = wait is not None and wait >= rule.keep_wait_share * queue.threshold_seconds
    below = level is not None and level < queue.target
    if late or below:
        return True
    if not keeping:
        return False
    back = min(1.0, queue.target + rule.release_margin) - 1e-9  # 0.8 + 0.05 is 0.850...01
    recovered = level is None or level >= back
    calm = wait is None or wait < rule.release_wait_share * queue.threshold_seconds
    return not (recovered and calm)


def keeping_queues(
    queues: Iterable[InboundQueue], keeping: Collection[str], rule: BlendRule = DEFAULT_RULE
) -> frozenset[str]:
    """The queues that keep their blended agents now, given those that kept them last time."""
    return frozenset(
        queue.name
        for queue in queues
        if keeps_agents(queue, keeping=queue.name in keeping, rule=rule)
    )


def may_take(serves: Collection[str], keeping: Collection[str]) -> bool:
    """Whether outbound may take an agent serving ``serves``: none of those queues keeps them."""
    return not any(queue in keeping for queue in serves)

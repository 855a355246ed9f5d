"""Whether a bridged call is recorded, and how: the queue's and the agent's policies combined."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class RecordMode(StrEnum):
    """How many of a queue's or agent's calls are recorded."""

    ALL = "all"
    SAMPLED = "sampled"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Policy:
    """A recording policy: a mode, the sampled share (0..1) and stereo or mono."""

    mode: RecordMode = RecordMode.ALL
    share: float = 1.0
    stereo: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be between 0 and 1, got {self.share}")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one bridged call, and which policy said so."""

    record: bool
    stereo: bool
    source: str


def draw(call_id: str) -> float:
    """Return a number in [0, 1) fixed by the call id, so a redelivered event decides the same."""
    digest = hashlib.sha256(call_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide(
    call_id: str,
    *,
    queue: Policy | None,
    agent: Policy | None,
    default: Policy,
) -> Decision:
    """Combine the policies: the agent's (most specific) wins over the queue's over the default."""
    if agent is not None:
        policy, source = agent, "agent"
    elif queue is not None:
        policy, source = queue, "queue"
    else:
        policy, source = default, "default"
    if policy.mode is RecordMode.NONE:
        return Decision(False, policy.stereo, source)
    if policy.mode is RecordMode.SAMPLED and draw(call_id) >= policy.share:
        return Decision(False, policy.stereo, source)
    return Decision(True, policy.stereo, source)

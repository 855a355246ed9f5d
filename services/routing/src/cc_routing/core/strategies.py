"""Queue strategies: how the offerable members of a queue are ordered, and who gets the next call.

Each queue keeps its offerable agents in one sorted list keyed by its strategy, so choosing an
agent walks that list from the front until someone meets the call's requirement: no scan of all
agents, no sort per decision. Keys only change while an agent is not offerable (after a call,
a break, a missed offer), so an agent is re-keyed when it re-enters the index.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

from cc_routing.core.agents import Agent
from cc_routing.core.config import Strategy, Tier
from cc_routing.core.expressions import Requirement

OrderKey = tuple[int, float, float, str]
Term = tuple[str, float | int | str]

_POSITIONAL = frozenset(
    {
        Strategy.RING_ALL,
        Strategy.ROUND_ROBIN,
        Strategy.TOP_DOWN,
        Strategy.SEQUENTIALLY_BY_AGENT_ORDER,
        Strategy.RING_PROGRESSIVELY,
    }
)


def order_key(strategy: Strategy, tier: Tier, agent: Agent) -> OrderKey:
    """Return the agent's place in the queue's order: tier level first, as mod_callcenter does."""
    if strategy is Strategy.LONGEST_IDLE_AGENT:
        return (tier.level, agent.idle_since, tier.position, agent.agent_id)
    if strategy is Strategy.AGENT_WITH_LEAST_TALK_TIME:
        return (tier.level, agent.talk_seconds, tier.position, agent.agent_id)
    if strategy is Strategy.AGENT_WITH_FEWEST_CALLS:
        return (tier.level, float(agent.calls_answered), tier.position, agent.agent_id)
    if strategy is Strategy.RANDOM:
        return (tier.level, 0.0, 0.0, agent.agent_id)
    return (tier.level, float(tier.position), agent.idle_since, agent.agent_id)


def terms_from_key(strategy: Strategy, key: OrderKey, now: float) -> tuple[Term, ...]:
    """Return the named terms an order key ranks by, for explanations."""
    level: Term = ("tier_level", key[0])
    if strategy is Strategy.LONGEST_IDLE_AGENT:
        return (level, ("idle_seconds", round(now - key[1], 3)), ("tier_position", int(key[2])))
    if strategy is Strategy.AGENT_WITH_LEAST_TALK_TIME:
        return (level, ("talk_seconds", round(key[1], 3)), ("tier_position", int(key[2])))
    if strategy is Strategy.AGENT_WITH_FEWEST_CALLS:
        return (level, ("calls_answered", int(key[1])), ("tier_position", int(key[2])))
    if strategy is Strategy.RANDOM:
        return (level, ("draw", "seeded random among the lowest matching level"))
    return (level, ("tier_position", int(key[1])), ("idle_seconds", round(now - key[2], 3)))


class AgentIndex:
    """The offerable members of one queue, sorted by the queue's strategy key."""

    __slots__ = ("agents", "key_of", "keys")

    def __init__(self) -> None:
        self.keys: list[OrderKey] = []
        self.key_of: dict[str, OrderKey] = {}
        self.agents: dict[str, Agent] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.key_of

    def add(self, agent: Agent, key: OrderKey) -> None:
        """Insert an agent that just became offerable."""
        if agent.agent_id in self.key_of:
            self.remove(agent.agent_id)
        insort(self.keys, key)
        self.key_of[agent.agent_id] = key
        self.agents[agent.agent_id] = agent

    def remove(self, agent_id: str) -> None:
        """Drop an agent that is no longer offerable (no-op if absent)."""
        key = self.key_of.pop(agent_id, None)
        if key is None:
            return
        del self.keys[bisect_left(self.keys, key)]
        del self.agents[agent_id]

    def ordered(self, start_after: tuple[int, float] | None = None) -> Iterator[Agent]:
        """Yield agents in order; with ``start_after`` (level, position), rotate past that seat.

        Rotation follows mod_callcenter: first the rest of that tier level after the position,
        then everyone from the top.
        """
        keys, agents = self.keys, self.agents
        if start_after is None:
            for key in keys:
                yield agents[key[3]]
            return
        level, position = start_after
        first = bisect_right(keys, (level, position, math.inf, ""))
        rotated = []
        for key in keys[first:]:
            if key[0] != level:
                break
            rotated.append(key)
        for key in rotated:
            yield agents[key[3]]
        seen = {key[3] for key in rotated}
        for key in keys:
            if key[3] not in seen:
                yield agents[key[3]]


def pick_agents(
    strategy: Strategy,
    index: AgentIndex,
    requirement: Requirement | None,
    *,
    start_after: tuple[int, float] | None,
    rng: random.Random,
) -> list[Agent]:
    """Return who to ring for a call: one agent, or every match for ring-all; [] if nobody fits."""
    match = requirement.matches if requirement is not None else None
    if strategy is Strategy.RING_ALL:
        return [a for a in index.ordered() if match is None or match(a.config.skills)]
    if strategy is Strategy.RANDOM:
        return _pick_random(index, match, rng)
    for agent in index.ordered(start_after):
        if match is None or match(agent.config.skills):
            return [agent]
    return []


def _pick_random(index: AgentIndex, match: object, rng: random.Random) -> list[Agent]:
    """Pick uniformly (seeded) among the matching agents of the lowest level that has any."""
    chosen_level: int | None = None
    pool: list[Agent] = []
    for key in index.keys:
        if chosen_level is not None and key[0] != chosen_level:
            break
        agent = index.agents[key[3]]
        if match is None or match(agent.config.skills):  # type: ignore[operator]
            chosen_level = key[0]
            pool.append(agent)
    return [rng.choice(pool)] if pool else []


def rotation_start(strategy: Strategy, key: OrderKey) -> tuple[int, float] | None:
    """Return the (level, position) seat a rotating strategy continues after, else None."""
    if strategy in _POSITIONAL:
        return (key[0], key[1])
    return None

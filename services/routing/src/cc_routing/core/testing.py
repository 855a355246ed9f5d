"""Helpers for tests that drive the core (here and in the adapters' tests): build, filter, read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from cc_proto.envelope import EventData
from cc_routing.core.acd import Acd
from cc_routing.core.commands import BridgeCall, CancelOffer, Command, PublishEvent
from cc_routing.core.config import AgentConfig, QueueConfig, Tier

T = TypeVar("T")
E = TypeVar("E", bound=EventData)


def of_type(commands: Iterable[object], kind: type[T]) -> list[T]:
    """Return the commands of one kind, in order."""
    return [command for command in commands if isinstance(command, kind)]


def events(commands: Iterable[Command], kind: type[E]) -> list[E]:
    """Return the published events of one kind, in order."""
    return [c.data for c in of_type(commands, PublishEvent) if isinstance(c.data, kind)]


def event_types(commands: Iterable[Command]) -> list[str]:
    """Return the type names of the published events, in order (e.g. 'call.answered')."""
    return [c.data.event_type for c in of_type(commands, PublishEvent)]


def agent(
    agent_id: str,
    *queues: str | tuple[str, Tier],
    skills: Mapping[str, int] | None = None,
    **options: object,
) -> AgentConfig:
    """Build an agent serving ``queues`` (a name, or (name, Tier)), reached at user/<id>."""
    tiers: dict[str, Tier] = {}
    for queue in queues:
        if isinstance(queue, tuple):
            tiers[queue[0]] = queue[1]
        else:
            tiers[queue] = Tier()
    return AgentConfig(
        agent_id,
        f"user/{agent_id}",
        dict(skills or {}),
        tiers,
        **options,  # type: ignore[arg-type]
    )


def build(
    queues: Sequence[QueueConfig],
    agents: Sequence[AgentConfig],
    *,
    now: float = 0.0,
    login: bool = True,
    acd: Acd | None = None,
) -> Acd:
    """Return an ACD with these queues and agents configured (and logged in, in order)."""
    core = acd if acd is not None else Acd()
    for queue in queues:
        core.configure_queue(queue, now)
    for config in agents:
        core.upsert_agent(config, now)
        if login:
            core.login(config.agent_id, now)
    return core


def answer(acd: Acd, offer_id: str, now: float) -> list[Command]:
    """The agent leg answers and, as FreeSWITCH does at once, the bridge it asks for holds."""
    out = acd.agent_answered(offer_id, now)
    for bridge in of_type(out, BridgeCall):
        if bridge.offer_id == offer_id:
            out += acd.call_bridged(bridge.call_id, now)
    return out


def legs_gone(acd: Acd, out: Sequence[Command], now: float) -> list[Command]:
    """FreeSWITCH confirms the end of every agent leg routing hung up in ``out``."""
    after: list[Command] = []
    for cancel in of_type(out, CancelOffer):
        after += acd.agent_hung_up(cancel.offer_id, now, cause="ORIGINATOR_CANCEL")
    return after


def caller_left(acd: Acd, call_id: str, now: float) -> list[Command]:
    """The caller hangs up and, as FreeSWITCH does, the agent legs of the call end after it
    (a talking agent's follows out of the bridge; ringing ones are hung up)."""
    legs = [leg.offer_id for leg in acd.agent_legs() if leg.call_id == call_id]
    out = acd.caller_hung_up(call_id, now)
    for leg in legs:
        out += acd.agent_hung_up(leg, now)
    return out

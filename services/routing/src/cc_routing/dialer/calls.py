"""The outbound floor: customer legs, agents waiting for them, the 2-second rule, outcomes.

Pure, like the ACD core: adapters feed what FreeSWITCH reported (with its time) and carry out
the commands returned, in order. A customer leg is originated with our own UUID; when it
answers, a ready agent is reserved and their leg originated (agents on outbound work auto-answer),
then the two are bridged. A live customer not bridged within ``grace_seconds`` of answering hears
the identification message and is hung up: an abandoned call. With answering-machine detection
(mod_avmd's beep) a machine is hung up or left the campaign's message after the beep.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from cc_proto import EventData
from cc_proto.events import (
    DialerAttempted,
    DialerConnected,
    DialerDropped,
    DialerMachineDetected,
)
from cc_routing.dialer.campaigns import Outcome

BUSY_CAUSES = frozenset({"USER_BUSY", "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION"})
NO_ANSWER_CAUSES = frozenset(
    {
        "NO_ANSWER",
        "NO_USER_RESPONSE",
        "ALLOTTED_TIMEOUT",
        "ORIGINATOR_CANCEL",
        "RECOVERY_ON_TIMER_EXPIRE",
    }
)


@dataclass(frozen=True, slots=True)
class OriginateCustomer:
    leg: str
    number: str
    caller_id: str
    campaign: str
    lead_id: str
    timeout_seconds: float
    detect_machine: bool = False
    """Start mod_avmd on the leg as it answers (on the switch, not over ESL: a command sent on
    hearing the answer can race the originate's end and the bridge and be lost)."""


@dataclass(frozen=True, slots=True)
class OriginateAgent:
    leg: str
    agent_id: str
    contact: str
    customer_leg: str


@dataclass(frozen=True, slots=True)
class Bridge:
    customer_leg: str
    agent_leg: str


@dataclass(frozen=True, slots=True)
class Park:
    """Take a bridged customer back from their agent (the agent's leg hangs up after the bridge)."""

    leg: str


@dataclass(frozen=True, slots=True)
class PlayAndHangup:
    """Play a message (identification, or the machine message) then hang up."""

    leg: str
    message: str
    seconds: float = 3.0
    """How long the message lasts: the leg is hung up after it."""


@dataclass(frozen=True, slots=True)
class Hangup:
    leg: str
    cause: str = "NORMAL_CLEARING"


@dataclass(frozen=True, slots=True)
class NoteHangup:
    """Have an answered customer's leg note its hangup (and bridge partner) on the switch, under
    its lead and attempt, so a leader that was away when it ended can settle the attempt."""

    leg: str
    key: str


@dataclass(frozen=True, slots=True)
class ForgetHangup:
    """The attempt is settled: its hangup note is not needed any more."""

    key: str


@dataclass(frozen=True, slots=True)
class Publish:
    data: EventData
    at: float


@dataclass(frozen=True, slots=True)
class Settled:
    """An attempt is over: record its outcome on the lead (and feed the pacer)."""

    lead_id: str
    outcome: Outcome
    ring_seconds: float
    live: bool


Command = (
    OriginateCustomer
    | OriginateAgent
    | Bridge
    | Park
    | PlayAndHangup
    | Hangup
    | NoteHangup
    | ForgetHangup
    | Publish
)
Result = Command | Settled


class LegState(StrEnum):
    RINGING = "ringing"
    WAITING = "waiting"
    """Answered, no agent yet (within the grace)."""
    CONNECTING = "connecting"
    """An agent leg is on its way."""
    CONNECTED = "connected"
    ABANDONED = "abandoned"
    MACHINE = "machine"


@dataclass(slots=True)
class _Leg:
    lead_id: str
    attempt: int
    dialled_at: float
    state: LegState = LegState.RINGING
    answered_at: float | None = None
    agent_id: str | None = None
    agent_leg: str | None = None
    connected: tuple[float, float] | None = None
    """When its ``dialer.connected`` went out and the wait it carried (for a later beep)."""


def note_key(lead_id: str, attempt: int) -> str:
    """Where an attempt's hangup note is kept on the switch: its lead and attempt number."""
    return f"{lead_id}.{attempt}"


_LEGS = uuid.UUID("1c3f2a4e-5b8d-4e0f-9a71-6d2c8b9e0f13")


def customer_leg(lead_id: str, attempt: int) -> str:
    """The customer leg's UUID for an attempt, derived from its lead and attempt number.

    A new leader can then ask the switch about an attempt by its leg alone (a channel listing
    may lag a call placed a moment before the last leader went).
    """
    return str(uuid.uuid5(_LEGS, note_key(lead_id, attempt)))


class Adopted(StrEnum):
    """What a call found live on the switch after a restart is taken in as."""

    RINGING = "ringing"
    """Not answered yet: its answer (or end) comes as for any dial."""
    CONNECTED = "connected"
    """Bridged to its agent's live leg: the conversation goes on; its end settles it."""
    ABANDONED = "abandoned"
    """Answered and not bridged: the grace is long over, so it is abandoned now."""


@dataclass(frozen=True, slots=True)
class AdoptedCall:
    """A customer leg of this campaign that outlived the instance that dialled it."""

    leg: str
    lead_id: str
    attempt: int
    state: Adopted
    agent_id: str | None = None
    agent_leg: str | None = None
    """The agent's live leg: their conversation (connected) or one to hang up (abandoned)."""


@dataclass(frozen=True, slots=True)
class CallView:
    """One customer leg as the floor holds it, for checking against the switch after the link
    to it was lost (:func:`cc_routing.dialer_reconcile.plan_link_resync`)."""

    leg: str
    lead_id: str
    attempt: int
    state: LegState
    agent_leg: str | None


@dataclass(frozen=True, slots=True)
class FloorSettings:
    campaign: str
    caller_id: str
    ring_timeout_seconds: float = 30.0
    grace_seconds: float = 2.0
    identification: str = "prompts/goodbye.wav"
    identification_seconds: float = 3.0
    detect_machines: bool = False
    machine_message: str | None = None
    """Left after the beep; None hangs a machine up."""


@dataclass(slots=True)
class Floor:
    """One campaign's live outbound calls and the agents working them."""

    settings: FloorSettings
    new_id: Callable[[], str]
    """Makes the UUIDs of agent legs (ours, so their events are known at once)."""
    legs: dict[str, _Leg] = field(default_factory=dict)
    ready: deque[str] = field(default_factory=deque)
    contacts: dict[str, str] = field(default_factory=dict)
    busy_since: dict[str, float] = field(default_factory=dict)
    agent_legs: dict[str, str] = field(default_factory=dict)
    """agent leg -> customer leg"""
    leg_agents: dict[str, str] = field(default_factory=dict)
    """agent leg -> agent, until the leg ends"""

    # --- agents -------------------------------------------------------------------------------

    def agent_ready(self, agent_id: str, contact: str, now: float) -> list[Result]:
        """An agent is free for this campaign: give them a waiting customer, if any."""
        self.contacts[agent_id] = contact
        self.busy_since.pop(agent_id, None)
        if agent_id not in self.ready:
            self.ready.append(agent_id)
        waiting = [leg for leg, c in self.legs.items() if c.state is LegState.WAITING]
        if waiting:
            oldest = min(waiting, key=lambda leg: self.legs[leg].answered_at or now)
            return self._connect(oldest)
        return []

    def agent_gone(self, agent_id: str) -> None:
        """An agent logged out or left the campaign."""
        if agent_id in self.ready:
            self.ready.remove(agent_id)

    # --- dialling -----------------------------------------------------------------------------

    def dial(self, leg: str, lead_id: str, number: str, attempt: int, now: float) -> list[Result]:
        """Place one call to a lead, as leg ``leg`` (our own UUID)."""
        s = self.settings
        self.legs[leg] = _Leg(lead_id, attempt, now)
        return [
            OriginateCustomer(
                leg,
                number,
                s.caller_id,
                s.campaign,
                lead_id,
                s.ring_timeout_seconds,
                detect_machine=s.detect_machines,
            ),
            Publish(
                DialerAttempted(
                    campaign=s.campaign, lead_id=lead_id, number=number, attempt=attempt
                ),
                now,
            ),
        ]

    def customer_answered(self, leg: str, now: float) -> list[Result]:
        """The customer picked up: connect an agent now or wait out the grace."""
        call = self.legs.get(leg)
        if call is None or call.state is not LegState.RINGING:
            return []
        call.answered_at = now
        call.state = LegState.WAITING
        out: list[Result] = [NoteHangup(leg, note_key(call.lead_id, call.attempt))]
        if self.ready:
            out += self._connect(leg)
        return out

    def _connect(self, leg: str) -> list[Result]:
        call = self.legs[leg]
        agent = self.ready.popleft()
        call.state = LegState.CONNECTING
        call.agent_id = agent
        call.agent_leg = self.new_id()
        self.agent_legs[call.agent_leg] = leg
        self.leg_agents[call.agent_leg] = agent
        return [OriginateAgent(call.agent_leg, agent, self.contacts[agent], leg)]

    def agent_answered(self, agent_leg: str, now: float) -> list[Result]:
        """The agent's leg is up: bridge it to the customer (if they are still there)."""
        leg = self.agent_legs.get(agent_leg)
        if leg is None:
            return []  # not ours (a loopback's other half) or already released and hung up
        call = self.legs.get(leg)
        if call is None or call.state is not LegState.CONNECTING:
            return [Hangup(agent_leg)]
        return [Bridge(leg, agent_leg)]

    def bridged(self, leg: str, now: float) -> list[Result]:
        """FreeSWITCH confirmed the bridge: the customer has an agent."""
        call = self.legs.get(leg)
        if call is None or call.state is not LegState.CONNECTING or call.answered_at is None:
            return []
        call.state = LegState.CONNECTED
        if call.agent_id is not None:
            self.busy_since[call.agent_id] = now
        wait = max(0.0, now - call.answered_at)
        call.connected = (now, wait)
        data = DialerConnected(
            campaign=self.settings.campaign,
            lead_id=call.lead_id,
            answered_by="human",
            wait_seconds=wait,
            attempt=call.attempt,
        )
        return [Publish(data, now)]

    def machine_detected(self, leg: str, now: float) -> list[Result]:
        """mod_avmd heard a beep: a machine. The 2-second rule bridges an answer at once, and a
        machine's greeting lasts longer, so the beep usually comes after the bridge: then the
        customer is taken back from the agent (their leg ends, they are free for the next call)
        before the campaign's machine action. Either way ``dialer.machine_detected`` says so:
        after the bridge it tells the metrics the ``dialer.connected`` already out was a machine.
        """
        call = self.legs.get(leg)
        if call is None:
            return []
        message = self.settings.machine_message
        after_bridge = call.state is LegState.CONNECTED
        if after_bridge:
            # The agent's leg hangs up after the bridge (hangup_after_bridge), either way.
            out: list[Result] = [Park(leg)] if message else []
        elif call.state in (LegState.WAITING, LegState.CONNECTING):
            out = self._release_agent(call)
        else:
            return []
        call.state = LegState.MACHINE
        out.append(PlayAndHangup(leg, message, 20.0) if message else Hangup(leg))
        out.append(Publish(self._machine_event(leg, call, after_bridge), now))
        return out

    def _machine_event(self, leg: str, call: _Leg, after_bridge: bool) -> DialerMachineDetected:
        """The machine's event; after the bridge it names the ``dialer.connected`` it corrects
        (none is known for a call adopted connected after a restart: its leader sent it)."""
        connected_at, wait = call.connected if after_bridge and call.connected else (None, 0.0)
        when = None if connected_at is None else datetime.fromtimestamp(connected_at, UTC)
        return DialerMachineDetected(
            campaign=self.settings.campaign,
            lead_id=call.lead_id,
            attempt=call.attempt,
            leg=leg,
            after_bridge=after_bridge,
            connected_at=when,
            connected_wait_seconds=wait,
        )

    def _release_agent(self, call: _Leg) -> list[Result]:
        out: list[Result] = []
        if call.agent_leg is not None:
            self.agent_legs.pop(call.agent_leg, None)
            self.leg_agents.pop(call.agent_leg, None)
            out.append(Hangup(call.agent_leg, "ORIGINATOR_CANCEL"))
        if call.agent_id is not None and call.agent_id in self.contacts:
            self.ready.appendleft(call.agent_id)
        call.agent_id = call.agent_leg = None
        return out

    def advance(self, now: float) -> list[Result]:
        """Enforce the 2-second rule: customers past the grace hear the message and go."""
        out: list[Result] = []
        for leg, call in self.legs.items():
            late = (
                call.answered_at is not None
                and now - call.answered_at > self.settings.grace_seconds
            )
            if late and call.state in (LegState.WAITING, LegState.CONNECTING):
                out += self._release_agent(call)
                call.state = LegState.ABANDONED
                out.append(
                    PlayAndHangup(
                        leg, self.settings.identification, self.settings.identification_seconds
                    )
                )
                wait = now - (call.answered_at or now)
                out.append(
                    Publish(
                        DialerDropped(
                            campaign=self.settings.campaign, lead_id=call.lead_id, wait_seconds=wait
                        ),
                        now,
                    )
                )
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`advance` must next be called."""
        times = [
            call.answered_at + self.settings.grace_seconds
            for call in self.legs.values()
            if call.answered_at is not None
            and call.state in (LegState.WAITING, LegState.CONNECTING)
        ]
        return min(times) if times else None

    def customer_ended(self, leg: str, cause: str, now: float) -> list[Result]:
        """The customer's leg is gone: settle the attempt; free the agent for the next call."""
        call = self.legs.pop(leg, None)
        if call is None:
            return []
        ring = (call.answered_at or now) - call.dialled_at
        out: list[Result] = []
        if call.answered_at is not None:
            out.append(ForgetHangup(note_key(call.lead_id, call.attempt)))
        if call.state is LegState.RINGING:
            outcome = (
                Outcome.BUSY
                if cause in BUSY_CAUSES
                else Outcome.NO_ANSWER
                if cause in NO_ANSWER_CAUSES
                else Outcome.FAILED
            )
            return [*out, Settled(call.lead_id, outcome, ring, live=False)]
        if call.state in (LegState.WAITING, LegState.CONNECTING):
            out += self._release_agent(call)  # hung up within the grace: counted as abandoned
            out.append(
                Publish(
                    DialerDropped(
                        campaign=self.settings.campaign,
                        lead_id=call.lead_id,
                        wait_seconds=now - (call.answered_at or now),
                    ),
                    now,
                )
            )
            return [*out, Settled(call.lead_id, Outcome.ABANDONED, ring, live=True)]
        if call.state is LegState.MACHINE:
            return [*out, Settled(call.lead_id, Outcome.MACHINE, ring, live=False)]
        if call.state is LegState.ABANDONED:
            return [*out, Settled(call.lead_id, Outcome.ABANDONED, ring, live=True)]
        return [*out, Settled(call.lead_id, Outcome.CONNECTED, ring, live=True)]

    def agent_taken(self, agent_leg: str, now: float) -> list[Result]:
        """The agent reserved for a customer got other work (an inbound call) before their leg
        was rung: they are not ready here any more, and the customer goes to another ready agent
        or waits on within the grace."""
        leg = self.agent_legs.pop(agent_leg, None)
        agent = self.leg_agents.pop(agent_leg, None)
        if agent is not None:
            self.agent_gone(agent)
        call = self.legs.get(leg or "")
        if leg is None or call is None or call.agent_leg != agent_leg:
            return []
        call.agent_id = call.agent_leg = None
        call.state = LegState.WAITING
        return self._connect(leg) if self.ready else []

    def agent_leg_ended(self, agent_leg: str, now: float, *, ready: bool = True) -> list[Result]:
        """An agent's leg ended: after a call the agent is ready again unless ``ready`` is
        False (in wrap-up: they come back when the pool says they are free); if it failed
        before the bridge, the customer waits on for another agent.
        """
        leg = self.agent_legs.pop(agent_leg, None)
        agent = self.leg_agents.pop(agent_leg, None)
        call = self.legs.get(leg or "")
        out: list[Result] = []
        if leg is not None and call is not None and call.state is LegState.CONNECTING:
            call.agent_id = call.agent_leg = None
            call.state = LegState.WAITING
        if agent is not None and ready and agent in self.contacts:
            out += self.agent_ready(agent, self.contacts[agent], now)
        elif agent is not None:  # wrapping up, or adopted: ready once the pool says so
            self.busy_since.pop(agent, None)
            self.agent_gone(agent)
        return out

    # --- after a restart ------------------------------------------------------------------------

    def adopt(self, call: AdoptedCall, now: float) -> list[Result]:
        """Take in a call dialled by the instance that led before: it ends here, once.

        A ringing one is followed as any dial (from now: its true ring time is unknown). A
        connected one keeps its agent busy until their leg ends. One answered but not bridged
        has waited past the grace: it hears the identification message and is abandoned, and an
        agent leg rung for it is hung up.
        """
        leg = _Leg(call.lead_id, call.attempt, now)
        self.legs[call.leg] = leg
        if call.state is Adopted.RINGING:
            return []
        leg.answered_at = now
        if call.state is Adopted.CONNECTED and call.agent_id and call.agent_leg:
            leg.state = LegState.CONNECTED
            leg.agent_id, leg.agent_leg = call.agent_id, call.agent_leg
            self.agent_legs[call.agent_leg] = call.leg
            self.leg_agents[call.agent_leg] = call.agent_id
            self.busy_since[call.agent_id] = now
            return []
        leg.state = LegState.ABANDONED
        s = self.settings
        out: list[Result] = [PlayAndHangup(call.leg, s.identification, s.identification_seconds)]
        if call.agent_leg is not None:
            out.insert(0, Hangup(call.agent_leg, "ORIGINATOR_CANCEL"))
        return out

    def calls(self) -> list[CallView]:
        """Every customer leg the floor holds, with its agent's leg if one was rung."""
        return [
            CallView(leg, call.lead_id, call.attempt, call.state, call.agent_leg)
            for leg, call in self.legs.items()
        ]

    # --- what the pacer needs -----------------------------------------------------------------

    def ringing_elapsed(self, now: float) -> list[float]:
        return [now - c.dialled_at for c in self.legs.values() if c.state is LegState.RINGING]

    def waiting_customers(self) -> int:
        return sum(c.state in (LegState.WAITING, LegState.CONNECTING) for c in self.legs.values())

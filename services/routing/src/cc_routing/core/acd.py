"""The ACD core's one entry point: :class:`Acd`, a façade over the subjects that share its floor.

Every input method takes ``now`` (epoch seconds from the adapter's clock or FreeSWITCH's event
time) and returns the commands to carry out, in order. Nothing here reads a clock, does I/O or
awaits. A clock that steps backwards is held at the latest time seen, so durations never go
negative.

Where each part lives (one subject per module, all acting on one :class:`~.floor.Floor`):

* ``roster``: queues and agents configured, membership and staffing;
* ``states``: agent states and actions (login, logout, breaks, wrap-up, dispositions);
* ``offering``: whom a waiting call rings, and ringing them;
* ``answers``: what becomes of a ring (answer, bridge, failure, miss, cancel);
* ``legs``: agent legs hung up, until FreeSWITCH confirms them gone;
* ``line``: a call's stay in a queue, its deadlines, leaving it, its ``call.ended``;
* ``conversations``: answered calls and CTI (hang-up, hold, transfers, click-to-call);
* ``callbacks``; ``outbound`` (agents lent to the dialer); ``restore`` (a restart, a stop);
* ``views``: read-only answers for the API and reconciliation.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection

from cc_routing.core.answers import Answers
from cc_routing.core.callbacks import Callbacks
from cc_routing.core.config import Destination, check_destination
from cc_routing.core.conversations import Conversations
from cc_routing.core.floor import Floor, Parts, RoutingError
from cc_routing.core.legs import Legs
from cc_routing.core.line import Line
from cc_routing.core.offering import Offering
from cc_routing.core.outbound import OUTBOUND, Outbound
from cc_routing.core.restore import Restore
from cc_routing.core.roster import Roster
from cc_routing.core.states import AgentStates
from cc_routing.core.views import AgentLegView, AgentView, CallView, QueueStatus, Views

__all__ = [
    "OUTBOUND",
    "Acd",
    "AgentLegView",
    "AgentView",
    "CallView",
    "QueueStatus",
    "RoutingError",
]


def _uuid4() -> str:
    """Return a fresh agent-leg uuid: FreeSWITCH refuses or mixes up a uuid seen before."""
    return str(uuid.uuid4())


class Acd:
    """Skills-based automatic call distributor: pure, deterministic given its inputs and RNG.

    Each public method is the method of the subject that owns it (documented there); this class
    only builds the floor and the subjects and names their public methods in one place.
    """

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        new_id: Callable[[], str] | None = None,
        fallback: Destination | None = None,
        known_skills: Collection[str] | None = None,
        break_reasons: Collection[str] | None = None,
        not_ready_reasons: Collection[str] | None = None,
        explain: bool = True,
        explain_capacity: int = 1000,
    ) -> None:
        """Set up an empty ACD; ``rng`` drives the random strategy and generated leg uuids.

        Without ``rng`` (a real deployment) agent legs get fresh uuid4s, unique in every
        process; a seeded ``rng`` (tests, simulations) numbers them reproducibly.
        """
        if fallback is not None:
            check_destination(fallback, "the platform fallback")
        if new_id is None and rng is None:
            new_id = _uuid4
        self._floor = floor = Floor(
            rng=rng if rng is not None else random.Random(),
            new_id=new_id,
            fallback=fallback or Destination("hangup", "NORMAL_CLEARING"),
            known_skills=known_skills,
            break_reasons=break_reasons,
            not_ready_reasons=not_ready_reasons,
            explain=explain,
            explain_capacity=explain_capacity,
        )
        parts = Parts(
            states=AgentStates(floor),
            roster=Roster(floor),
            offering=Offering(floor),
            answers=Answers(floor),
            legs=Legs(floor),
            line=Line(floor),
            conversations=Conversations(floor),
            callbacks=Callbacks(floor),
            outbound=Outbound(floor),
            restore=Restore(floor),
            views=Views(floor),
        )
        for part in parts:
            part.link(parts)

        # configuration
        self.configure_queue = parts.roster.configure_queue
        self.remove_queue = parts.roster.remove_queue
        self.upsert_agent = parts.roster.upsert_agent
        self.remove_agent = parts.roster.remove_agent
        # agent actions
        self.login = parts.states.login
        self.logout = parts.states.logout
        self.set_break = parts.states.set_break
        self.set_not_ready = parts.states.set_not_ready
        self.set_available = parts.states.set_available
        self.end_wrap_up = parts.states.end_wrap_up
        self.extend_wrap_up = parts.states.extend_wrap_up
        self.dispose_call = parts.states.dispose_call
        # outbound (the dialer's calls)
        self.outbound_free = parts.outbound.outbound_free
        self.take_for_outbound = parts.outbound.take_for_outbound
        self.outbound_ended = parts.outbound.outbound_ended
        self.restore_outbound = parts.outbound.restore_outbound
        self.outbound_agents = parts.outbound.outbound_agents
        self.on_outbound = parts.outbound.on_outbound
        # call events from the switch
        self.call_arrived = parts.line.call_arrived
        self.agent_answered = parts.answers.agent_answered
        self.call_bridged = parts.answers.call_bridged
        self.bridge_failed = parts.answers.bridge_failed
        self.offer_failed = parts.answers.offer_failed
        self.agent_hung_up = parts.answers.agent_hung_up
        self.caller_hung_up = parts.conversations.caller_hung_up
        self.customer_answered = parts.callbacks.customer_answered
        self.customer_unreachable = parts.callbacks.customer_unreachable
        # callbacks and CTI
        self.request_callback = parts.callbacks.request_callback
        self.restore_callback = parts.callbacks.restore_callback
        self.hang_up = parts.conversations.hang_up
        self.transfer_to_number = parts.conversations.transfer_to_number
        self.transfer_to_queue = parts.conversations.transfer_to_queue
        self.transfer_to_agent = parts.conversations.transfer_to_agent
        self.new_call_id = parts.conversations.new_call_id
        self.place_call = parts.conversations.place_call
        self.hold_call = parts.conversations.hold_call
        self.resume_call = parts.conversations.resume_call
        # deadlines: advance(now) acts on every deadline due by now
        self.advance = floor.begin
        self.next_deadline = floor.next_deadline
        # restart and stop
        self.hang_up_left_over = parts.legs.hang_up_left_over
        self.legs_hanging_up = parts.legs.legs_hanging_up
        self.restore_agent = parts.restore.restore_agent
        self.restore_call = parts.restore.restore_call
        self.hold_offers = parts.restore.hold_offers
        self.stop_ringing = parts.restore.stop_ringing
        self.resume = parts.restore.resume
        # queries
        self.has_offer = parts.views.has_offer
        self.offer_answered_at = parts.views.offer_answered_at
        self.ringing_offers = parts.views.ringing_offers
        self.call_view = parts.views.call_view
        self.queue_status = parts.views.queue_status
        self.agent_view = parts.views.agent_view
        self.agent_queues = parts.views.agent_queues
        self.explain = parts.views.explain
        self.queue_names = parts.views.queue_names
        self.agent_ids = parts.views.agent_ids
        self.connecting_calls = parts.views.connecting_calls
        self.holds_call = parts.views.holds_call
        self.active_calls = parts.views.active_calls
        self.agent_legs = parts.views.agent_legs

"""Callers dialling in: an inbound SIP leg driven by a :class:`CallerScript`.

The caller's channel runs the dialplan (``public`` then ``default``, like a carrier's call);
the script presses DTMF once the call is answered, gives up when patience runs out before an
agent is bridged (ORIGINATOR_CANCEL if nobody answered yet), and hangs up after talking.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from cc_sim.core.events import SimEvent
from cc_sim.engine.endpoints import CallerScript
from cc_sim.engine.session import Session
from cc_sim.engine.switch import Switch


@dataclass(slots=True)
class CallerState:
    """What one scripted caller has done so far."""

    script: CallerScript
    session: Session
    bridged: bool = False
    answered: bool = False
    gave_up: bool = False
    cause: str | None = None


class Callers:
    """Places scripted inbound calls on a switch and plays their scripts."""

    def __init__(self, switch: Switch) -> None:
        self.sw = switch
        self.active: dict[str, CallerState] = {}
        switch.sinks.append(self)

    def interested(self, name: str, subclass: str | None) -> bool:
        """Only bridges and hangups matter to callers (and only while some are active)."""
        return bool(self.active) and name in {"CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE"}

    def __call__(self, event: SimEvent) -> None:
        """Switch sink entry point."""
        self._on_event(event)

    def dial(
        self,
        destination: str,
        *,
        caller_number: str,
        caller_name: str,
        script: CallerScript,
        context: str = "public",
        target: str = "127.0.0.1:5080",
    ) -> str:
        """Create the caller's inbound leg; return its uuid."""
        sess = self.sw.originator.inbound_sip(
            destination=destination,
            caller_number=caller_number,
            caller_name=caller_name,
            target=target,
            context=context,
        )
        state = CallerState(script, sess)
        self.active[sess.uuid] = state
        sess.on_answer.append(lambda: self._answered(state))
        if script.patience_seconds is not None:
            self.sw.later(sess, script.patience_seconds, lambda: self._patience_over(state))
        return sess.uuid

    def _answered(self, state: CallerState) -> None:
        state.answered = True
        sess = state.session
        for delay, digits in state.script.dtmf:
            self.sw.later(sess, delay, partial(self._press, state, digits))

    def _press(self, state: CallerState, digits: str) -> None:
        for digit in digits:
            self.sw.legs.receive_digit(state.session, digit, 100)

    def _patience_over(self, state: CallerState) -> None:
        if state.bridged or state.session.channel.is_down:
            return
        cause = "NORMAL_CLEARING" if state.answered else "ORIGINATOR_CANCEL"
        state.gave_up = True
        self.hang_up(state, cause)

    def hang_up(self, state: CallerState, cause: str = "NORMAL_CLEARING") -> None:
        """The caller puts the phone down."""
        sess = state.session
        if not sess.channel.is_down:
            self.sw.originator.far_hangup(sess, cause)

    def _on_event(self, event: SimEvent) -> None:
        name = event.name
        if name == "CHANNEL_BRIDGE":
            for header in ("Bridge-A-Unique-ID", "Bridge-B-Unique-ID"):
                state = self.active.get(event.get(header) or "")
                if state is not None and not state.bridged:
                    state.bridged = True
                    if state.script.on_bridged is not None:
                        state.script.on_bridged()
                    talk = state.script.talk_seconds
                    if talk is not None:
                        self.sw.later(state.session, talk, partial(self.hang_up, state))
        elif name == "CHANNEL_HANGUP_COMPLETE":
            state = self.active.pop(event.unique_id or "", None)
            if state is not None:
                state.cause = event.get("Hangup-Cause")
                if state.script.on_done is not None:
                    outcome = (
                        "completed" if state.bridged else "abandoned" if state.gave_up else "ended"
                    )
                    state.script.on_done(state.cause or "NORMAL_CLEARING", outcome)

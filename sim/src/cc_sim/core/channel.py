"""One FreeSWITCH channel: its states, flags, variables and caller profiles.

Variables keep FreeSWITCH's order: setting one moves it to the end, as
``switch_channel_set_variable`` deletes the old header before adding the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cc_sim.core.profile import CallerProfile, Header
from cc_sim.core.states import CallState, ChannelState


@dataclass(frozen=True, slots=True)
class Codec:
    """A negotiated codec as the Channel-*-Codec-* headers show it."""

    name: str = "L16"
    rate: int = 8000
    bit_rate: int = 128000

    def headers(self, side: str) -> list[Header]:
        """Return Channel-Read-Codec-* or Channel-Write-Codec-* headers."""
        return [
            (f"Channel-{side}-Codec-Name", self.name),
            (f"Channel-{side}-Codec-Rate", str(self.rate)),
            (f"Channel-{side}-Codec-Bit-Rate", str(self.bit_rate)),
        ]


L16 = Codec()
PCMU = Codec("PCMU", 8000, 64000)


@dataclass(slots=True)
class Channel:
    """A call leg; the engine mutates it, events read it through ``basic_headers``."""

    uuid: str
    name: str
    direction: str
    kind: str
    session_id: int
    created_us: int
    profile: CallerProfile
    state: ChannelState = ChannelState.CS_NEW
    running_state: ChannelState = ChannelState.CS_NONE
    callstate: CallState = CallState.DOWN
    hangup_cause: str | None = None
    read_codec: Codec | None = None
    write_codec: Codec | None = None
    variables: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    other_profile: CallerProfile | None = None
    other_type: str = ""
    partner_uuid: str | None = None
    bridged_uuid: str | None = None
    hit_dialplan: bool = False
    has_profile: bool = True

    # ---- variables -------------------------------------------------------------------------

    def set_var(self, name: str, value: str | None) -> None:
        """Set (None or empty: unset) a variable, moving it to the end like FreeSWITCH."""
        self.variables.pop(name, None)
        if value:
            self.variables[name] = value

    def get_var(self, name: str, default: str | None = None) -> str | None:
        """Return a variable's value, FreeSWITCH-style: a few names are computed."""
        if name in self.variables:
            return self.variables[name]
        computed = {
            "uuid": self.uuid,
            "channel_name": self.name,
            "state": self.running_state.name,
            "caller_id_name": self.profile.caller_id_name,
            "caller_id_number": self.profile.caller_id_number,
            "destination_number": self.profile.destination_number,
            "context": self.profile.context,
            "direction": self.direction,
        }
        return computed.get(name, default)

    def set_vars(self, pairs: list[tuple[str, str]] | dict[str, str]) -> None:
        """Set several variables in order."""
        items = pairs.items() if isinstance(pairs, dict) else pairs
        for name, value in items:
            self.set_var(name, value)

    # ---- state -----------------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        """Return True once the channel is answered (CF_ANSWERED)."""
        return "answered" in self.flags

    @property
    def early(self) -> bool:
        """Return True while the channel has early media (CF_EARLY_MEDIA)."""
        return "early" in self.flags

    @property
    def is_down(self) -> bool:
        """Return True once hangup started (what Answer-State: hangup means)."""
        return self.hangup_cause is not None

    @property
    def is_gone(self) -> bool:
        """Return True once the channel reached CS_DESTROY."""
        return self.running_state is ChannelState.CS_DESTROY

    @property
    def call_uuid(self) -> str:
        """Return Channel-Call-UUID: call_uuid when set, else the channel's own uuid."""
        return self.variables.get("call_uuid") or self.uuid

    def answer_state(self) -> str:
        """Return Answer-State as switch_channel_event_set_basic_data computes it."""
        if self.is_down:
            return "hangup"
        if self.answered:
            return "answered"
        if self.early:
            return "early"
        return "ringing"

    # ---- event data ------------------------------------------------------------------------

    def basic_headers(self, *, profile: bool = True) -> list[Header]:
        """Return switch_channel_event_set_basic_data's headers (no variables)."""
        direction = self.direction
        out: list[Header] = [
            ("Channel-State", self.running_state.name),
            ("Channel-Call-State", self.callstate.name),
            ("Channel-State-Number", str(int(self.state))),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", direction),
            ("Presence-Call-Direction", direction),
            (
                "Channel-HIT-Dialplan",
                "true" if direction == "inbound" or self.hit_dialplan else "false",
            ),
        ]
        presence = self.variables.get("presence_id")
        if presence:
            out.append(("Channel-Presence-ID", presence))
        out.append(("Channel-Call-UUID", self.call_uuid))
        out.append(("Answer-State", self.answer_state()))
        if self.hangup_cause:
            out.append(("Hangup-Cause", self.hangup_cause))
        if self.read_codec is not None:
            out.extend(self.read_codec.headers("Read"))
        if self.write_codec is not None:
            out.extend(self.write_codec.headers("Write"))
        if profile and self.has_profile:
            out.extend(self.profile.headers("Caller"))
            if self.other_profile is not None and self.other_type:
                out.append(("Other-Type", self.other_type))
                out.extend(self.other_profile.headers("Other-Leg"))
        return out

    def variable_headers(self) -> list[Header]:
        """Return switch_channel_event_set_extended_data's variable_* headers."""
        return [(f"variable_{name}", value) for name, value in self.variables.items()]

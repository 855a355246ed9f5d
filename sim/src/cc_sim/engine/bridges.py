"""Bridging two legs: uuid_bridge (both parked legs transferred into a bridge) and bridge app."""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING

from cc_sim.core.states import ChannelState
from cc_sim.engine.session import AppRun, Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch


class Bridges:
    """Joins legs and keeps their bridge variables and Other-Leg profiles as FreeSWITCH does."""

    def __init__(self, switch: Switch) -> None:
        self.sw = switch

    def uuid_bridge(self, a: Session, b: Session) -> None:
        """uuid_bridge <a> <b>: unpark both, hibernate/reset/soft-execute, then CHANNEL_BRIDGE."""
        sw = self.sw
        a.channel.set_var("uuid_bridge", b.uuid)
        self._link_profiles(a, b)
        for leg, other in ((a, b), (b, a)):
            self._prepare(leg, other)
        for leg in (a, b):
            sw.stop_app(leg)
            sw.unpark(leg, completing=True)
            sw.set_state(leg, ChannelState.CS_HIBERNATE)
            sw.set_state(leg, ChannelState.CS_RESET)
            sw.set_state(leg, ChannelState.CS_SOFT_EXECUTE)
            leg.script.clear()
        a.channel.set_var("uuid_bridge", None)
        b.channel.set_var("call_uuid", b.channel.call_uuid)
        sw.fire(
            "CHANNEL_EXECUTE",
            a.channel,
            variant="uuid_bridge",
            post=[("Application", "uuid_bridge"), ("Application-Data", b.uuid)],
        )
        sw.fire(
            "CHANNEL_EXECUTE",
            b.channel,
            variant="uuid_bridge",
            post=[("Application", "uuid_bridge"), ("Application-Data", a.uuid)],
        )
        self._join(a, b)
        if b.channel.kind == "sofia":
            sw.set_state(b, ChannelState.CS_CONSUME_MEDIA)
        sw.set_state(b, ChannelState.CS_EXCHANGE_MEDIA)
        self._after_bridge(a, b)

    def app_bridge(self, a: Session, b: Session, run: AppRun) -> None:
        """The bridge application's leg answered: bridge it to the caller."""
        sw = self.sw
        if a.channel.is_down or b.channel.is_down:
            sw.hangup(b, "ORIGINATOR_CANCEL")
            return
        self._link_profiles(a, b)
        self._prepare(a, b, transfer=False)
        self._prepare(b, a, transfer=False)
        sw.unpark(b, completing=True)
        b.script.clear()
        run.on_interrupt = None
        a.app = None
        a.channel.flags.add("in_bridge_app")
        a.bridge_app = run
        self._join(a, b)
        sw.set_state(b, ChannelState.CS_EXCHANGE_MEDIA)
        self._after_bridge(a, b)

    def _link_profiles(self, a: Session, b: Session) -> None:
        """a sees b as its originatee, b sees a as its originator (Other-Leg-* headers)."""
        now = self.sw.now_us()
        snapshots = {
            a.uuid: a.channel.profile.clone(keep_index=False),
            b.uuid: b.channel.profile.clone(keep_index=False),
        }
        for snapshot in snapshots.values():
            snapshot.transfer_source = ""  # switch_caller_profile_clone leaves it out
        for leg, other, other_type in ((a, b, "originatee"), (b, a, "originator")):
            ch = leg.channel
            profile = ch.profile.clone()
            profile.profile_index = str(int(ch.profile.profile_index or "1") + 1)
            profile.times.profile_created = now
            source = f"{now // 1_000_000}:{uuidlib.uuid4()}:uuid_br:{other.uuid}"
            profile.transfer_source = source
            ch.profile = profile
            ch.other_type = other_type
            ch.other_profile = snapshots[other.uuid]
        a_profile, b_profile = a.channel.profile, b.channel.profile
        a_profile.callee_id_name = b_profile.orig_caller_id_name or b_profile.caller_id_name
        a_profile.callee_id_number = b_profile.orig_caller_id_number or b_profile.caller_id_number
        b_profile.caller_id_name = a_profile.caller_id_name
        b_profile.caller_id_number = a_profile.caller_id_number

    def _prepare(self, leg: Session, other: Session, *, transfer: bool = True) -> None:
        """Set the variables a leg gets when it is transferred into a bridge."""
        ch = leg.channel
        och = other.channel
        ch.set_var("bridge_channel", och.name)
        ch.set_var("bridge_uuid", och.uuid)
        ch.set_var("signal_bond", och.uuid)
        if not transfer:
            return
        ch.set_var("original_destination_number", ch.profile.destination_number)
        ch.set_var("original_caller_id_name", ch.profile.caller_id_name)
        ch.set_var("original_caller_id_number", ch.profile.caller_id_number)
        source = ch.profile.transfer_source
        history = ch.variables.get("transfer_history")
        ch.set_var("transfer_history", f"{history}|:{source}" if history else source)
        ch.set_var("transfer_source", source)
        ch.set_var("current_loop", None)
        ch.set_var("total_loops", None)

    def _join(self, a: Session, b: Session) -> None:
        """Mark the legs bridged and fire CHANNEL_BRIDGE on the originator."""
        now = self.sw.now_us()
        a.bridge_partner, b.bridge_partner = b.uuid, a.uuid
        a.bridge_role, b.bridge_role = "originator", "originatee"
        a.channel.profile.times.bridged = now
        b.channel.profile.times.bridged = now
        b.channel.set_var("call_uuid", a.channel.call_uuid)
        self.sw.fire(
            "CHANNEL_BRIDGE",
            a.channel,
            pre=[("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)],
        )

    def _after_bridge(self, a: Session, b: Session) -> None:
        """Variables the bridge thread sets once running, and SIP's display updates."""
        sw = self.sw
        for leg, other in ((a, b), (b, a)):
            ch = leg.channel
            ch.set_var("bridge_to", other.uuid)
            ch.set_var("last_bridge_to", other.uuid)
            ch.set_var("last_sent_callee_id_name", other.channel.profile.caller_id_name)
            ch.set_var("last_sent_callee_id_number", other.channel.profile.caller_id_number)
            if ch.kind == "sofia":
                sw.fire(
                    "CALL_UPDATE",
                    ch,
                    variant="sofia_msg",
                    pre=[
                        ("Direction", "SEND"),
                        ("Sent-Callee-ID-Name", ch.profile.callee_id_name),
                        ("Sent-Callee-ID-Number", ch.profile.callee_id_number),
                        ("Bridged-To", other.uuid),
                    ],
                )
                peer = sw.get(leg.peer)
                if peer is not None:
                    self._display_update(
                        peer, ch.profile.callee_id_name, ch.profile.callee_id_number
                    )

    def _display_update(self, peer: Session, name: str, number: str) -> None:
        """The far SIP end receives UPDATE/INFO with the new display: CALL_UPDATE + RECV_INFO."""
        sw = self.sw
        pch = peer.channel
        pch.profile.callee_id_name = name
        pch.profile.callee_id_number = number
        sw.fire("CALL_UPDATE", pch, variant="sofia", pre=[("Direction", "RECV")])
        ip = sw.settings.sip_ip
        sw.fire(
            "RECV_INFO",
            pch,
            pre=[
                ("SIP-Content-Type", "message/update_display"),
                ("SIP-From-User", pch.profile.destination_number),
                ("SIP-From-Host", ip),
                ("SIP-To-User", pch.profile.caller_id_number),
                ("SIP-To-Host", ip),
                ("SIP-Contact-User", pch.profile.destination_number),
                ("SIP-Contact-Host", ip),
            ],
            extended=False,
        )

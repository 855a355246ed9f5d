"""How each kind of call leg behaves: mod_loopback pairs, SIP legs and their far ends.

Answer, DTMF and hold travel between the legs of one call the way the captures show: a
loopback B leg answering answers its A leg first; a SIP leg answering sends 200 OK to the
simulator's own outgoing leg; DTMF sent out of one leg arrives on the far end (and on through
a bridge); holding a leg plays music to its bridge partner and re-INVITEs the far end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cc_sim.core.channel import Codec
from cc_sim.core.states import CallState
from cc_sim.engine import sipvars
from cc_sim.engine.session import Message, Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch

OPUS = Codec("opus", 48000, 0)
ACK_SECONDS = 0.02
"""How long after our 200 OK the far end's ACK arrives."""


class Legs:
    """Channel-kind behaviour for a switch."""

    def __init__(self, switch: Switch) -> None:
        self.sw = switch

    # ---- topology --------------------------------------------------------------------------

    def far_end(self, sess: Session) -> Session | None:
        """Return the other half of this leg (loopback partner or the simulated SIP peer)."""
        ch = sess.channel
        if ch.kind == "loopback":
            return self.sw.get(ch.partner_uuid)
        return self.sw.get(sess.peer)

    # ---- answer ----------------------------------------------------------------------------

    def answer(self, sess: Session) -> None:
        """Answer this leg as FreeSWITCH would for its kind."""
        ch = sess.channel
        if ch.answered or ch.is_down:
            return
        if ch.kind == "loopback":
            partner = self.far_end(sess)
            if partner is not None and ch.variables.get("loopback_leg") == "B":
                self.sw.mark_answered(partner)
            self.sw.mark_answered(sess)
            if ch.variables.get("loopback_leg") == "B":
                ch.set_var("endpoint_disposition", "ANSWER")
            return
        if ch.kind == "sofia" and ch.direction == "inbound":
            self.pre_answer(sess)
            ch.set_var("rtp_local_sdp_str", sipvars._sdp(self.sw.settings.sip_ip, 0))
            self.sw.mark_answered(sess)
            peer = self.far_end(sess)
            if peer is not None:
                self.remote_answered(peer)
                self.sw.later(sess, ACK_SECONDS, lambda: self._acked(sess, peer))
            return
        if ch.kind == "sofia":
            self.remote_answered(sess)
            return
        self.sw.mark_answered(sess)

    def _acked(self, sess: Session, peer: Session) -> None:
        """The ACK for our 200 OK arrives: the dialog's to-tag and CSeq become known."""
        ch = sess.channel
        ch.set_var("sip_to_tag", peer.channel.variables.get("sip_to_tag", ""))
        ch.set_var("sip_cseq", peer.channel.variables.get("sip_cseq", ""))

    def pre_answer(self, sess: Session) -> None:
        """Start early media (183 Session Progress on SIP)."""
        ch = sess.channel
        if ch.answered or ch.early or ch.is_down:
            return
        if ch.kind == "sofia":
            self.negotiate(sess)
        self.sw.mark_pre_answered(sess)

    def negotiate(self, sess: Session) -> None:
        """Set up media on a SIP leg: the two CODEC events and the RTP variables (once)."""
        ch = sess.channel
        if ch.read_codec is not None:
            return
        ch.read_codec = OPUS
        ch.write_codec = OPUS
        self.sw.fire_codec_events(sess, real=True)
        ip = self.sw.settings.sip_ip
        ch.set_vars(
            sipvars.negotiated_media(
                ip=ip, local_port=sipvars.media_port(), remote_port=sipvars.media_port()
            )
        )

    def remote_answered(self, sess: Session) -> None:
        """Our outgoing SIP leg got its 200 OK: media, then CHANNEL_ANSWER."""
        ch = sess.channel
        if ch.answered or ch.is_down:
            return
        profile = ch.profile
        profile.network_addr = self.sw.settings.sip_ip
        user, _, target = ch.variables.get("sip_req_uri", "@").partition("@")
        ch.set_vars(
            sipvars.outbound_answered(
                ip=self.sw.settings.sip_ip,
                user=user,
                target=target,
                caller_number=profile.caller_id_number,
                caller_name=profile.caller_id_name,
                call_id=ch.variables.get("sip_call_id") or ch.uuid,
            )
        )
        self.negotiate(sess)
        self.sw.mark_answered(sess)

    # ---- DTMF ------------------------------------------------------------------------------

    def send_dtmf(self, sess: Session, digits: str, duration_ms: int) -> None:
        """uuid_send_dtmf: the digits leave this leg and arrive at the far end(s)."""
        sess.channel.set_var("last_dtmf_duration", str(duration_ms + 500))
        receivers = []
        far = self.far_end(sess)
        if far is not None:
            receivers.append(far)
            partner = self.sw.get(far.bridge_partner)
            if partner is not None:
                onward = self.far_end(partner)
                if onward is not None:
                    receivers.append(onward)
        if sess.channel.kind == "loopback":
            for receiver in receivers:
                for digit in digits:
                    self.receive_digit(receiver, digit, duration_ms)
            return
        for digit in digits:
            for receiver in receivers:
                self.receive_digit(receiver, digit, duration_ms)

    def recv_dtmf(self, sess: Session, digits: str, duration_ms: int) -> None:
        """uuid_recv_dtmf: the digits arrive on this leg (and travel on over a loopback bridge)."""
        for digit in digits:
            self.receive_digit(sess, digit, duration_ms)
        if sess.channel.kind != "loopback":
            return
        partner = self.sw.get(sess.bridge_partner)
        if partner is None:
            return
        onward = self.far_end(partner)
        if onward is not None:
            for digit in digits:
                self.receive_digit(onward, digit, duration_ms)

    def receive_digit(self, sess: Session, digit: str, duration_ms: int) -> None:
        """One DTMF digit is dequeued on ``sess``: the DTMF event, then whoever listens."""
        ch = sess.channel
        if ch.is_down:
            return
        sess.digits += digit
        samples = duration_ms * ((ch.read_codec.rate if ch.read_codec else 8000) // 1000)
        self.sw.fire(
            "DTMF",
            ch,
            post=[
                ("DTMF-Digit", digit),
                ("DTMF-Duration", str(samples)),
                ("DTMF-Source", "UNKNOWN" if ch.kind == "loopback" else "RTP"),
            ],
        )
        for hook in list(sess.on_dtmf):
            hook(digit)

    # ---- hold ------------------------------------------------------------------------------

    def hold(self, sess: Session, mode: str) -> str:
        """uuid_hold [off|toggle]: return the API reply text."""
        held = sess.held
        want = not held if mode == "toggle" else mode != "off"
        if not want and not held:
            return "-ERR Operation failed\n"
        if want:
            self.start_hold(sess)
        else:
            self.end_hold(sess)
        return "+OK Success\n"

    def start_hold(self, sess: Session) -> None:
        """Put the far end on hold and play music on hold to the bridge partner."""
        ch = sess.channel
        sip = ch.kind == "sofia"
        partner = self.sw.get(sess.bridge_partner)
        if sip:
            sess.held = True
            self._hold_started(sess)
            self.sw.set_callstate(sess, CallState.HELD)
            if partner is not None and partner.channel.kind == "sofia":
                partner.channel.set_var("switch_m_sdp", sipvars._sdp(self.sw.settings.sip_ip, 0))
        self.sw.fire("CHANNEL_HOLD", ch)
        self.sw.scheduler.call_soon(lambda: self._far_end_hold(sess, partner, sip))

    def _far_end_hold(self, sess: Session, partner: Session | None, sip: bool) -> None:
        peer = self.far_end(sess) if sip else None
        if peer is not None and not peer.channel.is_down:
            peer.held = True
            self._hold_started(peer)
            self.sw.set_callstate(peer, CallState.HELD)
            self.sw.fire("CHANNEL_HOLD", peer.channel, variant="sofia")
        if partner is not None and partner.moh_on is None and not partner.channel.is_down:
            music = self.sw.global_vars.get("hold_music", "local_stream://moh")
            partner.moh_on = music
            self.sw.deliver(partner, broadcast_message(partner.uuid, music, loops=-1))
        if peer is not None and not peer.channel.is_down:
            self.reinvite(peer)

    def end_hold(self, sess: Session) -> None:
        """Take the call off hold: the music stops and the far end is re-INVITEd."""
        ch = sess.channel
        sess.held = False
        self._hold_ended(sess)
        if ch.kind == "sofia" and "dlg_req_swap_direction" not in ch.variables:
            # the far end's re-INVITE turns the dialog round (what mod_sofia records)
            ch.set_var("sip_reply_host", self.sw.settings.sip_ip)
            ch.set_var("sip_reply_port", "5060")
            ch.set_var("dlg_req_swap_direction", "true")
            ch.set_var("sip_to_display", ch.profile.caller_id_name)
            ch.set_var("sip_from_port", ch.variables.get("sip_to_port") or "5080")
            ch.set_var("sip_to_port", None)
            ch.set_var("sip_from_display", None)
        self.sw.set_callstate(sess, CallState.UNHELD)
        self.sw.set_callstate(sess, CallState.ACTIVE)
        partner = self.sw.get(sess.bridge_partner)
        if partner is not None and partner.moh_on is not None:
            partner.moh_on = None
            run = partner.app
            if run is not None and run.name == "playback":
                self.sw.stop_app(partner)
        self.sw.fire("CHANNEL_UNHOLD", ch)
        peer = self.far_end(sess)
        if peer is not None:
            self.sw.scheduler.call_soon(lambda: self._far_end_unhold(peer))

    def _far_end_unhold(self, peer: Session) -> None:
        if peer.channel.is_down:
            return
        peer.held = False
        self._hold_ended(peer)
        pch = peer.channel
        if "dlg_req_swap_direction" not in pch.variables:
            pch.set_var("dlg_req_swap_direction", "true")
            pch.set_var("sip_to_display", pch.profile.callee_id_name or pch.profile.caller_id_name)
            pch.set_var("sip_from_display", None)
        self.sw.set_callstate(peer, CallState.UNHELD)
        self.sw.fire("CHANNEL_UNHOLD", peer.channel, variant="sofia")
        self.reinvite(peer)
        self.sw.set_callstate(peer, CallState.ACTIVE)

    def _hold_started(self, sess: Session) -> None:
        now = self.sw.now_us()
        sess.channel.profile.times.last_hold = now
        sess.hold_periods.append([now, 0])

    def _hold_ended(self, sess: Session) -> None:
        now = self.sw.now_us()
        times = sess.channel.profile.times
        if times.last_hold:
            times.hold_accum += now - times.last_hold
        if sess.hold_periods and not sess.hold_periods[-1][1]:
            sess.hold_periods[-1][1] = now

    def reinvite(self, sess: Session) -> None:
        """Fire the sofia::reinvite CUSTOM event (it carries only the Unique-ID)."""
        self.sw.fire("CUSTOM", subclass="sofia::reinvite", post=[("Unique-ID", sess.uuid)])


def broadcast_message(uuid: str, path: str, *, loops: int = 1) -> Message:
    """Build the private message uuid_broadcast queues (playback with lead-frames)."""
    return Message(
        command="execute",
        app="playback",
        arg=path,
        loops=loops,
        event_lock=True,
        headers=[
            ("call-command", "execute"),
            ("execute-app-name", "playback"),
            ("execute-app-arg", path),
            ("event-lock", "true"),
            ("lead-frames", "5"),
            *([("loops", str(loops))] if loops != 1 else []),
        ],
        broadcast=True,
    )

"""originate and the bridge application: creating outgoing legs and waiting for an answer.

Dial strings the simulator understands:

* ``loopback/<ext>[/<context>]``: a mod_loopback pair; the B leg runs the dialplan.
* ``sofia/<profile>/<user>@<host:port>``: when host:port is the simulator's own external
  profile the call loops back in through the ``public`` context (as in the captures);
  anything else is unreachable (``NORMAL_TEMPORARY_FAILURE``).
* ``sofia/gateway/<gateway>/<number>``: a number in the directory (an outbound customer).
* ``user/<id>``: a registered agent phone (``USER_NOT_REGISTERED`` otherwise).
* ``error/<cause>``: fails at once with that cause.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from cc_sim.core.channel import L16
from cc_sim.core.dialplan import Action
from cc_sim.core.dialstring import OriginateRequest
from cc_sim.core.profile import CallerProfile
from cc_sim.core.states import ChannelState, cause_code, normalize_cause
from cc_sim.engine import sipvars
from cc_sim.engine.endpoints import CAUSE_BY_OUTCOME, AgentPhone, AnswerPlan, Directory
from cc_sim.engine.session import AppRun, Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch

Done = Callable[[str], None]
DEFAULT_TIMEOUT = 60.0


class Originator:
    """Creates outgoing legs for originate and the bridge application."""

    def __init__(self, switch: Switch) -> None:
        self.sw = switch

    # ---- originate -------------------------------------------------------------------------

    def originate(self, request: OriginateRequest, done: Done) -> None:
        """Start an originate; ``done`` gets ``+OK <uuid>`` or ``-ERR <CAUSE>`` (with newline).

        The leg comes into existence after the setup delay, as on FreeSWITCH, whose originate
        thread creates it a moment later: until then commands naming it find no channel."""
        delay = self.setup_delay() + _delay_start(request)
        if delay > 0:
            self.sw.scheduler.call_later(delay, lambda: self.start(request, done))
        else:
            self.start(request, done)

    def setup_delay(self) -> float:
        """Draw how long this originate takes to create its leg (seeded by the switch)."""
        low, high = self.sw.settings.originate_setup_seconds
        return low if high <= low else self.sw.rng.uniform(low, high)

    def start(self, request: OriginateRequest, done: Done) -> None:
        """Create the originated leg and watch it until the originate is decided."""
        leg = self.dial(request, done)
        if leg is None:
            return
        self.watch(leg, request, done)

    def dial(self, request: OriginateRequest, done: Done) -> Session | None:
        """Create the outgoing leg for a dial string (or fail at once through ``done``)."""
        dial = request.dial
        scheme, _, rest = dial.partition("/")
        scheme = scheme.lower()
        if scheme == "error":
            done(f"-ERR {normalize_cause(rest)}\n")
            return None
        if scheme == "loopback":
            return self.loopback_pair(request, rest)
        if scheme == "user":
            return self.user_leg(request, rest, done)
        if scheme == "sofia":
            return self.sofia_leg(request, rest, done)
        done("-ERR CHAN_NOT_IMPLEMENTED\n")
        return None

    def watch(self, leg: Session, request: OriginateRequest, done: Done) -> None:
        """Finish the originate on answer, on the leg's hangup, or on originate_timeout."""
        state = {"finished": False}

        def finish(text: str) -> None:
            if not state["finished"]:
                state["finished"] = True
                done(text)

        def answered() -> None:
            if hung_up in leg.on_hangup:
                leg.on_hangup.remove(hung_up)
            delay = self.sw.settings.originate_reply_seconds
            if delay > 0:
                self.sw.scheduler.call_later(delay, lambda: self.answered(leg, request, finish))
            else:
                self.sw.scheduler.call_soon(lambda: self.answered(leg, request, finish))

        def hung_up(cause: str) -> None:
            finish(f"-ERR {cause}\n")

        leg.on_answer.append(answered)
        leg.on_hangup.append(hung_up)
        timeout = _timeout(request)
        self.sw.later(leg, timeout, lambda: self.timed_out(leg))

    def timed_out(self, leg: Session) -> None:
        """originate_timeout elapsed before an answer: NO_ANSWER."""
        if not leg.channel.answered and not leg.channel.is_down:
            self.sw.hangup(leg, "NO_ANSWER")

    def answered(self, leg: Session, request: OriginateRequest, finish: Done) -> None:
        """The far end answered: flip caller id (CALL_UPDATE), reply, then run the app."""
        ch = leg.channel
        if ch.is_down:
            finish(f"-ERR {ch.hangup_cause or 'NORMAL_CLEARING'}\n")
            return
        if leg.bridge_partner is not None and self.early_bridge_cancelled():
            # Bridged before the originate noticed its answer: FreeSWITCH 1.10 may end the
            # job ORIGINATOR_CANCEL although the leg is up and stays bridged.
            finish("-ERR ORIGINATOR_CANCEL\n")
            return
        ch.set_var("endpoint_disposition", "ANSWER")
        profile = ch.profile
        ch.set_var("pre_transfer_caller_id_name", profile.caller_id_name)
        ch.set_var("pre_transfer_caller_id_number", profile.caller_id_number)
        ch.set_var("channel_cid_flipped", "yes")
        profile.caller_id_name, profile.callee_id_name = (
            profile.callee_id_name,
            profile.caller_id_name,
        )
        profile.caller_id_number, profile.callee_id_number = (
            profile.callee_id_number,
            profile.caller_id_number,
        )
        self.sw.fire("CALL_UPDATE", ch, pre=[("Direction", "RECV")])
        finish(f"+OK {ch.uuid}\n")
        if leg.bridge_partner is not None:
            return  # already bridged: the originate's application never runs
        if request.app:
            ch.flags.add("dialplan")
            leg.script.clear()
            leg.script.append(Action(request.app, request.app_args))
            self.sw.enter_execute(leg)
            self.sw.advance(leg)
        elif request.extension:
            self.sw.transfer(leg, request.extension, request.context)

    def early_bridge_cancelled(self) -> bool:
        """Draw whether this early bridge hits the ORIGINATOR_CANCEL race."""
        chance = self.sw.settings.early_bridge_cancel
        return chance >= 1.0 or (chance > 0 and self.sw.rng.random() < chance)

    # ---- profiles and variables ------------------------------------------------------------

    def caller_profile(
        self, request: OriginateRequest, destination: str, *, source: str, context: str
    ) -> CallerProfile:
        """Build the originated leg's caller profile from {origination_caller_id_*}."""
        name = request.var("origination_caller_id_name") or request.cid_name or ""
        number = request.var("origination_caller_id_number") or request.cid_num or "0000000000"
        return CallerProfile(
            direction="outbound",
            logical_direction="outbound",
            dialplan="xml",
            caller_id_name=name,
            caller_id_number=number,
            orig_caller_id_name=name,
            orig_caller_id_number=number,
            callee_id_name="Outbound Call",
            callee_id_number=destination,
            ani=number,
            destination_number=destination,
            source=source,
            context=context,
        )

    def origination_vars(self, sess: Session, request: OriginateRequest) -> None:
        """Copy the {vars} of the dial string onto the leg (origination_uuid is consumed)."""
        for name, value in request.variables:
            if name != "origination_uuid":
                sess.channel.set_var(name, value)

    def new_uuid(self, request: OriginateRequest) -> str:
        """Return origination_uuid when given and free, else a fresh uuid."""
        wanted = request.var("origination_uuid")
        if wanted and wanted not in self.sw.sessions:
            return wanted
        return str(uuidlib.uuid4())

    # ---- mod_loopback ----------------------------------------------------------------------

    def loopback_pair(self, request: OriginateRequest, rest: str) -> Session:
        """Create the A (outgoing) and B (dialplan) legs of ``loopback/<ext>[/<context>]``."""
        sw = self.sw
        parts = rest.split("/")
        extension = parts[0]
        context = parts[1] if len(parts) > 1 and parts[1] else "default"
        profile = self.caller_profile(request, extension, source="mod_loopback", context=context)
        profile.callee_id_number = context
        a = sw.new_session(
            kind="loopback",
            name=f"loopback/{rest}-a",
            direction="outbound",
            profile=profile,
            uuid=self.new_uuid(request),
            codec=L16,
        )
        a.channel.has_profile = False
        sw.fire_codec_events(a)
        a.channel.name = f"loopback/{extension}-a"
        a.channel.profile.chan_name = a.channel.name
        a.channel.has_profile = True
        a.channel.state = ChannelState.CS_INIT
        sw.fire("CHANNEL_OUTGOING", a.channel)
        sw.set_state(a, ChannelState.CS_INIT)
        b_profile = CallerProfile(
            direction="inbound",
            logical_direction="inbound",
            dialplan="xml",
            caller_id_name=profile.caller_id_name,
            caller_id_number=profile.caller_id_number,
            orig_caller_id_name=profile.caller_id_name,
            orig_caller_id_number=profile.caller_id_number,
            callee_id_name="Outbound Call",
            callee_id_number=context,
            ani=profile.caller_id_number,
            destination_number=extension,
            source="mod_loopback",
            context=context,
        )
        b = sw.new_session(
            kind="loopback",
            name=f"loopback/{extension}-b",
            direction="inbound",
            profile=b_profile,
            codec=L16,
        )
        b.channel.has_profile = False
        sw.fire_codec_events(b)
        b.channel.has_profile = True
        a.channel.partner_uuid = b.uuid
        b.channel.partner_uuid = a.uuid
        sw.base_variables(a, outbound=True)
        sw.codec_variables(a)
        a.channel.set_var("channel_name", a.channel.name)
        self.origination_vars(a, request)
        a.channel.set_var("originate_early_media", "true")
        a.channel.set_var("originate_endpoint", "loopback")
        a.channel.set_var("other_loopback_leg_uuid", b.uuid)
        a.channel.set_var("loopback_leg", "A")
        sw.fire("CHANNEL_CREATE", a.channel)
        sw.fire("CHANNEL_ORIGINATE", a.channel)
        sw.set_state(a, ChannelState.CS_ROUTING)
        sw.set_state(a, ChannelState.CS_CONSUME_MEDIA)
        sw.base_variables(b, outbound=False)
        b.channel.set_var("channel_name", b.channel.name)
        sw.codec_variables(b)
        self.origination_vars(b, request)
        b.channel.set_var("other_loopback_leg_uuid", a.uuid)
        b.channel.set_var("loopback_leg", "B")
        sw.set_state(b, ChannelState.CS_INIT)
        sw.fire("CHANNEL_CREATE", b.channel)
        self.link_loopback(a, b)
        sw.scheduler.call_soon(lambda: sw.start_dialplan(b))
        return a

    def link_loopback(self, a: Session, b: Session) -> None:
        """Hang each loopback leg up when the other goes (an API kill unparks first)."""

        def propagate(source: Session, target: Session) -> Callable[[str], None]:
            def hook(cause: str) -> None:
                def later() -> None:
                    if target.channel.is_down:
                        return
                    if source.hangup_source == "api" and target.park is not None:
                        self.sw.unpark(target, completing=True)
                    self.sw.hangup(target, cause)

                self.sw.scheduler.call_soon(later)

            return hook

        a.on_hangup.append(propagate(a, b))
        b.on_hangup.append(propagate(b, a))

    # ---- SIP -------------------------------------------------------------------------------

    def sofia_leg(self, request: OriginateRequest, rest: str, done: Done) -> Session | None:
        """``sofia/<profile>/<user>@<host>`` or ``sofia/gateway/<gw>/<number>``."""
        profile_name, _, target = rest.partition("/")
        if profile_name == "gateway":
            gateway, _, number = target.partition("/")
            return self.gateway_leg(request, gateway, number, done)
        user, _, host = target.partition("@")
        if not user or not host:
            done("-ERR INVALID_URL\n")
            return None
        if host in self.sw.settings.sip_self:
            return self.sip_pair(request, profile_name, user, host)
        directory = self.sw.directory
        phone = directory.phone(user) if directory else None
        leg = self.outgoing_sip(request, f"sofia/{profile_name}/{user}@{host}", user, host)
        if phone is not None and directory is not None:
            self.ring_phone(leg, phone, directory)
        else:
            self.unreachable(leg)
        return leg

    def user_leg(self, request: OriginateRequest, rest: str, done: Done) -> Session | None:
        """``user/<id>``: look the phone up (two API calls, as the user directory does)."""
        user = rest.split("@", 1)[0]
        domain = self.sw.settings.domain
        self.sw.fire_api_event("sofia_contact", f"*/{user}@{domain}")
        self.sw.fire_api_event("verto_contact", f"{user}@{domain}")
        directory = self.sw.directory
        phone = directory.phone(user) if directory else None
        if phone is None or directory is None:
            done("-ERR USER_NOT_REGISTERED\n")
            return None
        target = f"{self.sw.settings.sip_ip}:{5062 + sum(map(ord, user)) % 1000}"
        leg = self.outgoing_sip(request, f"sofia/internal/{user}@{target}", user, target)
        leg.channel.set_var("dialed_user", user)
        leg.channel.set_var("dialed_domain", domain)
        self.ring_phone(leg, phone, directory)
        return leg

    def ring_phone(self, leg: Session, phone: AgentPhone, directory: Directory) -> None:
        """Ring an agent's phone; its wrap-up starts when the call it took ends."""
        plan = phone.plan(directory.rng, self.sw.now_us())
        if plan.outcome == "answer":

            def taken() -> None:
                phone.in_call = True
                leg.on_hangup.append(
                    lambda _cause: phone.call_ended(self.sw.now_us(), directory.rng)
                )

            leg.on_answer.append(taken)
        self.ring(leg, plan)

    def gateway_leg(
        self, request: OriginateRequest, gateway: str, number: str, done: Done
    ) -> Session | None:
        """A call to the public network through a gateway: whoever the directory says answers."""
        directory = self.sw.directory
        callee = directory.callee(number) if directory else None
        leg = self.outgoing_sip(request, f"sofia/gateway/{gateway}/{number}", number, gateway)
        leg.channel.set_var("sip_gateway_name", gateway)
        if callee is None or directory is None:
            self.unreachable(leg)
        else:
            self.ring(leg, callee.plan(directory.rng))
        return leg

    def outgoing_sip(
        self, request: OriginateRequest, name: str, user: str, target: str, *, invite: bool = True
    ) -> Session:
        """Create an outgoing SIP leg: OUTGOING, CS_INIT, CREATE, ORIGINATE, ROUTING, CONSUME."""
        sw = self.sw
        ip = sw.settings.sip_ip
        profile = self.caller_profile(request, user, source="mod_sofia", context="default")
        profile.dialplan = ""
        leg = sw.new_session(
            kind="sofia",
            name=name,
            direction="outbound",
            profile=profile,
            uuid=self.new_uuid(request),
        )
        ch = leg.channel
        ch.state = ChannelState.CS_INIT
        sw.fire("CHANNEL_OUTGOING", ch)
        sw.set_state(leg, ChannelState.CS_INIT)
        sw.base_variables(leg, outbound=True)
        ch.set_vars(sipvars.outbound_leg_before_create(ip=ip, user=user, target=target))
        ch.set_var("channel_name", name)
        ch.set_vars(sipvars.outbound_leg_destination(user=user, target=target))
        self.origination_vars(leg, request)
        ch.set_var("originate_early_media", "true")
        ch.set_var("originate_endpoint", "sofia")
        ch.set_vars(sipvars.outbound_leg_media(ip=ip, port=sipvars.media_port()))
        if invite:
            ch.set_vars(sipvars.outbound_leg_invite(ip=ip, user=user, target=target))
        sw.fire("CHANNEL_CREATE", ch)
        sw.fire("CHANNEL_ORIGINATE", ch)
        sw.set_state(leg, ChannelState.CS_ROUTING)
        sw.set_state(leg, ChannelState.CS_CONSUME_MEDIA)
        leg.on_hangup.append(lambda cause: self.sent_bye(leg, cause))
        return leg

    def sent_bye(self, leg: Session, cause: str) -> None:
        """Record how an answered SIP leg ended (BYE sent by us, or received)."""
        ch = leg.channel
        if ch.answered and "sip_hangup_disposition" not in ch.variables:
            ch.set_vars(sipvars.hangup_bye(sent=leg.hangup_source != "far"))

    def unreachable(self, leg: Session) -> None:
        """The INVITE is refused (503): NORMAL_TEMPORARY_FAILURE shortly after."""
        ch = leg.channel

        def refuse() -> None:
            ch.set_vars(sipvars.outbound_leg_failure())
            self.sw.hangup(leg, "NORMAL_TEMPORARY_FAILURE")

        self.sw.later(leg, self.sw.settings.sip_failure_seconds, refuse)

    def ring(self, leg: Session, plan: AnswerPlan) -> None:
        """Play a far end's plan on an outgoing leg: ring, then answer / busy / reject / nothing."""
        sw = self.sw
        sw.later(leg, min(0.05, plan.after_seconds), lambda: sw.mark_ring_ready(leg))
        if plan.outcome == "no_answer":
            return
        if plan.outcome == "unreachable":
            self.unreachable(leg)
            return

        def act() -> None:
            if leg.channel.is_down:
                return
            if plan.outcome == "answer":
                if plan.early_media:
                    sw.legs.negotiate(leg)
                    sw.mark_pre_answered(leg)
                sw.legs.remote_answered(leg)
                if plan.talk_seconds is not None:
                    sw.later(leg, plan.talk_seconds, lambda: self.far_hangup(leg))
                return
            cause = CAUSE_BY_OUTCOME[plan.outcome]
            leg.channel.set_vars(
                [
                    ("sip_hangup_disposition", "recv_refuse"),
                    ("sip_term_status", "486" if cause == "USER_BUSY" else "603"),
                    (
                        "proto_specific_hangup_cause",
                        "sip:486" if cause == "USER_BUSY" else "sip:603",
                    ),
                    ("sip_term_cause", str(cause_code(cause))),
                ]
            )
            sw.hangup(leg, cause, source="far")

        sw.later(leg, max(plan.after_seconds, 0.05), act)

    def far_hangup(self, leg: Session, cause: str = "NORMAL_CLEARING") -> None:
        """The person on the far end hangs up (BYE received)."""
        if leg.channel.is_down:
            return
        self.sw.hangup(leg, cause, source="far")
        leg.channel.set_vars(sipvars.hangup_bye(sent=False))

    def sip_pair(
        self, request: OriginateRequest, profile_name: str, user: str, host: str
    ) -> Session:
        """An outgoing SIP leg to our own external profile and the inbound leg it creates."""
        leg = self.outgoing_sip(request, f"sofia/{profile_name}/{user}@{host}", user, host)
        caller_number = leg.channel.profile.caller_id_number or "0000000000"
        caller_name = leg.channel.profile.caller_id_name or caller_number
        inbound = self.inbound_sip(
            destination=user,
            caller_number=caller_number,
            caller_name=caller_name,
            target=host,
            context="public",
        )
        leg.peer = inbound.uuid
        inbound.peer = leg.uuid
        self.link_sip(leg, inbound)
        return leg

    def inbound_sip(
        self,
        *,
        destination: str,
        caller_number: str,
        caller_name: str,
        target: str,
        context: str,
        uuid: str | None = None,
    ) -> Session:
        """A call arriving on the external SIP profile: CS_NEW, CS_INIT, CREATE, then routing."""
        sw = self.sw
        ip = sw.settings.sip_ip
        profile = CallerProfile(
            direction="inbound",
            logical_direction="inbound",
            username=caller_number,
            dialplan="XML",
            caller_id_name=caller_name,
            caller_id_number=caller_number,
            orig_caller_id_name=caller_name,
            orig_caller_id_number=caller_number,
            network_addr=ip,
            ani=caller_number,
            destination_number=destination,
            source="mod_sofia",
            context=context,
        )
        name = f"sofia/external/{caller_number}@{ip}"
        sess = sw.new_session(
            kind="sofia", name=name, direction="inbound", profile=profile, uuid=uuid
        )
        ch = sess.channel
        ch.has_profile = False
        ch.running_state = ChannelState.CS_NEW
        sw.fire("CHANNEL_STATE", ch)
        ch.has_profile = True
        sw.base_variables(sess, outbound=False)
        ch.set_vars(
            sipvars.inbound_leg(
                ip=ip,
                caller_number=caller_number,
                caller_name=caller_name,
                destination=destination,
                target=target,
                call_id=str(uuidlib.uuid4()),
                invite_us=sw.now_us(),
            )
        )
        sw.set_state(sess, ChannelState.CS_INIT)
        sw.fire("CHANNEL_CREATE", ch)
        sw.scheduler.call_soon(lambda: sw.start_dialplan(sess))
        return sess

    def link_sip(self, outgoing: Session, incoming: Session) -> None:
        """A BYE or CANCEL on one side of our own SIP call ends the other side."""

        def propagate(source: Session, target: Session) -> Callable[[str], None]:
            def hook(cause: str) -> None:
                def later() -> None:
                    tch = target.channel
                    if tch.is_down:
                        return
                    if source.channel.answered and tch.answered and source is outgoing:
                        tch.set_vars(sipvars.hangup_reason(cause_code(cause), cause))
                    self.far_hangup(target, cause)

                self.sw.scheduler.call_soon(later)

            return hook

        outgoing.on_hangup.append(propagate(outgoing, incoming))
        incoming.on_hangup.append(propagate(incoming, outgoing))

    # ---- the bridge application ------------------------------------------------------------

    def bridge_app(self, sess: Session, run: AppRun) -> None:
        """``bridge <dialstring>``: ring the leg, bridge on answer, complete when it ends."""
        from cc_sim.core.dialstring import DialError, parse_originate

        try:
            request = parse_originate(f"{run.data} &park()")
        except DialError:
            sess.channel.set_var("originate_disposition", "INVALID_URL")
            self.sw.finish_app(sess, run)
            return
        if not request.var("origination_caller_id_number"):
            request.variables.append(
                ("origination_caller_id_number", sess.channel.profile.caller_id_number)
            )
            request.variables.append(
                ("origination_caller_id_name", sess.channel.profile.caller_id_name)
            )

        def failed(text: str) -> None:
            if text.startswith("+OK"):
                return
            cause = text.removeprefix("-ERR ").strip()
            ch = sess.channel
            ch.set_var("originate_disposition", cause)
            ch.set_var("DIALSTATUS", "BUSY" if cause == "USER_BUSY" else "NOANSWER")
            self.sw.finish_app(sess, run)

        leg = self.dial(request, failed)
        if leg is None:
            return

        def answered() -> None:
            self.sw.scheduler.call_soon(lambda: self.sw.bridges.app_bridge(sess, leg, run))

        def unanswered_hangup(cause: str) -> None:
            if not leg.channel.answered:
                failed(f"-ERR {cause}\n")

        def cancel() -> None:
            self.sw.hangup(leg, "ORIGINATOR_CANCEL")

        leg.on_answer.append(answered)
        leg.on_hangup.append(unanswered_hangup)
        self.sw.later(leg, _timeout(request), lambda: self.timed_out(leg))
        run.on_interrupt = cancel


def _delay_start(request: OriginateRequest) -> float:
    """``{originate_delay_start=N}``: FreeSWITCH waits N timer ticks (about 1 ms each) before
    it creates the leg (read from the ``{}`` block only, as FreeSWITCH does)."""
    value = (
        request.var("originate_delay_start") if "originate_delay_start" in request.whole else None
    )
    try:
        return max(0, int(value or 0)) / 1000
    except ValueError:
        return 0.0  # atoi: not a number waits not at all


def _timeout(request: OriginateRequest) -> float:
    for name in ("originate_timeout", "call_timeout", "leg_timeout"):
        value = request.var(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return request.timeout if request.timeout is not None else DEFAULT_TIMEOUT

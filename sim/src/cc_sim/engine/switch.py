"""The simulated switch: channels, their state machine and event firing, in FreeSWITCH's order.

Everything here runs synchronously on one thread (the asyncio loop); time passes only through
the scheduler, whose clock may be compressed. Applications, originate and API commands live in
sibling modules and drive sessions through the methods below, which fire the same events, in
the same per-channel order, with the same header and variable sets as FreeSWITCH 1.10.
"""

from __future__ import annotations

import itertools
import random
import re
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cc_sim.clock import Scheduler
from cc_sim.core.channel import Channel, Codec
from cc_sim.core.dialplan import Dialplan
from cc_sim.core.events import EventFactory, HostInfo, SimEvent
from cc_sim.core.profile import CallerProfile, Header
from cc_sim.core.states import CallState, ChannelState, cause_code, normalize_cause
from cc_sim.engine import apps, sipvars
from cc_sim.engine.api import ApiCommands
from cc_sim.engine.bridges import Bridges
from cc_sim.engine.legs import Legs
from cc_sim.engine.listing import ChannelListing
from cc_sim.engine.originate import Originator
from cc_sim.engine.recorder import Recorder
from cc_sim.engine.session import AppRun, Message, Session

if TYPE_CHECKING:
    from cc_sim.engine.endpoints import AgentPhone, Directory

EventSink = Callable[[SimEvent], None]
_VARIABLE = re.compile(r"\$\{([^{}]+)\}")
OutboundConnector = Callable[[Session, str, int, list[str]], None]

VERSION = "1.10.12-release"
"""The FreeSWITCH version the simulator imitates (and reports)."""


@dataclass(slots=True)
class SwitchSettings:
    """Knobs of the simulated switch (durations in simulated seconds)."""

    domain: str = "127.0.0.1"
    sip_self: frozenset[str] = frozenset({"127.0.0.1:5080"})
    """host:port of the simulator's own external SIP profile (calls there loop back in)."""
    sip_ip: str = "127.0.0.1"
    default_file_seconds: float = 3.0
    sip_failure_seconds: float = 0.02
    loopback_timeout_granularity: float = 0.0
    max_sessions: int = 1000
    sessions_per_second: int = 30
    global_vars: dict[str, str] = field(default_factory=dict)
    originate_reply_seconds: float = 0.0
    """How long an originate takes to return after its leg answers (FreeSWITCH's originate
    thread notices the answer on its next poll); the leg's ``&app()`` runs after the reply."""
    originate_setup_seconds: tuple[float, float] = (0.0, 0.0)
    """Range (drawn from the seeded ``rng``) of the time from an originate starting to its leg
    existing: FreeSWITCH's originate thread creates the channel a moment after ``bgapi``
    returns, and a ``uuid_kill`` naming the ``origination_uuid`` before then answers ``-ERR No
    such channel!`` while the leg goes on to ring. ``(0, 0)`` creates the leg at once."""
    early_bridge_cancel: float = 0.0
    """Chance that a leg bridged in that window ends its originate ``-ERR ORIGINATOR_CANCEL``
    while the bridge stands (FreeSWITCH 1.10's race: 1.0 reproduces it every time)."""
    listing_lag_seconds: tuple[float, float] = (0.0, 0.0)
    """Range (drawn per change) of the time from a channel being created or destroyed to
    ``show channels`` listing or dropping it: FreeSWITCH writes that table from a background
    thread, while ``uuid_exists``/``uuid_dump`` see the session at once. ``(0, 0)``: no lag."""
    seed: int | None = None


class Switch:
    """The simulated FreeSWITCH core: sessions, events, state transitions, hangup."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        dialplan: Dialplan,
        host: HostInfo | None = None,
        settings: SwitchSettings | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.dialplan = dialplan
        self.host = host or HostInfo(core_uuid=str(uuidlib.uuid4()))
        self.settings = settings or SwitchSettings()
        self.factory = EventFactory(self.host)
        self.sessions: dict[str, Session] = {}
        self.sinks: list[EventSink] = []
        self.started_us = scheduler.now_us()
        self._session_ids = itertools.count(1)
        self.sessions_since_startup = 0
        self.peak_sessions = 0
        self.global_vars: dict[str, str] = {
            "hold_music": "local_stream://moh",
            "domain": self.settings.domain,
            "domain_name": self.settings.domain,
            "core_uuid": self.host.core_uuid,
            "hostname": self.host.hostname,
            "local_ip_v4": self.host.ipv4,
            "switch_serial": "simulated",
            **self.settings.global_vars,
        }
        self.directory: Directory | None = None
        self.outbound_connector: OutboundConnector | None = None
        self.hash_store: dict[str, str] = {}
        self.rng = random.Random(self.settings.seed)
        self.legs = Legs(self)
        self.listing = ChannelListing(self)
        self.originator = Originator(self)
        self.bridges = Bridges(self)
        self.recorder = Recorder(self)
        self.api = ApiCommands(self)

    # ---- time and events -------------------------------------------------------------------

    def now_us(self) -> int:
        """Return the simulated time in microseconds."""
        return self.scheduler.now_us()

    def later(self, sess: Session | None, seconds: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` after simulated ``seconds``; tied to ``sess`` so hangup cancels it."""
        timer = self.scheduler.call_later(seconds, callback)
        if sess is not None:
            sess.timers.append(timer)

    def fire(
        self,
        name: str,
        channel: Channel | None = None,
        *,
        variant: str = "",
        pre: list[Header] | None = None,
        post: list[Header] | None = None,
        body: str = "",
        subclass: str | None = None,
        extended: bool | None = None,
    ) -> SimEvent | None:
        """Compose an event and hand it to every listener (skipped when nobody listens)."""
        if not self._wanted(name, subclass):
            self.factory.sequence += 1
            return None
        event = self.factory.make(
            name,
            self.now_us(),
            variant=variant,
            channel=channel,
            pre=pre,
            post=post,
            body=body,
            subclass=subclass,
            extended=extended,
        )
        self.emit(event)
        return event

    def _wanted(self, name: str, subclass: str | None) -> bool:
        """Return True when some sink may want an event of this name (cheap pre-check)."""
        for sink in self.sinks:
            interested = getattr(sink, "interested", None)
            if interested is None or interested(name, subclass):
                return True
        return False

    def emit(self, event: SimEvent) -> None:
        """Deliver an already built event to every listener."""
        for sink in tuple(self.sinks):
            sink(event)

    def fire_api_event(self, command: str, argument: str | None) -> None:
        """Fire the API event FreeSWITCH sends after running any API command."""
        post = [("API-Command", command)]
        if argument:
            post.append(("API-Command-Argument", argument))
        self.fire("API", post=post)

    # ---- registrations -----------------------------------------------------------------------

    def register_phone(self, phone: AgentPhone) -> AgentPhone:
        """Register an agent phone in the directory and fire sofia::register, as a REGISTER does."""
        if self.directory is None:
            raise RuntimeError("the switch has no directory")
        self.directory.register(phone)
        self.fire("CUSTOM", subclass="sofia::register", post=self._registration(phone.user, "3600"))
        return phone

    def unregister_phone(self, user: str) -> None:
        """Take a phone offline and fire sofia::unregister."""
        if self.directory is None:
            return
        self.directory.unregister(user)
        self.fire("CUSTOM", subclass="sofia::unregister", post=self._registration(user, "0"))

    def _registration(self, user: str, expires: str) -> list[Header]:
        ip = self.settings.sip_ip
        return [
            ("profile-name", "internal"),
            ("from-user", user),
            ("from-host", self.settings.domain),
            ("presence-hosts", self.settings.domain),
            ("contact", f'"{user}" <sip:{user}@{ip}:5062>'),
            ("call-id", str(uuidlib.uuid4())),
            ("rpid", "unknown"),
            ("status", "Registered(UDP)" if expires != "0" else "Unregistered"),
            ("expires", expires),
            ("to-user", user),
            ("to-host", self.settings.domain),
            ("network-ip", ip),
            ("network-port", "5062"),
            ("username", user),
            ("realm", self.settings.domain),
            ("user-agent", "cc-sim-phone/1.0"),
        ]

    # ---- sessions --------------------------------------------------------------------------

    def new_session(
        self,
        *,
        kind: str,
        name: str,
        direction: str,
        profile: CallerProfile,
        uuid: str | None = None,
        codec: Codec | None = None,
    ) -> Session:
        """Create a channel (CS_NEW); nothing is fired yet."""
        channel_uuid = uuid or str(uuidlib.uuid4())
        now = self.now_us()
        profile.uuid = channel_uuid
        profile.chan_name = name
        profile.direction = direction
        profile.times.created = now
        profile.times.profile_created = now
        channel = Channel(
            uuid=channel_uuid,
            name=name,
            direction=direction,
            kind=kind,
            session_id=next(self._session_ids),
            created_us=now,
            profile=profile,
            read_codec=codec,
            write_codec=codec,
        )
        sess = Session(channel)
        self.sessions[channel_uuid] = sess
        self.listing.created(sess)
        self.sessions_since_startup += 1
        self.peak_sessions = max(self.peak_sessions, self.live_count())
        return sess

    def get(self, uuid: str | None) -> Session | None:
        """Return a live (not destroyed) session by uuid."""
        if not uuid:
            return None
        sess = self.sessions.get(uuid.strip())
        if sess is None or sess.destroyed:
            return None
        return sess

    def live_count(self) -> int:
        """Return how many channels exist (not yet destroyed)."""
        return sum(1 for sess in self.sessions.values() if not sess.destroyed)

    def base_variables(self, sess: Session, *, outbound: bool) -> None:
        """Set the variables every channel starts with, in FreeSWITCH's order."""
        ch = sess.channel
        ch.set_var("direction", ch.direction)
        if outbound:
            ch.set_var("is_outbound", "true")
        ch.set_var("uuid", ch.uuid)
        ch.set_var("call_uuid", ch.uuid)
        ch.set_var("session_id", str(ch.session_id))

    def codec_variables(self, sess: Session) -> None:
        """Set read_codec/read_rate/write_codec/write_rate from the channel's codecs."""
        ch = sess.channel
        if ch.read_codec is not None:
            ch.set_var("read_codec", ch.read_codec.name)
            ch.set_var("read_rate", str(ch.read_codec.rate))
        if ch.write_codec is not None:
            ch.set_var("write_codec", ch.write_codec.name)
            ch.set_var("write_rate", str(ch.write_codec.rate))

    def fire_codec_events(self, sess: Session, *, real: bool = False) -> None:
        """Fire the two CODEC events of setting the read then the write codec."""
        ch = sess.channel
        codec = ch.read_codec
        if codec is None:
            return
        write = ch.write_codec
        ch.write_codec = None
        self.fire(
            "CODEC",
            ch,
            variant="real_read" if real else "read",
            post=[
                ("channel-read-codec-name", codec.name),
                ("channel-read-codec-rate", str(codec.rate)),
                ("channel-read-codec-bit-rate", str(codec.bit_rate)),
            ],
            extended=False,
        )
        ch.write_codec = write
        if write is None:
            return
        self.fire(
            "CODEC",
            ch,
            variant="write",
            post=[
                ("Channel-Write-Codec-Name", write.name),
                ("Channel-Write-Codec-Rate", str(write.rate)),
                ("Channel-Write-codec-bit-rate", str(write.bit_rate)),
            ],
            extended=False,
        )

    # ---- state machine ---------------------------------------------------------------------

    def set_state(self, sess: Session, state: ChannelState) -> None:
        """Move the channel to ``state`` and fire CHANNEL_STATE (set_running_state)."""
        ch = sess.channel
        ch.state = state
        ch.running_state = state
        self.fire("CHANNEL_STATE", ch)

    def set_callstate(self, sess: Session, callstate: CallState) -> None:
        """Change Channel-Call-State and fire CHANNEL_CALLSTATE with the original state."""
        ch = sess.channel
        original = ch.callstate
        if original is callstate:
            return
        ch.callstate = callstate
        self.fire(
            "CHANNEL_CALLSTATE",
            ch,
            pre=[
                ("Original-Channel-Call-State", original.name),
                ("Channel-Call-State-Number", str(int(callstate))),
            ],
        )

    def enter_execute(self, sess: Session, state: ChannelState = ChannelState.CS_EXECUTE) -> None:
        """Enter CS_EXECUTE (or CS_SOFT_EXECUTE): the call_uuid variable is set again."""
        self.set_state(sess, state)
        sess.channel.set_var("call_uuid", sess.channel.call_uuid)

    def mark_ring_ready(self, sess: Session) -> None:
        """The far end rings (SIP 180): CHANNEL_PROGRESS and call state RINGING."""
        ch = sess.channel
        if ch.is_down or "ring_ready" in ch.flags:
            return
        ch.flags.add("ring_ready")
        ch.profile.times.progress = self.now_us()
        self.fire("CHANNEL_PROGRESS", ch)
        self.set_callstate(sess, CallState.RINGING)

    def mark_pre_answered(self, sess: Session) -> None:
        """Early media (SIP 183): CHANNEL_PROGRESS_MEDIA and call state EARLY."""
        ch = sess.channel
        if ch.is_down or ch.early or ch.answered:
            return
        ch.flags.add("early")
        ch.profile.times.progress_media = self.now_us()
        self.fire("CHANNEL_PROGRESS_MEDIA", ch)
        self.set_callstate(sess, CallState.EARLY)

    def mark_answered(self, sess: Session) -> None:
        """Answer: CHANNEL_ANSWER then call state ACTIVE, then the session's answer hooks."""
        ch = sess.channel
        if ch.is_down or ch.answered:
            return
        ch.flags.add("answered")
        ch.profile.times.answered = self.now_us()
        self.fire("CHANNEL_ANSWER", ch)
        self.set_callstate(sess, CallState.ACTIVE)
        self.execute_on(sess, "execute_on_answer")
        hooks = list(sess.on_answer)
        sess.on_answer.clear()
        for hook in hooks:
            hook()

    def execute_on(self, sess: Session, variable: str) -> None:
        """Run the application a channel variable names (``app args``), as
        switch_channel_execute_on does: inline, in the thread that marked the channel."""
        value = (sess.channel.get_var(variable) or "").strip()
        if value:
            app, _, args = value.partition(" ")
            self.execute(sess, app, args.strip())

    # ---- hangup ----------------------------------------------------------------------------

    def hangup(self, sess: Session, cause: str, *, source: str = "") -> bool:
        """Hang a channel up: CHANNEL_HANGUP now, the rest of the teardown right after.

        ``source`` says who asked ("api" for uuid_kill and friends); mod_loopback reacts to an
        API kill of one leg by unparking its partner before hanging it up.
        """
        ch = sess.channel
        if ch.is_down:
            return False
        ch.hangup_cause = cause
        ch.state = ChannelState.CS_HANGUP
        ch.profile.times.hungup = self.now_us()
        sess.hangup_source = source
        sess.cancel_timers()
        if sess.bridge_partner and sess.bridge_role == "originator":
            ch.set_var("last_bridge_role", "originator")
        self.fire("CHANNEL_HANGUP", ch)
        for hook in list(sess.on_hangup):
            hook(cause)
        self.scheduler.call_soon(lambda: self._teardown(sess))
        return True

    def _teardown(self, sess: Session) -> None:
        """The session thread notices the hangup: stop apps, unbridge, report, destroy."""
        ch = sess.channel
        cause = ch.hangup_cause or "NORMAL_CLEARING"
        self.stop_app(sess)
        self.unpark(sess, completing=True)
        partner = self.get(sess.bridge_partner)
        if sess.bridge_partner:
            self.end_bridge(sess, partner, cause)
        self.recorder.stop_all(sess)
        self.set_state(sess, ChannelState.CS_HANGUP)
        self.hangup_hook(sess)
        self.set_callstate(sess, CallState.HANGUP)
        self.set_state(sess, ChannelState.CS_REPORTING)
        self.set_cdr_variables(sess)
        self.fire("CHANNEL_HANGUP_COMPLETE", ch, pre=[("Hangup-Cause", cause)])
        self.scheduler.call_soon(lambda: self._destroy(sess))

    def hangup_hook(self, sess: Session) -> None:
        """``api_hangup_hook``: run the API (``cmd::args`` or ``cmd args``, variables expanded)
        as the channel hangs up.

        FreeSWITCH has set the channel's timestamps by then (``end_uepoch``, ``answer_uepoch``,
        ``bridge_uepoch``…), and ``last_bridge_to`` still names the last bridge partner.
        """
        hook = sess.channel.variables.get("api_hangup_hook")
        if not hook:
            return
        self.set_cdr_variables(sess)
        sess.channel.set_var("end_uepoch", str(self.now_us()))
        name, _, argument = hook.partition("::") if "::" in hook else hook.partition(" ")
        self.api.execute(name.strip(), self.expand(sess, argument), lambda _text: None)

    def _destroy(self, sess: Session) -> None:
        if sess.holds > 0:
            sess.destroy_pending = True
            return
        ch = sess.channel
        self.fire("CHANNEL_DESTROY", ch)
        ch.state = ChannelState.CS_DESTROY
        ch.running_state = ChannelState.CS_DESTROY
        self.fire("CHANNEL_STATE", ch)
        sess.destroyed = True
        self.sessions.pop(ch.uuid, None)
        self.listing.destroyed(sess)
        for hook in list(sess.on_destroy):
            hook()

    def release(self, sess: Session) -> None:
        """An outbound socket let go of the session: finish a destruction it was holding up."""
        sess.holds = max(0, sess.holds - 1)
        if sess.holds == 0 and sess.destroy_pending:
            sess.destroy_pending = False
            self._destroy(sess)

    def end_bridge(self, sess: Session, partner: Session | None, cause: str) -> None:
        """Tear the bridge down from ``sess``'s side; the partner hangs up or parks."""
        ch = sess.channel
        other_uuid = sess.bridge_partner
        sess.bridge_partner = None
        if sess.bridge_role == "originator":
            ch.set_var("bridge_to", None)
            ch.set_var("bridge_hangup_cause", cause)
            self.fire(
                "CHANNEL_UNBRIDGE",
                ch,
                pre=[("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", other_uuid or "")],
            )
        self._end_bridge_app(sess)
        if partner is None or partner.channel.is_down:
            return
        partner.bridge_partner = None
        pch = partner.channel
        pch.set_var("last_bridge_hangup_cause", cause)
        self.stop_app(partner)
        pch.set_var("bridge_to", None)
        pch.set_var("current_loop", None)
        pch.set_var("total_loops", None)
        if self._end_bridge_app(partner):
            return
        target = pch.get_var("transfer_after_bridge")
        if target:  # "ext:XML:context" (or spaces), as switch_ivr_bridge reads it
            parts = target.replace(":", " ").split()
            context = parts[2] if len(parts) > 2 else pch.profile.context
            self.transfer_call(partner, parts[0], context)
            return
        if pch.get_var("park_after_bridge") == "true":
            apps.park_now(self, partner)
            return
        self.hangup(partner, cause)

    def _end_bridge_app(self, sess: Session) -> bool:
        """Complete a bridge application whose bridge ended; True when the dialplan goes on."""
        run = sess.bridge_app
        if run is None:
            return False
        sess.bridge_app = None
        ch = sess.channel
        if ch.is_down:
            self.execute_complete(sess, run)
            return False
        if ch.get_var("hangup_after_bridge") == "true":
            self.execute_complete(sess, run)
            self.hangup(sess, "NORMAL_CLEARING")
            return True
        self.finish_app(sess, run)
        return True

    def transfer_call(self, sess: Session, extension: str, context: str) -> None:
        """uuid_transfer: break whatever runs and route the channel again.

        A bridged channel leaves its bridge as FreeSWITCH's does: the partner's side ends as
        after any bridge (hangup_after_bridge, transfer_after_bridge, park_after_bridge, else
        hangup; the real switch hangs up a uuid_bridge'd agent leg so), and this channel's own
        bridge application is cut, not continued: the transfer decides what runs next.
        """
        if sess.channel.is_down:
            return
        self._leave_bridge(sess)
        self._drop_app(sess)
        self.transfer(sess, extension, context)

    def _leave_bridge(self, sess: Session) -> None:
        """End ``sess``'s bridge for a transfer or park: the partner's side ends as after any
        bridge; ``sess``'s own bridge application is cut, not continued."""
        if sess.bridge_partner:
            partner = self.get(sess.bridge_partner)
            sess.bridge_app = None
            self.end_bridge(sess, partner, "NORMAL_CLEARING")

    def _drop_app(self, sess: Session) -> None:
        """End the running application at once (its EXECUTE_COMPLETE, nothing after it)."""
        run = sess.app
        if run is not None and not run.done:
            if run.timer is not None:
                run.timer.cancel()
            run.on_interrupt = None
            self.finish_app_quiet(sess, run)

    def park_call(self, sess: Session) -> None:
        """uuid_park: stop what runs and park the channel.

        A bridged channel leaves its bridge first, as with uuid_transfer: the real switch hangs
        up the uuid_bridge'd partner (hangup_after_bridge) and parks this one.
        """
        if sess.channel.is_down or sess.park is not None:
            return
        self._leave_bridge(sess)
        self._drop_app(sess)
        sess.script.clear()
        if sess.channel.running_state is not ChannelState.CS_EXECUTE:
            self.enter_execute(sess)
        apps.park_now(self, sess)

    def set_cdr_variables(self, sess: Session) -> None:
        """Set the CDR variables switch_channel_set_timestamps writes before HANGUP_COMPLETE."""
        ch = sess.channel
        if "no_cdr" in ch.flags:
            return
        cause = ch.hangup_cause or "NORMAL_CLEARING"
        times = ch.profile.times
        end = self.now_us()
        ch.set_var("hangup_cause", cause)
        ch.set_var("hangup_cause_q850", str(cause_code(cause)))
        ch.set_var("digits_dialed", sess.digits or "none")
        first_profile = sess.channel.created_us

        def stamp(us: int) -> str:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1_000_000))

        ch.set_var("start_stamp", stamp(first_profile))
        ch.set_var("profile_start_stamp", stamp(times.profile_created))
        if times.answered:
            ch.set_var("answer_stamp", stamp(times.answered))
        if times.bridged:
            ch.set_var("bridge_stamp", stamp(times.bridged))
        if times.progress:
            ch.set_var("progress_stamp", stamp(times.progress))
        if times.last_hold:
            ch.set_var("hold_stamp", stamp(times.last_hold))
        if times.progress_media:
            ch.set_var("progress_media_stamp", stamp(times.progress_media))
        if sess.hold_periods:
            periods = ",".join(f"{{{start},{stop or end}}}" for start, stop in sess.hold_periods)
            ch.set_var("hold_events", "{" + periods + "}")
        ch.set_var("end_stamp", stamp(end))
        pairs = (
            ("start", first_profile),
            ("profile_start", times.profile_created),
            ("answer", times.answered),
            ("bridge", times.bridged),
            ("last_hold", times.last_hold),
        )
        for name, value in pairs:
            ch.set_var(f"{name}_epoch", str(value // 1_000_000))
            ch.set_var(f"{name}_uepoch", str(value))
        ch.set_var("hold_accum_seconds", str(times.hold_accum // 1_000_000))
        ch.set_var("hold_accum_usec", str(times.hold_accum))
        ch.set_var("hold_accum_ms", str(times.hold_accum // 1000))
        for name, value in (
            ("resurrect", times.resurrected),
            ("progress", times.progress),
            ("progress_media", times.progress_media),
            ("end", end),
        ):
            ch.set_var(f"{name}_epoch", str(value // 1_000_000))
            ch.set_var(f"{name}_uepoch", str(value))
        last_app = ch.variables.get("current_application")
        if last_app:
            ch.set_var("last_app", last_app)
            last_arg = ch.variables.get("current_application_data")
            if last_arg:
                ch.set_var("last_arg", last_arg)
        name, number = ch.profile.caller_id_name, ch.profile.caller_id_number
        ch.set_var("caller_id", f'"{name}" <{number}>' if name else number)
        start = first_profile
        answered = times.answered
        progress = times.progress
        progress_media = times.progress_media
        durations = {
            "duration": end - start,
            "billsec": end - answered if answered else 0,
            "progresssec": progress - start if progress else 0,
            "answersec": answered - start if answered else 0,
            "waitsec": (times.bridged - start) if times.bridged else 0,
            "progress_mediasec": progress_media - start if progress_media else 0,
            "flow_billsec": end - times.profile_created,
        }
        for name, value in durations.items():
            ch.set_var(name, str(max(0, value) // 1_000_000))
        for name, value in durations.items():
            ch.set_var(
                name.replace("sec", "msec").replace("duration", "mduration"), str(value // 1000)
            )
        for name, value in durations.items():
            ch.set_var(name.replace("sec", "usec").replace("duration", "uduration"), str(value))
        if ch.kind == "loopback":
            ch.set_var("is_loopback", "1")
        elif ch.kind == "sofia" and ch.read_codec is not None:
            ch.set_vars(sipvars.rtp_statistics())

    # ---- applications ----------------------------------------------------------------------

    def stop_app(self, sess: Session) -> None:
        """Interrupt the running (non-park) application, if any."""
        run = sess.app
        if run is None or run.done:
            return
        if run.timer is not None:
            run.timer.cancel()
        if run.on_interrupt is not None:
            run.on_interrupt()

    def unpark(self, sess: Session, *, completing: bool) -> None:
        """End a running park: CHANNEL_UNPARK, then the park's EXECUTE_COMPLETE."""
        run = sess.park
        if run is None or run.done:
            return
        run.done = True
        sess.park = None
        ch = sess.channel
        ch.flags.discard("parked")
        self.fire("CHANNEL_UNPARK", ch)
        if completing:
            self.execute_complete(sess, run)

    def execute_complete(self, sess: Session, run: AppRun) -> None:
        """Fire CHANNEL_EXECUTE_COMPLETE for ``run`` (and PRIVATE_COMMAND for its message)."""
        ch = sess.channel
        run.done = True
        post: list[Header] = [("Application", run.name)]
        if run.data:
            post.append(("Application-Data", run.data))
        post.append(
            ("Application-Response", ch.variables.get("current_application_response", "_none_"))
        )
        if run.app_uuid:
            post.append(("Application-UUID", run.app_uuid))
        self.fire("CHANNEL_EXECUTE_COMPLETE", ch, post=post)

    def fire_private_command(self, sess: Session, message: Message) -> None:
        """Fire PRIVATE_COMMAND for a parsed message, as switch_ivr_parse_next_event does."""
        ch = sess.channel
        now = self.now_us()
        headers: list[Header] = []
        if message.broadcast:
            headers.extend(
                self.factory.common("COMMAND", now, _source("PRIVATE_COMMAND/broadcast"))
            )
        headers.extend(message.headers)
        headers.extend(self.factory.common("PRIVATE_COMMAND", now, _source("PRIVATE_COMMAND")))
        if not self._wanted("PRIVATE_COMMAND", None):
            return
        headers.extend(ch.basic_headers())
        if message.body:
            headers.append(("Content-Length", str(len(message.body.encode("utf-8")))))
        self.emit(SimEvent("PRIVATE_COMMAND", tuple(headers), message.body, ch.uuid))

    def new_app_uuid(self) -> str:
        """Return a fresh Application-UUID."""
        return str(uuidlib.uuid4())

    # ---- execution -------------------------------------------------------------------------

    def execute(
        self,
        sess: Session,
        app: str,
        data: str = "",
        *,
        message: Message | None = None,
        app_uuid: str | None = None,
        quiet: bool = False,
    ) -> None:
        """Run one application: CHANNEL_EXECUTE now, _COMPLETE when it finishes."""
        impl = apps.APPS.get(app.lower())
        ch = sess.channel
        if impl is None or ch.is_down:
            return
        data = self.expand(sess, data)
        run = AppRun(app, data, app_uuid or self.new_app_uuid(), message, quiet=quiet)
        if message is not None:
            ch.set_var("current_loop", "1")
            ch.set_var("total_loops", str(message.loops))
        ch.set_var("current_application_response", None)
        ch.set_var("current_application", app)
        ch.set_var("current_application_data", data or None)
        post: list[Header] = [("Application", app)]
        if data:
            post.append(("Application-Data", data))
        post.append(("Application-UUID", run.app_uuid or ""))
        self.fire("CHANNEL_EXECUTE", ch, post=post)
        sess.app = run
        if impl(self, sess, run):
            self.finish_app(sess, run)

    def finish_app(self, sess: Session, run: AppRun) -> None:
        """Complete an application: EXECUTE_COMPLETE (+ PRIVATE_COMMAND), then carry on."""
        if run.done:
            return
        if run.timer is not None:
            run.timer.cancel()
        if sess.app is run:
            sess.app = None
        if sess.park is run:
            sess.park = None
        self.execute_complete(sess, run)
        if run.message is not None:
            sess.channel.set_var("current_loop", None)
            sess.channel.set_var("total_loops", None)
            if not run.quiet:
                self.fire_private_command(sess, run.message)
        self.advance(sess)

    def parsed_quietly(self, sess: Session) -> bool:
        """Return True when the park loop parses messages with no media (no PRIVATE_COMMAND)."""
        ch = sess.channel
        return sess.park is not None and not (ch.answered or ch.early) and not ch.is_down

    def deliver(self, sess: Session, message: Message) -> None:
        """Queue a private message (sendmsg, broadcast) and process it when the channel can."""
        sess.messages.append(message)
        self.advance(sess)

    def advance(self, sess: Session) -> None:
        """Run queued messages, then the next dialplan action, until something blocks."""
        if sess.executing:
            return
        sess.executing = True
        try:
            while not sess.channel.is_down and sess.app is None:
                if sess.messages:
                    self.parse_message(sess, sess.messages.popleft())
                    continue
                if sess.park is not None or sess.bridge_partner or sess.controlled:
                    break
                if sess.channel.running_state is not ChannelState.CS_EXECUTE:
                    break
                if not sess.script:
                    if "dialplan" in sess.channel.flags:
                        self.hangup(sess, "NORMAL_CLEARING")
                    break
                action = sess.script.popleft()
                self.execute(sess, action.app, action.data)
        finally:
            sess.executing = False

    def parse_message(self, sess: Session, message: Message) -> None:
        """Act on one private message, as switch_ivr_parse_event does."""
        command = message.command.lower()
        quiet = self.parsed_quietly(sess)
        if command == "execute" and message.app:
            self.execute(
                sess,
                message.app,
                message.arg,
                message=message,
                app_uuid=message.event_uuid,
                quiet=quiet,
            )
            return
        if command == "hangup":
            self.hangup(sess, normalize_cause(message.hangup_cause))
        if not quiet:
            self.fire_private_command(sess, message)

    def expand(self, sess: Session | None, data: str) -> str:
        """Expand ${var} and ${api(args)} in application data (an API event per api call)."""
        if "${" not in data:
            return data

        def one(match: re.Match[str]) -> str:
            inner = match.group(1)
            call = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", inner, re.S)
            if call is not None:
                return self.inline_api(call.group(1), call.group(2))
            if sess is not None:
                value = sess.channel.get_var(inner)
                if value is not None:
                    return value
            return self.global_vars.get(inner, "")

        for _ in range(4):  # inner ${...} first, as FreeSWITCH expands nested references
            expanded = _VARIABLE.sub(one, data)
            if expanded == data or "${" not in expanded:
                return expanded
            data = expanded
        return data

    def inline_api(self, name: str, argument: str) -> str:
        """Run an API used inside a variable expansion (strftime, ...); fires its API event."""
        result = ""
        if name == "strftime":
            seconds = self.now_us() / 1_000_000
            result = time.strftime(argument or "%Y-%m-%d %H:%M:%S", time.localtime(seconds))
        elif name == "global_getvar":
            result = self.global_vars.get(argument.strip(), "")
        elif name == "cond":
            result = _cond(argument)
        self.fire_api_event(name, argument or None)
        return result

    def transfer(
        self, sess: Session, extension: str, context: str, *, after_app: AppRun | None = None
    ) -> None:
        """Send the channel back through the dialplan at ``extension`` in ``context``."""
        ch = sess.channel
        now = self.now_us()
        old = ch.profile
        profile = old.clone()
        profile.rdnis = old.destination_number
        profile.destination_number = extension
        profile.context = context
        profile.profile_index = str(int(old.profile_index or "1") + 1)
        profile.times.profile_created = now
        profile.times.transferred = 0
        source = f"{now // 1_000_000}:{uuidlib.uuid4()}:bl_xfer:{extension}/{context}/XML"
        profile.transfer_source = source
        old.times.transferred = now
        ch.profile = profile
        history = ch.variables.get("transfer_history")
        ch.set_var("transfer_history", f"{history}|:{source}" if history else source)
        ch.set_var("transfer_source", source)
        sess.script.clear()
        if after_app is not None:
            self.finish_app_quiet(sess, after_app)
        self.unpark(sess, completing=True)
        self.start_dialplan(sess)

    def finish_app_quiet(self, sess: Session, run: AppRun) -> None:
        """Complete an application without carrying on (the caller decides what is next)."""
        if run.done:
            return
        if sess.app is run:
            sess.app = None
        self.execute_complete(sess, run)

    def start_dialplan(self, sess: Session) -> None:
        """Route the channel (CS_ROUTING) and execute its extension (CS_EXECUTE)."""
        ch = sess.channel
        ch.flags.add("dialplan")
        ch.running_state = ChannelState.CS_ROUTING
        ch.state = ChannelState.CS_ROUTING
        if ch.direction == "inbound" and ch.callstate is CallState.DOWN:
            self.set_callstate(sess, CallState.RINGING)
        self.fire("CHANNEL_STATE", ch)
        actions = self.dialplan.route(ch.profile.context, ch.profile.destination_number, ch.kind)
        if actions is None:
            self.hangup(sess, "NO_ROUTE_DESTINATION")
            return
        if ch.kind == "sofia":
            ch.set_var("DP_MATCH", ch.profile.destination_number)
        sess.script.clear()
        sess.script.extend(actions)
        self.enter_execute(sess)
        self.advance(sess)


def _source(key: str) -> tuple[str, str, int]:
    from cc_sim.core.events import SOURCES

    return SOURCES[key]


_COND = re.compile(
    r"^\s*('[^']*'|\S+)\s*(==|!=)\s*('[^']*'|\S+)\s*\?\s*(.*?)\s*:\s*(.*?)\s*$", re.S
)


def _cond(argument: str) -> str:
    """``cond(a == b ? yes : no)``, FreeSWITCH's inline conditional (string comparison)."""
    found = _COND.match(argument)
    if found is None:
        return "-ERR"
    left, op, right, yes, no = found.groups()
    equal = left.strip("'") == right.strip("'")
    return yes if equal == (op == "==") else no

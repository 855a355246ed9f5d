"""Dialplan applications: what each does to a session and which events it fires.

Each application returns True when it finished at once (the engine then fires
CHANNEL_EXECUTE_COMPLETE) or False when it keeps running and will call
``switch.finish_app`` itself (playback, park, socket, bridge, ...).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from cc_sim.core.states import normalize_cause
from cc_sim.engine import avmd, media
from cc_sim.engine.session import AppRun, Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch

App = Callable[["Switch", Session, AppRun], bool]
HASH_LIMIT = 10_000
"""Entries the ``hash`` application keeps (oldest dropped first)."""


def app_answer(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Answer the channel (loopback answers its partner first, SIP pre-answers first)."""
    sw.legs.answer(sess)
    return True


def app_pre_answer(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Send early media."""
    sw.legs.pre_answer(sess)
    return True


def app_ring_ready(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Indicate ringing."""
    sw.mark_ring_ready(sess)
    return True


def app_park(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Park: CHANNEL_PARK, then wait (messages still run) until bridged, transferred or hung up."""
    park_now(sw, sess, run)
    return False


def park_now(sw: Switch, sess: Session, run: AppRun | None = None) -> None:
    """Enter the park loop with ``run`` as the parking application."""
    if run is None:
        run = AppRun("park", "", sw.new_app_uuid())
    if sess.app is run:
        sess.app = None
    sess.park = run
    sess.channel.flags.add("parked")
    sw.fire("CHANNEL_PARK", sess.channel)


def app_playback(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Play a file or tone: PLAYBACK_START, then PLAYBACK_STOP when it ends or is broken."""
    ch = sess.channel
    path = run.data
    seconds = media.playback_seconds(path, default_seconds=sw.settings.default_file_seconds)
    file_headers = [("Playback-File-Type", media.playback_type(path)), ("Playback-File-Path", path)]
    sw.fire("PLAYBACK_START", ch, post=file_headers)
    avmd.played(sw, sess, path, run)
    started = sw.now_us()

    def stop(status: str) -> None:
        if run.done:
            return
        elapsed = (sw.now_us() - started) / 1_000_000
        played = elapsed if seconds is None else min(elapsed, seconds)
        rate = ch.read_codec.rate if ch.read_codec else 8000
        samples = round(played * rate)
        ch.set_var("playback_last_offset_pos", str(samples))
        ch.set_var("playback_seconds", str(int(played)))
        ch.set_var("playback_ms", str(int(played * 1000)))
        ch.set_var("playback_samples", str(samples))
        sw.fire("PLAYBACK_STOP", ch, post=[*file_headers, ("Playback-Status", status)])
        ch.set_var("current_application_response", "FILE PLAYED")
        sw.finish_app(sess, run)

    run.on_interrupt = lambda: stop("break")
    if seconds is not None:
        run.timer = sw.scheduler.call_later(seconds, lambda: stop("done"))
    return False


def app_sleep(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Wait the given milliseconds."""
    try:
        seconds = max(0, int(run.data or "0")) / 1000
    except ValueError:
        return True
    run.on_interrupt = lambda: sw.finish_app(sess, run)
    run.timer = sw.scheduler.call_later(seconds, lambda: sw.finish_app(sess, run))
    return False


def app_set(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Set a channel variable (``name=value``; an empty value unsets it)."""
    name, _, value = run.data.partition("=")
    if name.strip():
        sess.channel.set_var(name.strip(), value if value else None)
    return True


def app_multiset(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Set several variables: ``a=1 b=2``."""
    for item in shlex.split(run.data):
        name, _, value = item.partition("=")
        if name:
            sess.channel.set_var(name, value if value else None)
    return True


def app_unset(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Remove a channel variable."""
    sess.channel.set_var(run.data.strip(), None)
    return True


def app_export(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Set a variable and list it in export_vars (so bridged legs inherit it)."""
    text = run.data
    local = True
    if text.startswith("nolocal:"):
        text, local = text.removeprefix("nolocal:"), False
    name, _, value = text.partition("=")
    name = name.strip()
    if not name:
        return True
    ch = sess.channel
    if local:
        ch.set_var(name, value)
    exported = [v for v in (ch.variables.get("export_vars") or "").split(",") if v]
    if name not in exported:
        exported.append(name)
    ch.set_var("export_vars", ",".join(exported))
    return True


def app_hash(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Keep a value in the switch-wide hash (``insert/realm/key/value``, ``delete/realm/key``)."""
    parts = run.data.split("/", 3)
    if len(parts) >= 3:
        key = f"{parts[1]}/{parts[2]}"
        if parts[0] == "insert" and len(parts) == 4:
            store = sw.hash_store
            store.pop(key, None)
            store[key] = parts[3]
            while len(store) > HASH_LIMIT:  # keep a long traffic run's memory flat
                del store[next(iter(store))]
        elif parts[0] == "delete":
            sw.hash_store.pop(key, None)
    return True


def app_log(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Log a line (nothing to simulate)."""
    return True


def app_hangup(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Hang up with the given cause (NORMAL_CLEARING by default)."""
    sw.hangup(sess, normalize_cause(run.data) if run.data.strip() else "NORMAL_CLEARING")
    return True


def app_transfer(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Transfer to ``extension [dialplan] [context]`` in the dialplan."""
    parts = run.data.split()
    if not parts:
        return True
    context = parts[2] if len(parts) > 2 else sess.channel.profile.context
    sw.transfer(sess, parts[0], context, after_app=run)
    return False


def app_socket(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Hand the call to an outbound event socket: ``host:port [async] [full]``."""
    words = run.data.split()
    if not words or sw.outbound_connector is None:
        return True
    address = words[0].split("|")[0]
    host, _, port_text = address.rpartition(":")
    if not host:
        host, port_text = address, "8084"
    sess.channel.set_var("socket_host", host)
    try:
        port = int(port_text)
    except ValueError:
        return True
    sess.controlled = True
    sw.outbound_connector(sess, host, port, [w.lower() for w in words[1:]])
    return False


def app_record_session(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Start recording the call to a WAV file (``path [limit_seconds]``)."""
    words = run.data.split()
    if words:
        limit = float(words[1]) if len(words) > 1 and media.is_number(words[1]) else None
        sw.recorder.start(sess, words[0], limit_seconds=limit)
    return True


def app_stop_record_session(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Stop a recording started with record_session."""
    sw.recorder.stop(sess, run.data.strip() or "all")
    return True


def app_bridge(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Originate the dial string and bridge it to this channel when it answers."""
    sw.originator.bridge_app(sess, run)
    return False


def app_eavesdrop(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Listen to another call until it (or the listener) hangs up."""
    target = sw.get(run.data.strip())
    ch = sess.channel
    if target is None:
        ch.set_var("eavesdrop_result", "failure")
        return True
    if not ch.answered:
        sw.legs.answer(sess)
    ch.set_var("eavesdrop_target_uuid", target.uuid)

    def target_gone(_cause: str) -> None:
        ch.set_var("eavesdrop_result", "success")
        sw.finish_app(sess, run)

    target.on_hangup.append(target_gone)
    run.on_interrupt = lambda: _detach(target, target_gone)
    return False


def _detach(target: Session, hook: Callable[[str], None]) -> None:
    if hook in target.on_hangup:
        target.on_hangup.remove(hook)


def app_play_and_get_digits(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Prompt and collect DTMF into a variable (min max tries timeout terminators file ...)."""
    args = run.data.split()
    if len(args) < 8:
        return True
    try:
        min_digits, max_digits, tries = int(args[0]), int(args[1]), int(args[2])
        timeout = int(args[3]) / 1000
    except ValueError:
        return True
    terminators, prompt, invalid = args[4], args[5], args[6]
    var_name = args[7]
    pattern = args[8] if len(args) > 8 else r"\d+"
    digit_timeout = int(args[9]) / 1000 if len(args) > 9 and args[9].isdigit() else timeout
    PromptCollector(
        sw,
        sess,
        run,
        CollectSpec(min_digits, max_digits, max(1, tries), timeout, digit_timeout, terminators),
        prompt=prompt,
        invalid=invalid,
        var_name=var_name,
        pattern=pattern,
    ).start()
    return False


class CollectSpec:
    """How many digits play_and_get_digits wants, and how long it waits."""

    def __init__(
        self,
        min_digits: int,
        max_digits: int,
        tries: int,
        timeout: float,
        digit_timeout: float,
        terminators: str,
    ) -> None:
        self.min_digits = min_digits
        self.max_digits = max_digits
        self.tries = tries
        self.timeout = timeout
        self.digit_timeout = digit_timeout
        self.terminators = "" if terminators == "none" else terminators


class PromptCollector:
    """play_and_get_digits: prompt (with PLAYBACK events), collect, validate, retry."""

    def __init__(
        self,
        sw: Switch,
        sess: Session,
        run: AppRun,
        spec: CollectSpec,
        *,
        prompt: str,
        invalid: str,
        var_name: str,
        pattern: str,
    ) -> None:
        self.sw, self.sess, self.run, self.spec = sw, sess, run, spec
        self.prompt, self.invalid, self.var_name, self.pattern = prompt, invalid, var_name, pattern
        self.attempt = 0
        self.digits = ""
        self.timer_token = 0

    def start(self) -> None:
        """Begin the first try."""
        self.sess.on_dtmf.append(self.on_digit)
        self.run.on_interrupt = self.abort
        self.next_try()

    def next_try(self) -> None:
        """Play the prompt and wait for digits."""
        if self.attempt >= self.spec.tries:
            self.finish("")
            return
        self.attempt += 1
        self.digits = ""
        self.play(self.prompt)
        seconds = media.playback_seconds(self.prompt, default_seconds=1.0) or 0.0
        self.arm(seconds + self.spec.timeout)

    def play(self, path: str) -> None:
        """Fire the PLAYBACK_START/STOP pair of a prompt (its length is only simulated)."""
        if not path or path in {"silence_stream://250", "''"}:
            return
        ch = self.sess.channel
        headers = [("Playback-File-Type", media.playback_type(path)), ("Playback-File-Path", path)]
        self.sw.fire("PLAYBACK_START", ch, post=headers)
        self.sw.fire("PLAYBACK_STOP", ch, post=[*headers, ("Playback-Status", "done")])

    def arm(self, seconds: float) -> None:
        """(Re)start the inter-digit / first-digit timer."""
        self.timer_token += 1
        token = self.timer_token
        self.sw.later(self.sess, seconds, lambda: self.timed_out(token))

    def on_digit(self, digit: str) -> None:
        """Take one DTMF digit."""
        if self.run.done:
            return
        if digit in self.spec.terminators:
            self.check()
            return
        self.digits += digit
        if len(self.digits) >= self.spec.max_digits:
            self.check()
        else:
            self.arm(self.spec.digit_timeout)

    def timed_out(self, token: int) -> None:
        """No (more) digits in time: validate what we have."""
        if token == self.timer_token and not self.run.done:
            self.check()

    def check(self) -> None:
        """Accept the digits or play the invalid prompt and retry."""
        self.timer_token += 1
        digits = self.digits
        if len(digits) >= self.spec.min_digits and re.fullmatch(self.pattern, digits):
            self.finish(digits)
            return
        if digits:
            self.play(self.invalid)
        self.next_try()

    def finish(self, digits: str) -> None:
        """Store the result and complete the application."""
        ch = self.sess.channel
        if digits:
            ch.set_var(self.var_name, digits)
        ch.set_var(f"{self.var_name}_invalid", None)
        ch.set_var("read_result", "success" if digits else "failure")
        self.detach()
        self.sw.finish_app(self.sess, self.run)

    def abort(self) -> None:
        """Hangup or break: stop collecting."""
        self.detach()
        if not self.run.done:
            self.sw.finish_app(self.sess, self.run)

    def detach(self) -> None:
        """Stop listening for digits."""
        self.timer_token += 1
        if self.on_digit in self.sess.on_dtmf:
            self.sess.on_dtmf.remove(self.on_digit)


def app_say(sw: Switch, sess: Session, run: AppRun) -> bool:
    """say / speak: the switch speaks (here: played for the default file length)."""
    return app_playback(sw, sess, run)


def app_record(sw: Switch, sess: Session, run: AppRun) -> bool:
    """record <path> [max_seconds ...]: the caller speaks up to the limit (or the file length)."""
    words = run.data.split()
    limit = float(words[1]) if len(words) > 1 and words[1].isdigit() else None
    seconds = sw.settings.default_file_seconds
    seconds = min(seconds, limit) if limit else seconds
    sess.channel.set_var("record_seconds", str(int(seconds)))
    run.timer = sw.scheduler.call_later(seconds, lambda: sw.finish_app(sess, run))
    run.on_interrupt = lambda: sw.finish_app(sess, run)
    return False


APPS: dict[str, App] = {
    "answer": app_answer,
    "pre_answer": app_pre_answer,
    "ring_ready": app_ring_ready,
    "park": app_park,
    "playback": app_playback,
    "sleep": app_sleep,
    "set": app_set,
    "multiset": app_multiset,
    "unset": app_unset,
    "export": app_export,
    "hash": app_hash,
    "log": app_log,
    "info": app_log,
    "hangup": app_hangup,
    "transfer": app_transfer,
    "socket": app_socket,
    "record_session": app_record_session,
    "stop_record_session": app_stop_record_session,
    "bridge": app_bridge,
    "eavesdrop": app_eavesdrop,
    "play_and_get_digits": app_play_and_get_digits,
    "say": app_say,
    "speak": app_say,
    "record": app_record,
    "avmd_start": avmd.app_avmd_start,
    "avmd_stop": avmd.app_avmd_stop,
}
"""Applications the simulator knows, by name."""

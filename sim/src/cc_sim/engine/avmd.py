"""mod_avmd as the simulator models it: a beep the far end of a channel plays is heard on it.

The real module (``avmd_start`` application) puts a media bug on the channel's read side and
fires ``CUSTOM avmd::beep`` (Unique-ID, no channel variables) once a steady sine between
440 and 2000 Hz has lasted about 0.1-0.2 s; speech and silence never fire it. The simulator has
no audio, so it reads the beep off what the far end plays: a ``tone_stream`` of one frequency in
that range, at least :data:`MIN_BEEP_SECONDS` long, played on the other half of a loopback pair
(or the SIP peer) of a channel with detection on.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cc_sim.engine.session import AppRun, Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch

MIN_HZ, MAX_HZ = 440.0, 2000.0
MIN_BEEP_SECONDS = 0.2
DETECT_SECONDS = 0.15
"""How far into the beep the real switch fired (0.05-0.2 s for a 1 kHz tone at 8 kHz)."""
_TONE = re.compile(r"^tone_stream://(?:[^%]*;)?%\(\s*(\d+)\s*,\s*(\d+)\s*,\s*([\d.]+)\s*\)")


def beep_seconds(path: str) -> tuple[float, float] | None:
    """(on seconds, frequency) of a single-frequency tone in mod_avmd's range, else None."""
    match = _TONE.match(path.strip())
    if match is None:
        return None
    on_ms, freq = int(match.group(1)), float(match.group(3))
    if not MIN_HZ <= freq <= MAX_HZ or on_ms < MIN_BEEP_SECONDS * 1000:
        return None
    return on_ms / 1000, freq


def app_avmd_start(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Start listening for a beep on this channel: fires ``CUSTOM avmd::start``.

    As mod_avmd.conf's defaults: an outbound channel listens unless ``outbound_channel=0``, an
    inbound one only with ``inbound_channel=1`` (otherwise the module logs "Can't set
    direction" and does not start).
    """
    options = dict(part.partition("=")[::2] for part in run.data.split(",") if "=" in part)
    side, default = ("outbound", "1") if sess.channel.direction == "outbound" else ("inbound", "0")
    if options.get(f"{side}_channel", default).strip() not in {"1", "true"}:
        return True
    sess.avmd = "listening"
    sw.fire("CUSTOM", subclass="avmd::start", post=_headers(sess))
    return True


def app_avmd_stop(sw: Switch, sess: Session, run: AppRun) -> bool:
    """Stop listening: fires ``CUSTOM avmd::stop``."""
    if sess.avmd:
        sess.avmd = ""
        sw.fire("CUSTOM", subclass="avmd::stop", post=_headers(sess))
    return True


def played(sw: Switch, sess: Session, path: str, run: AppRun) -> None:
    """``sess`` starts playing ``path``: a listening far end hears a beep in it."""
    beep = beep_seconds(path)
    if beep is None:
        return
    far = sw.get(sess.channel.partner_uuid) if sess.channel.kind == "loopback" else None
    far = far or sw.get(sess.peer)
    if far is None or far.avmd != "listening":
        return
    _on, freq = beep

    def heard() -> None:
        if run.done or far.channel.is_down or far.avmd != "listening":
            return
        far.avmd = "detected"  # once per session, as the real module
        post = [*_headers(far), ("Beep-Status", "DETECTED"), ("Frequency", f"{freq:.6f}")]
        sw.fire("CUSTOM", subclass="avmd::beep", post=post)

    sw.scheduler.call_later(DETECT_SECONDS, heard)


def _headers(sess: Session) -> list[tuple[str, str]]:
    return [("Unique-ID", sess.uuid), ("Call-command", "avmd")]

"""Call recording: media bugs that write real WAV files of the recorded (simulated) length.

As FreeSWITCH 1.10 does, a recording shorter than the channel's ``RECORD_MIN_SEC`` (unset: no
minimum, so only a recording with no audio at all) is deleted when it stops (the file is never
left on disk), and RECORD_STOP reports the size, samples and milliseconds recorded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from cc_sim.engine import media
from cc_sim.engine.session import Recording, Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch

MIN_RECORD_VARIABLE = "RECORD_MIN_SEC"
"""Channel variable: recordings shorter than this many seconds are discarded."""


def min_seconds(value: str | None) -> float:
    """Return the minimum length a recording must reach to be kept (0 when unset or bad)."""
    try:
        return max(float(value or 0), 0.0)
    except ValueError:
        return 0.0


class Recorder:
    """Starts and stops recordings on sessions."""

    def __init__(self, switch: Switch) -> None:
        self.sw = switch

    def start(self, sess: Session, path: str, *, limit_seconds: float | None = None) -> bool:
        """Begin recording ``path``: RECORD_START, then MEDIA_BUG_START."""
        ch = sess.channel
        if ch.is_down or path in sess.recordings:
            return False
        rate = ch.read_codec.rate if ch.read_codec else 8000
        stereo = (ch.get_var("RECORD_STEREO") or "").lower() in {"true", "yes", "on", "1"}
        recording = Recording(path, self.sw.now_us(), rate, limit_seconds, stereo=stereo)
        sess.recordings[path] = recording
        self.sw.fire("RECORD_START", ch, post=[("Record-File-Path", path)])
        self.sw.fire(
            "MEDIA_BUG_START",
            ch,
            pre=[("Media-Bug-Function", "session_record"), ("Media-Bug-Target", path)],
        )
        if limit_seconds:
            recording.timer = self.sw.scheduler.call_later(
                limit_seconds, lambda: self.finish(sess, recording, "success-maxtime")
            )
        return True

    def stop(self, sess: Session, path: str) -> bool:
        """Stop one recording (or ``all``); return False when nothing was recording there."""
        targets = list(sess.recordings.values()) if path == "all" else []
        if path != "all" and path in sess.recordings:
            targets = [sess.recordings[path]]
        for recording in targets:
            self.finish(sess, recording, "success-maxtime")
        return bool(targets)

    def mask(self, sess: Session, path: str, *, on: bool) -> bool:
        """Mask (write silence) or unmask a recording; False when nothing records there."""
        recording = sess.recordings.get(path)
        if recording is None:
            return False
        at = (self.sw.now_us() - recording.started_us) / 1_000_000
        open_mask = bool(recording.masks) and len(recording.masks[-1]) == 1
        if on and not open_mask:
            recording.masks.append([at])
        elif not on and open_mask:
            recording.masks[-1].append(at)
        return True

    def stop_all(self, sess: Session) -> None:
        """Stop every recording (the channel is hanging up)."""
        for recording in list(sess.recordings.values()):
            self.finish(sess, recording, "success-maxtime")

    def finish(self, sess: Session, recording: Recording, completion: str) -> None:
        """Write (or discard) the file, then RECORD_STOP and MEDIA_BUG_STOP."""
        if sess.recordings.pop(recording.path, None) is None:
            return
        if recording.timer is not None:
            recording.timer.cancel()
        ch = sess.channel
        seconds = (self.sw.now_us() - recording.started_us) / 1_000_000
        if recording.limit_seconds:
            seconds = min(seconds, recording.limit_seconds)
        samples = round(seconds * recording.rate)
        size = 0
        if samples > 0 and seconds >= min_seconds(ch.get_var(MIN_RECORD_VARIABLE)):
            try:
                silent = [(m[0], m[1] if len(m) > 1 else seconds) for m in recording.masks]
                size = media.write_wav(
                    recording.path,
                    seconds,
                    recording.rate,
                    channels=2 if recording.stereo else 1,
                    silent=silent,
                )
            except OSError:
                completion = "error"
        else:
            with contextlib.suppress(OSError):
                Path(recording.path).unlink()
        ch.set_var("record_file_size", str(size))
        ch.set_var("record_samples", str(samples))
        ch.set_var("record_seconds", str(int(seconds)))
        ch.set_var("record_ms", str(int(seconds * 1000)))
        ch.set_var("record_completion_cause", completion)
        self.sw.fire(
            "RECORD_STOP",
            ch,
            post=[("Record-File-Path", recording.path), ("Record-Completion-Cause", completion)],
        )
        self.sw.fire(
            "MEDIA_BUG_STOP",
            ch,
            pre=[("Media-Bug-Function", "session_record"), ("Media-Bug-Target", recording.path)],
        )

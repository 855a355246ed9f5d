"""Media the simulator pretends to play and record: lengths of prompts, and real WAV files."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from pathlib import Path

_TONE = re.compile(r"%\(([^)]*)\)")
_LOOPS = re.compile(r"loops=(-?\d+)")


def playback_seconds(path: str, *, default_seconds: float) -> float | None:
    """Return how long playing ``path`` takes, or None when it never ends (music on hold).

    ``tone_stream://%(on,off,freq...);loops=N`` lasts (on+off)*N ms, ``silence_stream://ms``
    lasts ms, ``local_stream://`` (music on hold) plays until stopped; a file name may carry
    its length as ``name@12.5s.wav`` or ``...;duration=12.5``, otherwise ``default_seconds``.
    """
    text = path.strip()
    if text.startswith("local_stream://"):
        return None
    if text.startswith("tone_stream://"):
        loops_match = _LOOPS.search(text)
        loops = int(loops_match.group(1)) if loops_match else 1
        if loops < 0:
            return None
        total_ms = 0
        for group in _TONE.findall(text):
            parts = [p for p in group.split(",") if p.strip()]
            numbers = [int(float(p)) for p in parts[:2] if is_number(p)]
            total_ms += sum(numbers)
        return max(total_ms * max(loops, 1), 0) / 1000
    if text.startswith("silence_stream://"):
        value = text.removeprefix("silence_stream://").split(",")[0]
        return (
            int(value) / 1000 if value.strip().lstrip("-").isdigit() and int(value) >= 0 else None
        )
    duration = re.search(r"(?:duration=|@)(\d+(?:\.\d+)?)s?(?:\.\w+)?$", text)
    if duration:
        return float(duration.group(1))
    return default_seconds


def playback_type(path: str) -> str:
    """Return Playback-File-Type: the URL scheme, or the file extension."""
    if "://" in path:
        return path.split("://", 1)[0]
    suffix = Path(path.split(";")[0]).suffix.lstrip(".")
    return suffix or "file"


def is_number(text: str) -> bool:
    """Return True when ``text`` reads as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def wav_bytes(
    seconds: float,
    rate: int,
    *,
    channels: int = 1,
    silent: Sequence[tuple[float, float]] = (),
) -> bytes:
    """Return a 16-bit PCM WAV of ``seconds`` of a hint of noise at ``rate``, zeros where silent.

    Stereo files interleave the read (caller) and write (agent) channels as FreeSWITCH does;
    ``silent`` stretches (seconds from the start) are what a masked recording writes: zeros.
    """
    samples = max(0, round(seconds * rate))
    frame = b"\xfe\xff" * channels
    data = bytearray(frame * samples)
    for start, end in silent:
        first, last = max(0, round(start * rate)), min(samples, round(end * rate))
        if last > first:
            data[first * 2 * channels : last * 2 * channels] = bytes((last - first) * 2 * channels)
    block = 2 * channels
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + bytes(data)


def write_wav(
    path: str,
    seconds: float,
    rate: int,
    *,
    channels: int = 1,
    silent: Sequence[tuple[float, float]] = (),
) -> int:
    """Write the recording to ``path`` (creating folders) and return its size in bytes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = wav_bytes(seconds, rate, channels=channels, silent=silent)
    target.write_bytes(payload)
    return len(payload)

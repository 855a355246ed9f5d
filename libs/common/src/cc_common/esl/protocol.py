"""ESL framing as FreeSWITCH writes it, with no I/O.

A message is a block of ``Name: value`` lines ended by an empty line, followed by exactly
``Content-Length`` bytes of body when that header is present. FreeSWITCH URL-encodes header
values, so every value is decoded here (invalid UTF-8 is replaced, never fatal). The same grammar
frames what a client sends to FreeSWITCH, so the simulator parses commands with this parser too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

MAX_CONTENT_LENGTH = 16 * 1024 * 1024
"""FreeSWITCH refuses bodies over 16 MiB; so do we, rather than buffer without bound."""

MAX_HEADER_BLOCK = 1024 * 1024
"""A header block this long with no blank line is not ESL; stop instead of buffering forever."""


class ProtocolError(Exception):
    """The peer sent bytes that cannot be ESL; the connection must be dropped."""


def decode_value(raw: bytes) -> str:
    """URL-decode one header value the way FreeSWITCH encoded it, tolerating bad UTF-8."""
    text = raw.decode("utf-8", errors="replace")
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Frame:
    """One ESL message: ordered headers (duplicates kept) and the raw body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of a header (names compare case-sensitively, as ESL does)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Return every value of a header, in order; FreeSWITCH repeats some (Hangup-Cause)."""
        return [value for key, value in self.headers if key == name]

    @property
    def content_type(self) -> str:
        """Return the Content-Type, or an empty string when the message has none."""
        return self.get("Content-Type") or ""

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)


def parse_header_block(block: bytes) -> tuple[tuple[str, str], ...]:
    """Split a header block into decoded ``(name, value)`` pairs, skipping lines with no colon."""
    headers: list[tuple[str, str]] = []
    for line in block.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        colon = line.find(b":")
        if colon <= 0:
            continue
        name = line[:colon].decode("utf-8", errors="replace").strip()
        headers.append((name, decode_value(line[colon + 1 :].lstrip(b" "))))
    return tuple(headers)


def content_length(headers: tuple[tuple[str, str], ...]) -> int:
    """Return the body length a header block announces, refusing what FreeSWITCH refuses."""
    raw = next((value for name, value in headers if name == "Content-Length"), None)
    if raw is None:
        return 0
    try:
        length = int(raw.strip())
    except ValueError:
        raise ProtocolError(f"Content-Length is not a number: {raw!r}") from None
    if length < 0 or length > MAX_CONTENT_LENGTH:
        raise ProtocolError(f"Content-Length {length} outside 0..{MAX_CONTENT_LENGTH}")
    return length


class FrameParser:
    """Incremental ESL parser: feed it bytes as they arrive, get whole frames back."""

    __slots__ = ("_buffer", "_pending_headers", "_pending_length")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending_headers: tuple[tuple[str, str], ...] | None = None
        self._pending_length = 0

    @property
    def buffered(self) -> int:
        """Return how many received bytes are not yet part of a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes and return every frame they complete, in order."""
        self._buffer += data
        frames: list[Frame] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def _next_frame(self) -> Frame | None:
        headers = self._pending_headers or self._take_header_block()
        if headers is None:
            return None
        if len(self._buffer) < self._pending_length:
            self._pending_headers = headers
            return None
        body = bytes(self._buffer[: self._pending_length])
        del self._buffer[: self._pending_length]
        self._pending_headers = None
        self._pending_length = 0
        return Frame(headers, body)

    def _take_header_block(self) -> tuple[tuple[str, str], ...] | None:
        # Blank lines between messages carry nothing; FreeSWITCH never sends them, peers may.
        while self._buffer[:1] == b"\n" or self._buffer[:2] == b"\r\n":
            del self._buffer[: 1 if self._buffer[:1] == b"\n" else 2]
        end, sep = _find_blank_line(self._buffer)
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BLOCK:
                raise ProtocolError(f"no end of headers within {MAX_HEADER_BLOCK} bytes")
            return None
        headers = parse_header_block(bytes(self._buffer[:end]))
        del self._buffer[: end + sep]
        self._pending_length = content_length(headers)
        return headers


def _find_blank_line(buffer: bytearray) -> tuple[int, int]:
    """Return (offset, separator length) of the first blank line, or (-1, 0)."""
    lf = buffer.find(b"\n\n")
    crlf = buffer.find(b"\r\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def parse_plain_event(body: bytes) -> Frame:
    """Parse a ``text/event-plain`` body: URL-encoded headers, then its own Content-Length body."""
    end, sep = _find_blank_line(bytearray(body))
    if end < 0:
        return Frame(parse_header_block(body))
    headers = parse_header_block(body[:end])
    rest = body[end + sep :]
    length = content_length(headers)
    return Frame(headers, rest[:length] if length else b"")


def encode_value(value: str) -> str:
    """URL-encode a header value as FreeSWITCH does (switch_url_encode's safe set)."""
    from urllib.parse import quote

    return quote(value, safe="-_.!~*'()")

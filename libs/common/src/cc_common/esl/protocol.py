"""ESL framing as FreeSWITCH writes it, with no I/O.

A message is a block of ``Name: value`` lines ended by an empty line, followed by exactly
``Content-Length`` bytes of body when that header is present. FreeSWITCH URL-encodes header
values, so every value is decoded here (invalid UTF-8 is replaced, never fatal), and header names
compare case-insensitively, as libesl's ``esl_event_get_header`` does.

The same grammar frames what a client sends to FreeSWITCH, so the simulator parses commands with
this parser too: ``FrameParser(commands=True)`` keeps the first line whole as the ``Command``
header and leaves values undecoded, as mod_event_socket's ``read_packet`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

MAX_CONTENT_LENGTH = 16 * 1024 * 1024
"""mod_event_socket refuses bodies over 16 MiB; so do we, rather than buffer without bound."""

MAX_HEADER_BLOCK = 1024 * 1024
"""A header block this long with no blank line is not ESL; stop instead of buffering forever."""

URL_UNSAFE = frozenset('\r\n #%&+:;<=>?@[\\]^`{|}"')
"""switch_url_encode's unsafe set (SWITCH_URL_UNSAFE); controls and non-ASCII are encoded too."""

_UPPER_HEX = frozenset("0123456789ABCDEF")

Headers = tuple[tuple[str, str], ...]


class ProtocolError(Exception):
    """The peer sent bytes that cannot be ESL; the connection must be dropped."""


_ASCII_ESCAPES = {
    f"{high}{low}": chr(int(f"{high}{low}", 16))
    for high in "01234567"
    for low in "0123456789abcdefABCDEF"
}


def _unquote(text: str) -> str:
    """Decode %XX escapes; ASCII-only values (nearly all FreeSWITCH sends) skip urllib."""
    parts = text.split("%")
    out = [parts[0]]
    for part in parts[1:]:
        char = _ASCII_ESCAPES.get(part[:2])
        if char is None:  # multi-byte UTF-8, or not an escape: let urllib decide
            return unquote(text, encoding="utf-8", errors="replace")
        out.append(char)
        out.append(part[2:])
    return "".join(out)


def decode_value(raw: bytes | str) -> str:
    """URL-decode one header value the way FreeSWITCH encoded it, tolerating bad UTF-8."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    if "%" not in text:
        return text
    return _unquote(text)


@dataclass(frozen=True, slots=True)
class Frame:
    """One ESL message: ordered headers (duplicates kept) and the raw body."""

    headers: Headers
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of a header; names compare case-insensitively, as in libesl."""
        for key, value in self.headers:
            if key == name:
                return value
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get_all(self, name: str) -> list[str]:
        """Return every value of a header, in order; FreeSWITCH repeats some (Hangup-Cause)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def content_type(self) -> str:
        """Return the Content-Type, or an empty string when the message has none."""
        return self.get("Content-Type") or ""

    @property
    def command(self) -> str:
        """Return the command line of a frame parsed with ``commands=True`` (empty otherwise)."""
        return self.get("Command") or ""

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)


def parse_header_block(block: bytes, *, decode: bool = True) -> Headers:
    """Split a header block into ``(name, value)`` pairs; lines without ``name:`` are skipped."""
    headers: list[tuple[str, str]] = []
    for line in block.decode("utf-8", errors="replace").split("\n"):
        name, colon, value = line.partition(":")
        if not colon or not name:
            continue
        if value.endswith("\r"):
            value = value[:-1]
        value = value.lstrip(" \t")
        if decode and "%" in value:
            value = _unquote(value)
        headers.append((name.strip(), value))
    return tuple(headers)


def parse_command_block(block: bytes) -> Headers:
    """Parse what a client sends: the first line whole as ``Command``, the rest raw headers."""
    text = block.decode("utf-8", errors="replace")
    first, _, rest = text.partition("\n")
    headers = [("Command", first.rstrip("\r"))]
    for line in rest.split("\n"):
        line = line.rstrip("\r")
        name, colon, value = line.partition(":")
        if colon and name:
            headers.append((name, value.lstrip(" ")))
    return tuple(headers)


def content_length(headers: Headers) -> int:
    """Return the body length a header block announces, refusing what FreeSWITCH refuses."""
    # The length test first: lower-casing every name of a channel event's hundreds costs more.
    raw = next(
        (value for name, value in headers if len(name) == 14 and name.lower() == "content-length"),
        None,
    )
    if raw is None:
        return 0
    try:
        length = int(raw.strip())
    except ValueError:
        raise ProtocolError(f"Content-Length is not a number: {raw[:40]!r}") from None
    if length < 0 or length > MAX_CONTENT_LENGTH:
        raise ProtocolError(f"Content-Length {length} outside 0..{MAX_CONTENT_LENGTH}")
    return length


class FrameParser:
    """Incremental ESL parser: feed it bytes as they arrive, get whole frames back.

    After a ProtocolError the stream has lost its framing; the caller must drop the connection.
    """

    __slots__ = ("_buffer", "_commands", "_pending_headers", "_pending_length")

    def __init__(self, *, commands: bool = False) -> None:
        self._buffer = bytearray()
        self._commands = commands
        self._pending_headers: Headers | None = None
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
        headers = self._pending_headers
        if headers is None:
            headers = self._take_header_block()
            if headers is None:
                return None
        length = self._pending_length
        if len(self._buffer) < length:
            self._pending_headers = headers
            return None
        body = bytes(self._buffer[:length]) if length else b""
        if length:
            del self._buffer[:length]
        self._pending_headers = None
        self._pending_length = 0
        return Frame(headers, body)

    def _take_header_block(self) -> Headers | None:
        # Line ends before a message carry nothing; FreeSWITCH skips them too ("bah").
        skip = 0
        buffer = self._buffer
        while skip < len(buffer) and buffer[skip] in b"\r\n":
            skip += 1
        if skip:
            del buffer[:skip]
        end, sep = find_blank_line(buffer)
        if end < 0:
            if len(buffer) > MAX_HEADER_BLOCK:
                raise ProtocolError(f"no end of headers within {MAX_HEADER_BLOCK} bytes")
            return None
        block = bytes(buffer[:end])
        del buffer[: end + sep]
        headers = parse_command_block(block) if self._commands else parse_header_block(block)
        self._pending_length = content_length(headers)
        return headers


def find_blank_line(buffer: bytes | bytearray) -> tuple[int, int]:
    """Return (offset, separator length) of the first empty line, or (-1, 0).

    An empty line is two line feeds with at most one carriage return between them, which covers
    ``\\n\\n`` (what FreeSWITCH sends) and ``\\r\\n\\r\\n`` (what some clients send).
    """
    lf = buffer.find(b"\n\n")
    limit = lf if lf >= 0 else len(buffer)
    crlf = buffer.find(b"\n\r\n", 0, limit)
    if crlf >= 0:
        return crlf, 3
    if lf >= 0:
        return lf, 2
    return -1, 0


def parse_plain_event(body: bytes) -> Frame:
    """Parse a ``text/event-plain`` body: URL-encoded headers, then its own Content-Length body."""
    end, sep = find_blank_line(body)
    if end < 0:
        return Frame(parse_header_block(body))
    headers = parse_header_block(body[:end])
    length = content_length(headers)
    if not length:
        return Frame(headers)
    rest = body[end + sep :]
    return Frame(headers, rest[:length])


def encode_value(value: str) -> str:
    """URL-encode a header value exactly as FreeSWITCH's switch_url_encode does.

    Bytes outside printable ASCII and the unsafe set become ``%XX``; a ``%`` that already starts a
    valid upper-case ``%XX`` escape is left alone (FreeSWITCH does not double-encode).
    """
    if value.isascii() and value.isprintable() and not URL_UNSAFE.intersection(value):
        return value
    raw = value.encode("utf-8")
    out: list[str] = []
    size = len(raw)
    for index, byte in enumerate(raw):
        char = chr(byte)
        if (
            char == "%"
            and index + 2 < size
            and chr(raw[index + 1]) in _UPPER_HEX
            and chr(raw[index + 2]) in _UPPER_HEX
        ):
            out.append(char)
        elif byte < 0x20 or byte > 0x7E or char in URL_UNSAFE:
            out.append(f"%{byte:02X}")
        else:
            out.append(char)
    return "".join(out)


def encode_headers(headers: Headers | list[tuple[str, str]]) -> bytes:
    """Serialize headers as switch_event_serialize does: URL-encoded, empty as ``_undef_``."""
    lines = [f"{name}: {encode_value(value) or '_undef_'}\n" for name, value in headers]
    return "".join(lines).encode("utf-8")

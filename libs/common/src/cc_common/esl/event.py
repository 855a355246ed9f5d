"""FreeSWITCH events as typed objects, the same whether they came as plain text or JSON.

A plain event (``text/event-plain``) is a URL-encoded header block, then its own
``Content-Length`` body (BACKGROUND_JOB's result). A JSON event (``text/event-json``) is one
object whose ``_body`` member is that body and whose arrays are multi-valued headers. Both decode
to :class:`EslEvent`, with headers in FreeSWITCH's order, duplicates kept (CHANNEL_HANGUP_COMPLETE
carries Hangup-Cause twice) and arrays in the plain form ``ARRAY::a|:b``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from cc_common.esl.protocol import (
    Frame,
    Headers,
    ProtocolError,
    encode_headers,
    parse_header_block,
    parse_plain_event,
)

ARRAY_PREFIX = "ARRAY::"
ARRAY_SEPARATOR = "|:"
VARIABLE_PREFIX = "variable_"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EslEvent:
    """One FreeSWITCH event: ordered headers (case-insensitive lookup) and an optional body.

    As in libesl, when Event-Name appears twice the later one names the event.
    """

    __slots__ = ("_index", "body", "headers")

    def __init__(self, headers: Headers, body: str = "") -> None:
        self.headers = headers
        self.body = body
        self._index: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"EslEvent({self.key!r}, unique_id={self.unique_id!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EslEvent):
            return NotImplemented
        return self.headers == other.headers and self.body == other.body

    def __hash__(self) -> int:
        return hash((self.headers, self.body))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self.headers:
                key = name.lower()
                if key == "event-name":  # libesl: a later Event-Name replaces the earlier one
                    index[key] = value
                else:
                    index.setdefault(key, value)
            self._index = index
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return a header's first value (Event-Name: its last), case-insensitively, as libesl."""
        return self._lookup().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def get_all(self, name: str) -> list[str]:
        """Return every value of a header in order; Hangup-Cause comes twice on HANGUP_COMPLETE."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def get_array(self, name: str) -> list[str]:
        """Return a multi-valued header (``ARRAY::a|:b`` or a JSON array) as a list."""
        value = self.get(name)
        if value is None:
            return []
        return split_array(value)

    @property
    def name(self) -> str:
        """Return Event-Name (CUSTOM for custom events; see ``subclass``)."""
        return self.get("Event-Name") or ""

    @property
    def subclass(self) -> str | None:
        """Return Event-Subclass of a CUSTOM event (``sofia::reinvite``), else None."""
        return self.get("Event-Subclass")

    @property
    def key(self) -> str:
        """Return what handlers subscribe to: the name, or ``CUSTOM <subclass>`` for custom ones."""
        name = self.name
        subclass = self.subclass
        if name == "CUSTOM" and subclass:
            return f"CUSTOM {subclass}"
        return name

    @property
    def unique_id(self) -> str | None:
        """Return the channel's Unique-ID (the leg the event is about)."""
        return self.get("Unique-ID")

    @property
    def call_uuid(self) -> str | None:
        """Return Channel-Call-UUID, shared by the legs of one call."""
        return self.get("Channel-Call-UUID")

    @property
    def job_uuid(self) -> str | None:
        """Return Job-UUID of a BACKGROUND_JOB (ours when we sent one with bgapi)."""
        return self.get("Job-UUID")

    @property
    def core_uuid(self) -> str | None:
        """Return Core-UUID, which changes when FreeSWITCH restarts."""
        return self.get("Core-UUID")

    @property
    def sequence(self) -> int | None:
        """Return Event-Sequence, FreeSWITCH's per-core event counter."""
        return _int_or_none(self.get("Event-Sequence"))

    @property
    def timestamp(self) -> datetime | None:
        """Return Event-Date-Timestamp (microseconds since the epoch) as an aware UTC datetime."""
        micros = _int_or_none(self.get("Event-Date-Timestamp"))
        if micros is None:
            return None
        try:
            return _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return None

    @property
    def hangup_cause(self) -> str | None:
        """Return Hangup-Cause (NORMAL_CLEARING, NO_ANSWER, USER_BUSY ...)."""
        return self.get("Hangup-Cause")

    @property
    def variables(self) -> Mapping[str, str]:
        """Return channel variables (``variable_*`` headers) minus the prefix; first value wins."""
        found: dict[str, str] = {}
        for name, value in self.headers:
            if name.startswith(VARIABLE_PREFIX):
                found.setdefault(name[len(VARIABLE_PREFIX) :], value)
        return MappingProxyType(found)

    def variable(self, name: str) -> str | None:
        """Return one channel variable (``cc_queue`` reads ``variable_cc_queue``)."""
        return self.get(VARIABLE_PREFIX + name)

    def _own_headers(self) -> Headers:
        """Return the headers minus the Content-Length FreeSWITCH appends for a body."""
        headers = self.headers
        if self.body and headers and headers[-1][0] == "Content-Length":
            return headers[:-1]
        return headers

    def to_plain(self) -> bytes:
        """Serialize as FreeSWITCH's ``text/event-plain`` body (URL-encoded headers, then body)."""
        encoded = self.body.encode("utf-8")
        head = encode_headers(self._own_headers())
        if not encoded:
            return head + b"\n"
        return head + f"Content-Length: {len(encoded)}\n\n".encode() + encoded

    def to_json(self) -> bytes:
        """Serialize as a ``text/event-json`` body (arrays as lists, the body as ``_body``)."""
        parts: list[str] = []
        for name, value in self._own_headers():
            item: Any = split_array(value) if value.startswith(ARRAY_PREFIX) else value
            parts.append(f"{_json(name)}:{_json(item)}")
        if self.body:
            parts.append(f'"Content-Length":"{len(self.body.encode("utf-8"))}"')
            parts.append(f'"_body":{_json(self.body)}')
        return ("{" + ",".join(parts) + "}").encode("utf-8")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def split_array(value: str) -> list[str]:
    """Split FreeSWITCH's ``ARRAY::a|:b`` into items; a plain value is a one-item list."""
    if not value.startswith(ARRAY_PREFIX):
        return [value]
    return value[len(ARRAY_PREFIX) :].split(ARRAY_SEPARATOR)


def join_array(items: list[str]) -> str:
    """Join items the way FreeSWITCH serializes a multi-valued header."""
    return ARRAY_PREFIX + ARRAY_SEPARATOR.join(items)


def event_from_plain(body: bytes) -> EslEvent:
    """Decode a ``text/event-plain`` body into an event."""
    inner = parse_plain_event(body)
    return EslEvent(inner.headers, inner.body.decode("utf-8", errors="replace"))


def event_from_json(body: bytes) -> EslEvent:
    """Decode a ``text/event-json`` body; bad JSON is a ProtocolError, never a crash."""
    try:
        pairs = _DECODER.decode(body.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"event JSON does not parse: {exc}") from None
    if not isinstance(pairs, _Pairs):
        raise ProtocolError("event JSON is not an object")
    # A channel event is all text with no _body: take its members as they are, in C.
    if set(map(type, map(_VALUE, pairs))) <= _TEXT and not any(map(_PRIVATE, map(_NAME, pairs))):
        return EslEvent(tuple(pairs), "")
    headers: list[tuple[str, str]] = []
    text = ""
    for name, value in pairs:
        if name[:1] == "_" and name.lower() == "_body":
            text = value if isinstance(value, str) else _scalar(value)
        elif type(value) is str:  # nearly every member: skip the generic conversion
            headers.append((name, value))
        elif isinstance(value, list):
            headers.append((name, join_array([_scalar(item) for item in value])))
        else:
            headers.append((name, _scalar(value)))
    return EslEvent(tuple(headers), text)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its ordered members, so duplicate names survive."""


def _keep_pairs(pairs: list[tuple[str, Any]]) -> _Pairs:
    return _Pairs(pairs)


_DECODER = json.JSONDecoder(object_pairs_hook=_keep_pairs)
"""One decoder for every event: ``json.loads`` with a hook builds a new one on each call."""
_NAME = operator.itemgetter(0)
_VALUE = operator.itemgetter(1)
_PRIVATE = operator.methodcaller("startswith", "_")
_TEXT = frozenset({str})


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _Pairs):
        return json.dumps(dict(value))
    return json.dumps(value)


def event_from_frame(frame: Frame) -> EslEvent:
    """Decode an event frame (plain or JSON); a header-only frame (CHANNEL_DATA) becomes one too."""
    content_type = frame.content_type
    if content_type == "text/event-plain":
        return event_from_plain(frame.body)
    if content_type == "text/event-json":
        return event_from_json(frame.body)
    if content_type.startswith("text/event-"):
        raise ProtocolError(f"{content_type} is not supported: subscribe as plain or json")
    return EslEvent(frame.headers, frame.body.decode("utf-8", errors="replace"))


def event_from_headers(block: bytes) -> EslEvent:
    """Decode a bare URL-encoded header block (the outbound socket's CHANNEL_DATA)."""
    return EslEvent(parse_header_block(block))

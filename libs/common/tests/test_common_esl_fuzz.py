"""Fuzzing the framing parser, the event decoders and the reader task (hypothesis).

Arbitrary bytes must either parse or raise ProtocolError (never another exception, never a hang),
and how the bytes are cut into reads must not change the frames they make.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cc_common.esl.connection import EslConnection
from cc_common.esl.errors import ConnectionLost
from cc_common.esl.event import EslEvent, event_from_frame, event_from_json, event_from_plain
from cc_common.esl.protocol import (
    MAX_CONTENT_LENGTH,
    MAX_HEADER_BLOCK,
    Frame,
    FrameParser,
    ProtocolError,
    decode_value,
    encode_headers,
)
from cc_common.esl.transcripts import transcripts_root

ROOT = transcripts_root()
HANG = timedelta(seconds=5)
"""A generous per-example bound: not a speed target, a guard that nothing loops forever."""
SMALL_CAPTURES = sorted(
    p for p in ROOT.rglob("*.raw") if p.stat().st_size < 120_000 and p.stat().st_size > 0
)
ESLISH = st.sampled_from(
    [
        b"Content-Type: ",
        b"text/event-plain",
        b"text/event-json",
        b"command/reply",
        b"api/response",
        b"text/disconnect-notice",
        b"Content-Length: ",
        b"Content-Disposition: linger",
        b"Event-Name: ",
        b"Reply-Text: +OK",
        b"%",
        b"%2",
        b"%ZZ",
        b"%C3%28",
        b"\n",
        b"\n\n",
        b"\r\n",
        b"\r\n\r\n",
        b"\n\r\n",
        b":",
        b" ",
        b"-1",
        b"0",
        b"5",
        b"99999999999999999999",
        b'{"Event-Name":"X","_body":',
        b"ARRAY::a|:b",
        b"\xff\xfe",
    ]
)
NOISE = st.lists(st.one_of(ESLISH, st.binary(max_size=12)), max_size=40).map(b"".join)


def _feed_all(data: bytes, cuts: list[int]) -> list[Frame]:
    parser = FrameParser()
    frames: list[Frame] = []
    start = 0
    for cut in sorted(set(cuts)):
        frames += parser.feed(data[start:cut])
        start = cut
    frames += parser.feed(data[start:])
    return frames


def _touch(event: EslEvent) -> None:
    """Read every typed property: none may raise on hostile input."""
    _ = (event.name, event.subclass, event.key, event.unique_id, event.call_uuid, event.job_uuid)
    _ = (
        event.core_uuid,
        event.sequence,
        event.timestamp,
        event.hangup_cause,
        dict(event.variables),
    )
    _ = (event.get_array("variable_DP_MATCH"), event.get_all("Hangup-Cause"), repr(event))
    assert event_from_json(event.to_json()).name == event.name
    # An empty Content-Length re-encodes as _undef_, which is no number: refused, not a crash.
    with contextlib.suppress(ProtocolError):
        event_from_plain(event.to_plain())


@settings(max_examples=400, deadline=HANG, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), NOISE), cuts=st.lists(st.integers(0, 600)))
def test_arbitrary_bytes_parse_or_raise_protocol_error(data: bytes, cuts: list[int]) -> None:
    try:
        frames = _feed_all(data, cuts)
    except ProtocolError:
        return
    for frame in frames:
        assert isinstance(frame.body, bytes)
        try:
            event = event_from_frame(frame)
        except ProtocolError:
            continue
        _touch(event)


@settings(max_examples=300, deadline=HANG)
@given(body=st.one_of(st.binary(max_size=400), NOISE))
def test_event_decoders_never_crash(body: bytes) -> None:
    for decode in (event_from_plain, event_from_json):
        try:
            event = decode(body)
        except ProtocolError:
            continue
        _touch(event)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=HANG)
@given(document=JSON_VALUES)
def test_any_json_document_decodes_or_is_refused(document: object) -> None:
    try:
        event = event_from_json(json.dumps(document).encode())
    except ProtocolError:
        assert not isinstance(document, dict)
        return
    assert isinstance(document, dict)
    _touch(event)


HEADER_NAMES = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":%"),
    min_size=1,
    max_size=12,
)
HEADER_VALUES = st.text(min_size=1, max_size=30).filter(lambda v: v != "_undef_")
VALID_ESCAPE = re.compile("%[0-9A-F]{2}")


@settings(max_examples=300, deadline=HANG)
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), min_size=1, max_size=8),
    body=st.binary(max_size=64),
    cuts=st.lists(st.integers(0, 400)),
)
def test_what_freeswitch_would_encode_decodes_back(
    headers: list[tuple[str, str]], body: bytes, cuts: list[int]
) -> None:
    all_headers = [*headers, ("Content-Length", str(len(body)))]
    raw = encode_headers(all_headers) + b"\n" + body
    frames = _feed_all(raw + raw, cuts)
    assert len(frames) == 2
    for frame in frames:
        assert frame.body == body
        assert [n for n, _ in frame.headers] == [n for n, _ in all_headers]
        for (_, decoded), (_, value) in zip(frame.headers, all_headers, strict=True):
            # FreeSWITCH does not re-encode a valid %XX inside a value: that one is lossy.
            if not VALID_ESCAPE.search(value):
                assert decoded == value


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    path=st.sampled_from(SMALL_CAPTURES),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=30),
)
def test_chunking_never_changes_the_frames(path: Path, sizes: list[int]) -> None:
    data = path.read_bytes()
    whole = FrameParser().feed(data)
    parser = FrameParser()
    frames: list[Frame] = []
    offset = index = 0
    while offset < len(data):
        size = sizes[index % len(sizes)]
        frames += parser.feed(data[offset : offset + size])
        offset += size
        index += 1
    assert frames == whole
    assert parser.buffered == 0


def test_byte_by_byte_feeding_of_a_whole_scenario() -> None:
    data = next((ROOT / "sip-plain").glob("13_*.recv.raw")).read_bytes()
    parser = FrameParser()
    frames = [frame for i in range(len(data)) for frame in parser.feed(data[i : i + 1])]
    assert frames == FrameParser().feed(data)


@pytest.mark.parametrize(
    "raw",
    [
        b"Content-Type: api/response\nContent-Length: -1\n\n",
        b"Content-Type: api/response\nContent-Length: 12x\n\n",
        b"Content-Type: api/response\nContent-Length: "
        + str(MAX_CONTENT_LENGTH + 1).encode()
        + b"\n\n",
    ],
)
def test_content_length_freeswitch_refuses_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameParser().feed(raw)


def test_the_largest_body_freeswitch_allows_is_accepted() -> None:
    parser = FrameParser()
    head = b"Content-Type: api/response\nContent-Length: " + str(MAX_CONTENT_LENGTH).encode()
    assert parser.feed(head + b"\n\n") == []
    frames = parser.feed(b"x" * MAX_CONTENT_LENGTH)
    assert len(frames) == 1
    assert len(frames[0].body) == MAX_CONTENT_LENGTH


def test_endless_headers_stop_instead_of_buffering_forever() -> None:
    parser = FrameParser()
    with pytest.raises(ProtocolError):
        for _ in range(MAX_HEADER_BLOCK // 1000 + 2):
            parser.feed(b"X-Header: " + b"a" * 990 + b"\n")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.one_of(st.binary(min_size=1, max_size=300), NOISE.filter(bool)))
async def test_the_reader_task_survives_garbage_from_the_socket(garbage: bytes) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(garbage)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen: list[EslEvent] = []
        conn = EslConnection(reader, writer, on_event=seen.append, request_timeout=5)
        conn.start()
        async with asyncio.timeout(5):
            reason = await conn.wait_closed()
        assert isinstance(reason, ConnectionLost | ProtocolError)
        with pytest.raises(ConnectionLost):
            await conn.request(b"api status\n\n")
        await conn.close()
    finally:
        server.close()
        await server.wait_closed()


PERCENT_TEXT = st.lists(
    st.one_of(st.text(max_size=4), st.sampled_from(["%", "%2", "%C3", "%A9", "%e9", "%7F", "%G1"])),
    max_size=12,
).map("".join)


@settings(max_examples=500, deadline=HANG)
@given(text=PERCENT_TEXT)
def test_the_fast_decoder_agrees_with_urllib(text: str) -> None:
    assert decode_value(text) == unquote(text, encoding="utf-8", errors="replace")

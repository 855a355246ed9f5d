"""Framing details taken from libesl and mod_event_socket."""

from __future__ import annotations

import pytest

from cc_common.esl.event import event_from_json
from cc_common.esl.protocol import (
    Frame,
    FrameParser,
    ProtocolError,
    decode_value,
    encode_value,
)


def test_header_names_compare_case_insensitively_as_in_libesl() -> None:
    frame = FrameParser().feed(b"Content-Type: api/response\ncontent-length: 2\n\nok")[0]
    assert frame.body == b"ok"
    assert frame.get("CONTENT-TYPE") == frame["content-type"] == "api/response"
    with pytest.raises(KeyError):
        _ = frame["Reply-Text"]


@pytest.mark.parametrize("separator", [b"\n\n", b"\r\n\r\n", b"\n\r\n"])
def test_any_empty_line_ends_the_headers(separator: bytes) -> None:
    frames = FrameParser().feed(b"Content-Type: command/reply" + separator + b"\n\nX: 1\n\n")
    assert [f.headers for f in frames] == [(("Content-Type", "command/reply"),), (("X", "1"),)]


def test_command_mode_keeps_the_first_line_whole_and_values_raw() -> None:
    data = b"bgapi originate {a=b}sofia/internal/7100@127.0.0.1:5080 &park()\nJob-UUID: j\n\n"
    data += b"sendmsg\nexecute-app-arg: tone_stream://%(300,100,440)\n\n"
    first, second = FrameParser(commands=True).feed(data)
    assert first.command == "bgapi originate {a=b}sofia/internal/7100@127.0.0.1:5080 &park()"
    assert first.get("Job-UUID") == "j"
    assert second.get("execute-app-arg") == "tone_stream://%(300,100,440)"
    assert Frame((("X", "1"),)).command == ""


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("2026-11-22 09:53:46", "2026-11-22%2009%3A53%3A46"),
        (
            "tone_stream://%(400,200,440,480);loops=2",
            "tone_stream%3A//%25(400,200,440,480)%3Bloops%3D2",
        ),
        ("+OK\n", "%2BOK%0A"),
        ("fd00::2", "fd00%3A%3A2"),
        ("sofia/internal/7100@127.0.0.1:5080", "sofia/internal/7100%40127.0.0.1%3A5080"),
        ("José", "Jos%C3%A9"),
        ("100%41", "100%41"),  # a valid upper-case escape is left alone, as switch_url_encode does
        ("100%4a", "100%254a"),
    ],
)
def test_values_encode_like_switch_url_encode(value: str, encoded: str) -> None:
    assert encode_value(value) == encoded


def test_bad_utf8_in_a_value_is_replaced_not_fatal() -> None:
    assert decode_value(b"Jos%E9") == "Jos\ufffd"
    assert decode_value(b"%ZZ%") == "%ZZ%"


def test_a_json_event_keeps_repeated_headers_in_order() -> None:
    # The common case (every member text, no _body) takes the members as they come.
    event = event_from_json(
        b'{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":"NORMAL_CLEARING",'
        b'"variable_cc_queue":"support","Hangup-Cause":"USER_BUSY"}'
    )
    assert event.headers == (
        ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
        ("Hangup-Cause", "NORMAL_CLEARING"),
        ("variable_cc_queue", "support"),
        ("Hangup-Cause", "USER_BUSY"),
    )
    assert event.hangup_cause == "NORMAL_CLEARING"
    assert event.body == ""


def test_a_json_event_sets_its_body_and_arrays_apart() -> None:
    job = event_from_json(b'{"Event-Name":"BACKGROUND_JOB","Job-UUID":"j1","_body":"+OK a\\n"}')
    assert job.headers == (("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j1"))
    assert job.body == "+OK a\n"
    mixed = event_from_json(b'{"Event-Name":"X","variable_DP_MATCH":["a","b"],"Count":3}')
    assert mixed.headers == (
        ("Event-Name", "X"),
        ("variable_DP_MATCH", "ARRAY::a|:b"),
        ("Count", "3"),
    )
    assert mixed.get_array("variable_DP_MATCH") == ["a", "b"]


def test_a_json_document_that_is_no_object_is_refused() -> None:
    for document in (b'["Event-Name"]', b'"CHANNEL_PARK"', b"{"):
        with pytest.raises(ProtocolError):
            event_from_json(document)

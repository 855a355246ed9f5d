"""Command bytes: what the client writes must be what FreeSWITCH reads, and nothing more."""

from __future__ import annotations

import pytest

from cc_common.esl import commands
from cc_common.esl.client import InboundClient
from cc_common.esl.errors import ProtocolError
from cc_common.esl.event import event_from_frame
from cc_common.esl.protocol import FrameParser


def _parse(data: bytes) -> list[tuple[str, str]]:
    frames = FrameParser(commands=True).feed(data)
    assert len(frames) == 1
    return list(frames[0].headers)


def test_execute_with_the_argument_in_a_header_matches_the_capture() -> None:
    message = commands.execute(
        "playback",
        "tone_stream://%(400,200,440,480);loops=2",
        event_uuid="b98a2e87-4f7f-4917-903f-b8d33313637b",
        event_lock=True,
    )
    assert commands.sendmsg("f40bd263-b731-400e-b5e0-070f57f48aa0", message) == (
        b"sendmsg f40bd263-b731-400e-b5e0-070f57f48aa0\ncall-command: execute\n"
        b"execute-app-name: playback\nexecute-app-arg: tone_stream://%(400,200,440,480);loops=2\n"
        b"Event-UUID: b98a2e87-4f7f-4917-903f-b8d33313637b\nevent-lock: true\n\n"
    )


def test_an_argument_with_line_breaks_travels_in_the_body() -> None:
    text = "line one\nlínea dos"
    data = commands.sendmsg(None, commands.execute("speak", text))
    frames = FrameParser(commands=True).feed(data)
    assert frames[0].body.decode() == text
    assert frames[0].get("content-length") == str(len(text.encode()))
    assert frames[0].get("execute-app-arg") is None
    assert frames[0].command == "sendmsg"


def test_hangup_and_unicast() -> None:
    assert _parse(commands.sendmsg("u", commands.hangup("USER_BUSY"))) == [
        ("Command", "sendmsg u"),
        ("call-command", "hangup"),
        ("hangup-cause", "USER_BUSY"),
    ]
    unicast = commands.unicast(
        local_ip="127.0.0.1", local_port=8025, remote_ip="127.0.0.1", remote_port=8026, native=True
    )
    assert dict(_parse(commands.sendmsg("u", unicast)))["flags"] == "native"


def test_sendevent_custom_with_body() -> None:
    data = commands.sendevent(
        "CUSTOM", [("cc_queue", "sales")], body="hello", subclass="cc::agent_state"
    )
    frames = FrameParser(commands=True).feed(data)
    assert frames[0].command == "sendevent CUSTOM"
    assert frames[0].get("Event-Subclass") == "cc::agent_state"
    assert frames[0].body == b"hello"


@pytest.mark.parametrize(
    ("line", "headers"),
    [
        ("api status\n\nexit", ()),
        ("api status", (("x", "1\nexit"),)),
        ("api status", (("x\r", "1"),)),
        ("api status", (("a:b", "1"),)),
    ],
)
def test_line_breaks_cannot_smuggle_a_second_command(
    line: str, headers: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(ValueError, match=r"line break|header name"):
        commands.encode_command(line, headers)


async def test_xml_events_are_refused_up_front_and_on_the_wire() -> None:
    client = InboundClient()
    with pytest.raises(ValueError, match="plain"):
        await client.events("xml", "ALL")
    with pytest.raises(ValueError, match="plain"):
        await client.myevents("some-uuid", "xml")
    xml = FrameParser().feed(b"Content-Length: 7\nContent-Type: text/event-xml\n\n<event>")[0]
    with pytest.raises(ProtocolError, match="plain or json"):
        event_from_frame(xml)

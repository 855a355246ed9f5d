"""The parser against every byte a real FreeSWITCH 1.10.12 sent (testdata/esl-transcripts).

Every capture must parse with nothing left over, the messages must be the ones the summaries
list (same count per event type, same order, same Unique-ID, subclass, reply text and body), and
every event must survive decode -> FreeSWITCH-style encode byte for byte in both formats.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cc_common.esl.event import EslEvent, event_from_frame, event_from_json, event_from_plain
from cc_common.esl.protocol import Frame, FrameParser, decode_value, encode_headers
from cc_common.esl.transcripts import load_summary, transcripts_root

ROOT = transcripts_root()
RAW_FILES = sorted(ROOT.rglob("*.raw"))
SUMMARIES = sorted((ROOT / "summaries").glob("*.sequence.txt"))
RECV_FILES = [path for path in RAW_FILES if path.name.endswith(".recv.raw")]


def _frames(path: Path, *, commands: bool = False) -> list[Frame]:
    parser = FrameParser(commands=commands)
    frames = parser.feed(path.read_bytes())
    assert parser.buffered == 0, f"{path}: {parser.buffered} bytes left over"
    return frames


def _events(frames: list[Frame]) -> list[tuple[Frame, EslEvent]]:
    return [(f, event_from_frame(f)) for f in frames if f.content_type.startswith("text/event-")]


def test_the_summaries_cover_every_scenario_capture() -> None:
    listed = {name for summary in SUMMARIES for name in load_summary(summary)}
    scenarios = {
        str(path.relative_to(ROOT)) for path in RECV_FILES if not path.name.startswith("session.")
    }
    assert len(scenarios) >= 60
    assert listed == scenarios


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_capture_parses_with_nothing_left_over(path: Path) -> None:
    if path.name.endswith(".sent.raw"):
        commands = _frames(path, commands=True)
        assert commands, "a sent file holds at least one command"
        assert all(frame.command for frame in commands)
        return
    frames = _frames(path)
    assert frames
    assert all(frame.content_type for frame in frames)
    for _, event in _events(frames):
        assert event.name
        assert event.timestamp is not None


@pytest.mark.parametrize("summary", SUMMARIES, ids=lambda p: p.name)
def test_messages_match_the_summary(summary: Path) -> None:
    listed = load_summary(summary)
    assert listed
    for relative, lines in listed.items():
        frames = _frames(ROOT / relative)
        assert len(frames) == len(lines), relative
        expected = Counter(line.event_name for line in lines if line.is_event)
        parsed = Counter(event.name for _, event in _events(frames))
        assert parsed == expected, relative
        for frame, line in zip(frames, lines, strict=True):
            _check_line(frame, line, relative)


def _check_line(frame: Frame, line: object, where: str) -> None:
    from cc_common.esl.transcripts import SummaryLine

    assert isinstance(line, SummaryLine)
    if line.is_event:
        event = event_from_frame(frame)
        assert event.name == line.event_name, where
        assert (event.unique_id or "")[:8] == line.field("uuid"), where
        if line.field("Event-Subclass") is not None:
            assert event.subclass == line.field("Event-Subclass"), where
        if " body=" in line.detail:
            assert line.detail.endswith(f"body={event.body[:80]!r}"), where
        return
    assert line.kind == frame.content_type, where
    body = repr(frame.body.decode("utf-8")[:100])
    assert line.detail.endswith(f" {body}"), where
    raw_reply = line.detail[: -len(body) - 1]
    assert decode_value(raw_reply) == (frame.get("Reply-Text") or ""), where


@pytest.mark.parametrize("path", RECV_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_events_reencode_to_the_exact_bytes_freeswitch_sent(path: Path) -> None:
    for frame, event in _events(_frames(path)):
        if frame.content_type == "text/event-plain":
            assert event.to_plain() == frame.body
            assert event_from_json(event.to_json()) == event
        else:
            assert event.to_json() == frame.body
            assert event_from_plain(event.to_plain()) == event


def test_channel_data_headers_reencode_exactly() -> None:
    for folder in ("plain", "json"):
        raw = next((ROOT / "outbound" / folder).glob("20_*.recv.raw")).read_bytes()
        block = raw[: raw.index(b"\n\n") + 1]
        first = _frames(ROOT / "outbound" / folder / "session.recv.raw")[0]
        assert encode_headers(first.headers) == block
        assert first.get("Reply-Text") == "+OK\n"
        assert first.get("Event-Name") == "CHANNEL_DATA"


def _first(folder: str, name: str) -> tuple[Frame, EslEvent]:
    for frame, event in _events(_frames(ROOT / folder / "session.recv.raw")):
        if event.name == name:
            return frame, event
    raise AssertionError(f"no {name} in {folder}")


@pytest.mark.parametrize("folder", ["loopback-plain", "loopback-json", "sip-plain", "sip-json"])
def test_typed_access_to_what_services_need(folder: str) -> None:
    _, hangup = _first(folder, "CHANNEL_HANGUP_COMPLETE")
    causes = hangup.get_all("Hangup-Cause")
    assert len(causes) == 2
    assert causes[0] == causes[1] == hangup.hangup_cause
    raw_micros = hangup["Event-Date-Timestamp"]
    stamp = hangup.timestamp
    assert stamp is not None
    assert stamp.tzinfo is UTC
    assert stamp == datetime.fromtimestamp(int(raw_micros) // 1_000_000, UTC).replace(
        microsecond=int(raw_micros) % 1_000_000
    )
    assert hangup.unique_id == hangup["Unique-ID"] == hangup.variable("uuid")
    assert hangup.call_uuid == hangup["Channel-Call-UUID"]
    variables = hangup.variables
    assert variables["uuid"] == hangup.unique_id
    assert all(f"variable_{key}" in hangup for key in variables)
    assert hangup.get("event-name") == hangup.name == hangup.key == "CHANNEL_HANGUP_COMPLETE"
    _, job = _first(folder, "BACKGROUND_JOB")
    assert job.job_uuid == job["Job-UUID"]
    assert job.body.startswith(("+OK", "-ERR"))
    assert job.headers[-1] == ("Content-Length", str(len(job.body.encode())))


@pytest.mark.parametrize("folder", ["sip-plain", "sip-json"])
def test_custom_events_and_arrays(folder: str) -> None:
    _, custom = _first(folder, "CUSTOM")
    assert custom.subclass == "sofia::reinvite"
    assert custom.key == "CUSTOM sofia::reinvite"
    for _, event in _events(_frames(ROOT / folder / "session.recv.raw")):
        if "variable_DP_MATCH" in event:
            assert event.get_array("variable_DP_MATCH") == ["7100", "7100"]
            assert event["variable_DP_MATCH"] == "ARRAY::7100|:7100"
            return
    raise AssertionError("no DP_MATCH array in the SIP captures")


def test_a_later_event_name_wins_as_in_libesl() -> None:
    # uuid_broadcast's event is created as COMMAND and queued as PRIVATE_COMMAND: both headers
    # are on the wire, and libesl (and the summaries) call it PRIVATE_COMMAND.
    for folder in ("sip-plain", "sip-json"):
        frames = _frames(next((ROOT / folder).glob("04_*.recv.raw")))
        twice = [e for _, e in _events(frames) if len(e.get_all("Event-Name")) == 2]
        assert twice
        assert all(e.get_all("Event-Name") == ["COMMAND", "PRIVATE_COMMAND"] for e in twice)
        assert all(e.name == "PRIVATE_COMMAND" for e in twice)


def test_plain_and_json_captures_give_the_same_typed_shape() -> None:
    plain_kinds = {e.name: {h for h, _ in e.headers} for _, e in _events(_load("loopback-plain"))}
    json_kinds = {e.name: {h for h, _ in e.headers} for _, e in _events(_load("loopback-json"))}
    for name in ("CHANNEL_PARK", "CHANNEL_ANSWER", "BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"):
        shared = plain_kinds[name] & json_kinds[name]
        assert len(shared) >= 0.9 * len(plain_kinds[name] | json_kinds[name]), name


def _load(folder: str) -> list[Frame]:
    return _frames(ROOT / folder / "session.recv.raw")

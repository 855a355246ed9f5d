"""The simulator against the golden FreeSWITCH 1.10.12 captures (testdata/esl-transcripts).

Each capture folder is replayed as a whole session (scenarios 00-13 in order, state carried
over) and compared scenario by scenario: replies, per-channel event order, background job
results, API event counts and the header names of every event type. Only the differences
listed (with reasons) in ``cc_sim.fidelity.ALLOWED`` may remain; sim/README.md lists them too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cc_common.esl.protocol import FrameParser
from cc_common.esl.transcripts import INBOUND_FOLDERS, scenario_logs, transcripts_root
from cc_sim import SimConfig, Simulator
from cc_sim.fidelity import (
    ALLOWED,
    Labels,
    Report,
    compare,
    frames_of,
    load_steps,
    replay_inbound,
    replay_outbound,
)

ROOT = transcripts_root()
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
@pytest.mark.parametrize("folder", INBOUND_FOLDERS)
async def test_sim_replays_every_inbound_scenario_like_freeswitch(folder: str) -> None:
    report = await replay_inbound(ROOT / folder, compression=10.0)
    assert report.scenarios == [
        log.name.removesuffix(".log") for log in scenario_logs(ROOT / folder)
    ]
    assert len(report.scenarios) == 14
    assert not report.unexplained, "\n".join(map(str, report.unexplained))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["plain", "json"])
async def test_sim_outbound_socket_session_matches_capture(fmt: str) -> None:
    report = await replay_outbound(fmt, compression=1.0)
    assert len(report.scenarios) == 2
    assert not report.unexplained, "\n".join(map(str, report.unexplained))


async def test_sim_auth_failure_is_byte_exact() -> None:
    expected = (ROOT / "auth" / "00b_auth_failure.recv.raw").read_bytes()
    sent = (ROOT / "auth" / "00b_auth_failure.sent.raw").read_bytes()
    async with Simulator(SimConfig(esl_port=0)) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.esl_port)
        greeting = await reader.readuntil(b"\n\n")
        writer.write(sent)
        rest = await asyncio.wait_for(reader.read(), 5.0)
        writer.close()
    assert greeting + rest == expected


def test_sim_comparison_catches_a_missing_event_and_a_wrong_reply() -> None:
    """The comparison itself must be able to fail: drop one event, change one reply."""
    log = scenario_logs(ROOT / "loopback-plain")[2]  # 02_uuid_answer
    frames = [f for s in load_steps(log) if s.direction == "RECV" for f in frames_of(s.data)]
    labels = Labels()
    for frame in frames:
        labels.learn_frame(frame)
    dropped = [
        f
        for f in frames
        if f.get("Content-Type") != "text/event-plain" or b"CALL_UPDATE" not in f.body
    ]
    assert len(dropped) == len(frames) - 1
    report = Report("negative")
    compare("02", frames, dropped, labels, labels, report)
    kinds = {d.kind for d in report.unexplained}
    assert "channel-events" in kinds
    assert "event-types" in kinds

    altered = FrameParser().feed(b"Content-Type: api/response\nContent-Length: 6\n\n-ERR x")
    report = Report("negative")
    compare("02", frames, [altered[0], *frames[1:]], labels, labels, report)
    assert [d.kind for d in report.unexplained] == ["replies"]


def test_sim_every_allowed_difference_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for allowed in ALLOWED:
        assert f"`{allowed.kind}`" in text, f"sim/README.md does not explain {allowed.kind}"
        assert allowed.reason

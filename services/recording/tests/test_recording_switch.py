"""Recording on the switch: started by policy on the bridge, masked for PCI, moved and played.

Runs on the simulator and, when CC_TEST_FREESWITCH names one, on the real FreeSWITCH over a SIP
call (real RTP both ways, a tone played into each direction). The file that comes back through
a signed link is measured sample by sample: two channels, the call's length, and silence
exactly where the recording was paused, even across a restart of the recording service.
"""

from __future__ import annotations

import array
import asyncio
import io
import json
import math
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import pytest

from cc_common.esl import InboundClient
from cc_proto.events import CallAnswered, CallEnded, CallOffered, CallOutcome
from cc_recording.testing import ServiceFactory, s3_settings

pytestmark = pytest.mark.integration


async def _run(client: InboundClient, command: str) -> str:
    job = await client.bgapi(command)
    async with asyncio.timeout(15):
        result = await job.result()
    assert result.ok, f"{command}: {result.text}"
    return result.text


async def place_call(switch: Any, client: InboundClient, call_id: str) -> str | None:
    """Originate the caller's leg; on the real switch a SIP call, returning its far end."""
    if switch.real is None:
        await _run(client, f"originate {{origination_uuid={call_id}}}loopback/7101/default &park()")
        return None
    port = switch.endpoint.sip_ext_port
    await _run(
        client,
        f"originate {{origination_uuid={call_id}}}sofia/internal/7303@127.0.0.1:{port} &park()",
    )
    far: list[str] = []
    async with asyncio.timeout(10):
        while not far:  # the switch lists a new channel a moment after it exists
            await asyncio.sleep(0.2)
            rows = json.loads((await client.api("show channels as json")).text).get("rows", [])
            far = [r["uuid"] for r in rows if r["uuid"] != call_id and r["dest"] == "7303"]
    tone = "tone_stream://%(100000,0,{});loops=-1"
    await _run(client, f"uuid_broadcast {far[0]} {tone.format(440)} aleg")
    await _run(client, f"uuid_broadcast {call_id} {tone.format(660)} aleg")
    return str(far[0])


def channels(payload: bytes) -> tuple[int, int, list[array.array[int]]]:
    """Return (channels, rate, samples per channel) of a WAV file."""
    with wave.open(io.BytesIO(payload)) as wav:
        count, rate = wav.getnchannels(), wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return count, rate, [samples[c::count] for c in range(count)]


def rms(samples: array.array[int], rate: int, start: float, end: float) -> float:
    part = samples[int(start * rate) : int(end * rate)]
    assert len(part) > rate // 10, (start, end, len(samples) / rate)
    return math.sqrt(sum(x * x for x in part) / len(part))


async def fetch(service: Any, recording_id: str, user: str, **headers: str) -> Any:
    link = await service.client.post(f"/recordings/{recording_id}/links", json={"user": user})
    assert link.status_code == 200, link.text
    return await service.client.get(link.json()["url"], headers=headers)


@pytest.mark.parametrize("backend", ["filesystem", "s3"])
async def test_a_bridged_call_is_recorded_in_stereo_with_a_silent_pci_pause(
    switch: Any,
    start_service: ServiceFactory,
    backend: str,
    request: pytest.FixtureRequest,
    unique_name: Any,
) -> None:
    overrides: dict[str, Any] = {}
    if backend == "s3":
        server = request.getfixturevalue("s3_server")
        overrides = s3_settings(server.endpoint, unique_name("rec").replace("_", "-").lower())
    service = await start_service(switch=switch.endpoint, **overrides)
    await service.client.put("/policies/queue/support", json={"mode": "all"})
    call_id = str(uuid.uuid4())
    endpoint = switch.endpoint
    caller = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with caller:
        await caller.events("plain", "BACKGROUND_JOB")
        far = await place_call(switch, caller, call_id)
        await service.publish(
            CallOffered(queue="support", caller_number="+4930555"), call_id=call_id
        )
        await service.publish(
            CallAnswered(
                queue="support", agent_leg_uuid=far or "agent-leg", wait_seconds=1, ring_seconds=1
            ),
            call_id=call_id,
            agent_id="ann",
        )
        started = await service.wait_status(call_id, "recording")
        began = time.monotonic()
        assert started["stereo"] is True
        assert started["caller_number"] == "+4930555"
        recording_id = started["id"]
        await asyncio.sleep(2.0)
        paused = await service.client.post(
            f"/calls/{call_id}/recording/pause", json={"actor": "ivr", "reason": "card"}
        )
        assert paused.status_code == 200, paused.text
        again = await service.client.post(
            f"/recordings/{recording_id}/pause", json={"actor": "ann"}
        )
        assert again.status_code == 409
        await asyncio.sleep(1.0)
        # The service restarts while the caller reads their card number: the pause survives.
        await service.stop()
        service = await start_service(switch=switch.endpoint, **overrides)
        await asyncio.sleep(1.0)
        resumed = await service.client.post(
            f"/recordings/{recording_id}/resume", json={"actor": "ann"}
        )
        assert resumed.status_code == 200, resumed.text
        await asyncio.sleep(2.0)
        await _run(caller, f"uuid_kill {call_id}")
        length = time.monotonic() - began
    await service.publish(
        CallEnded(outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=6),
        call_id=call_id,
        agent_id="ann",
    )
    stored = await service.wait_status(call_id, "stored")
    # the switch's copy went after verifying
    assert not await asyncio.to_thread(Path(stored["switch_path"]).exists)
    assert stored["backend"] == backend
    assert stored["kek_id"] == "a"
    (pause,) = stored["pauses"]
    assert pause["reason"] == "card"
    assert 1.5 < pause["start"] < 3.0
    assert pause["start"] + 1.5 < pause["end"] < pause["start"] + 10.0  # a restart in between

    whole = await fetch(service, recording_id, "supervisor-sue")
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    assert len(whole.content) == stored["size_bytes"]
    count, rate, audio = channels(whole.content)
    assert count == 2
    seconds = len(audio[0]) / rate
    assert seconds > 3.0
    assert abs(seconds - length) < 1.5, (seconds, length)
    for side in audio:
        masked = side[int((pause["start"] + 0.3) * rate) : int((pause["end"] - 0.3) * rate)]
        assert len(masked) > rate
        assert not any(masked), "the paused stretch must be silence"
        before = rms(side, rate, 0.5, pause["start"] - 0.3)
        after = rms(side, rate, pause["end"] + 0.3, seconds - 0.3)
        assert before > 0
        assert after > 0
        if switch.real is not None:
            assert before > 1000
            assert after > 1000

    part = await fetch(service, recording_id, "supervisor-sue", Range="bytes=100-1099")
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{stored['size_bytes']}"
    assert part.content == whole.content[100:1100]
    log = (await service.client.get(f"/recordings/{recording_id}/access-log")).json()
    assert [(e["user"], e["call_id"], e["byte_range"]) for e in log] == [
        ("supervisor-sue", call_id, None),
        ("supervisor-sue", call_id, f"bytes 100-1099/{stored['size_bytes']}"),
    ]
    trail = (await service.client.get("/audit", params={"recording_id": recording_id})).json()
    assert [e["action"] for e in trail] == ["paused", "resumed"]


async def test_a_policy_of_none_or_a_sampled_share_decides_on_the_bridge(
    switch: Any, start_service: ServiceFactory
) -> None:
    service = await start_service(switch=switch.endpoint)
    await service.client.put("/policies/queue/sales", json={"mode": "all", "stereo": False})
    await service.client.put("/policies/agent/trainee", json={"mode": "none"})
    endpoint = switch.endpoint
    calls = {name: str(uuid.uuid4()) for name in ("mono", "skipped")}
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with client:
        await client.events("plain", "BACKGROUND_JOB")
        for (_name, call_id), agent in zip(calls.items(), ["bob", "trainee"], strict=True):
            await place_call(switch, client, call_id)
            await service.publish(
                CallAnswered(queue="sales", agent_leg_uuid="leg", wait_seconds=0, ring_seconds=1),
                call_id=call_id,
                agent_id=agent,
            )
        mono = await service.wait_status(calls["mono"], "recording")
        assert mono["stereo"] is False
        assert mono["policy_source"] == "queue"
        await asyncio.sleep(3.5)
        for call_id in calls.values():
            await _run(client, f"uuid_kill {call_id}")
    stored = await service.wait_status(calls["mono"], "stored")
    whole = await fetch(service, stored["id"], "qa")
    count, rate, audio = channels(whole.content)
    assert count == 1
    assert len(audio[0]) / rate > 3.0
    assert await service.recordings(call_id=calls["skipped"]) == []


async def test_a_call_that_ended_while_the_service_was_down_is_still_moved(
    switch: Any, start_service: ServiceFactory
) -> None:
    service = await start_service(switch=switch.endpoint)
    call_id = str(uuid.uuid4())
    endpoint = switch.endpoint
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with client:
        await client.events("plain", "BACKGROUND_JOB")
        await place_call(switch, client, call_id)
        await service.publish(
            CallAnswered(queue="support", agent_leg_uuid="leg", wait_seconds=0, ring_seconds=1),
            call_id=call_id,
            agent_id="ann",
        )
        await service.wait_status(call_id, "recording")
        await asyncio.sleep(3.5)
        await service.stop()
        await _run(client, f"uuid_kill {call_id}")  # no RECORD_STOP, no call.ended seen
        async with asyncio.timeout(10):
            while call_id in (await client.api("show channels")).text:
                await asyncio.sleep(0.2)
    service = await start_service(switch=switch.endpoint)
    stored = await service.wait_status(call_id, "stored")
    assert stored["duration_seconds"] > 3.0
    whole = await fetch(service, stored["id"], "qa")
    count, rate, audio = channels(whole.content)
    assert count == 2
    assert len(audio[0]) / rate > 3.0


async def test_a_bridge_the_switch_cannot_record_is_kept_as_failed_with_its_reason(
    switch: Any, start_service: ServiceFactory
) -> None:
    service = await start_service(switch=switch.endpoint)
    for call_id in (str(uuid.uuid4()), "no such; uuid"):
        await service.publish(
            CallAnswered(queue="support", agent_leg_uuid="leg", wait_seconds=0, ring_seconds=1),
            call_id=call_id,
            agent_id="ann",
        )
        failed = await service.wait_status(call_id, "failed")
        assert failed["reason"].startswith("start_failed: ")
    gone, bad = (await service.recordings(status="failed"))[::-1]
    assert "-ERR" in gone["reason"]  # the switch's own words
    assert "not a channel uuid" in bad["reason"]  # never sent to the switch


async def test_the_recording_commands_answer_alike_on_both_switches(
    switch: Any, tmp_path: Path
) -> None:
    endpoint = switch.endpoint
    leg, path, other = str(uuid.uuid4()), str(tmp_path / "r.wav"), str(tmp_path / "o.wav")
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    replies = []
    async with client:
        await client.events("plain", "BACKGROUND_JOB")
        await _run(client, f"originate {{origination_uuid={leg}}}loopback/7101/default &park()")
        for command in [
            f"unmask {path}", f"pause {path}", f"mask {path}", f"start {path}",
            f"mask {other}", f"mask {path}", f"mask {path}", f"unmask {path}", f"unmask {path}",
        ]:  # fmt: skip
            job = await client.bgapi(f"uuid_record {leg} {command}")
            async with asyncio.timeout(10):
                replies.append((await job.result()).text.strip())
        job = await client.bgapi(f"uuid_record {uuid.uuid4()} mask {path}")
        replies.append((await job.result()).text.strip())
        await _run(client, f"uuid_kill {leg}")
    assert replies == [
        "-ERR Cannot unmask recording session!",
        "-ERR Cannot pause recording session!",
        "-ERR Cannot mask recording session!",
        "+OK Success",
        "-ERR Cannot mask recording session!",
        "+OK Success",
        "+OK Success",
        "+OK Success",
        "+OK Success",
        "-ERR Cannot locate session!",
    ]


async def test_a_short_recording_is_kept_unless_record_min_sec_says_otherwise(
    switch: Any, tmp_path: Path
) -> None:
    endpoint = switch.endpoint
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    kept: dict[str, bool] = {}
    async with client:
        await client.events("plain", "BACKGROUND_JOB")
        for name, minimum in (("plain", None), ("minimum", "3")):
            leg, path = str(uuid.uuid4()), tmp_path / f"{name}.wav"
            await _run(client, f"originate {{origination_uuid={leg}}}loopback/7101/default &park()")
            if minimum:
                await _run(client, f"uuid_setvar {leg} RECORD_MIN_SEC {minimum}")
            await _run(client, f"uuid_record {leg} start {path}")
            await asyncio.sleep(1.5)
            await _run(client, f"uuid_record {leg} stop {path}")
            await _run(client, f"uuid_kill {leg}")
            await asyncio.sleep(0.5)
            kept[name] = await asyncio.to_thread(path.exists)
    assert kept == {"plain": True, "minimum": False}


async def far_leg(client: InboundClient, known: set[str]) -> str:
    """Return the switch's answering leg of a SIP call to 7303 placed on it (not yet known)."""
    far: list[str] = []
    async with asyncio.timeout(10):
        while not far:  # the switch lists a new channel a moment after it exists
            await asyncio.sleep(0.2)
            rows = json.loads((await client.api("show channels as json")).text).get("rows", [])
            far = [r["uuid"] for r in rows if r["uuid"] not in known and r["dest"] == "7303"]
    return str(far[0])


async def test_an_agent_hold_keeps_one_continuous_recording_on_the_real_switch(
    switch: Any, start_service: ServiceFactory
) -> None:
    if switch.real is None:
        pytest.skip("a phone's hold is a SIP re-INVITE: the simulator's legs here are loopback")
    service = await start_service(switch=switch.endpoint)
    call_id, agent = str(uuid.uuid4()), str(uuid.uuid4())
    endpoint = switch.endpoint
    port = endpoint.sip_ext_port
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with client:
        await client.events("plain", "BACKGROUND_JOB")
        caller_phone = await place_call(switch, client, call_id)
        assert caller_phone is not None
        await _run(
            client,
            f"originate {{origination_uuid={agent}}}sofia/internal/7303@127.0.0.1:{port} &park()",
        )
        agent_phone = await far_leg(client, {call_id, caller_phone, agent})
        await _run(client, f"uuid_bridge {call_id} {agent}")
        await service.publish(
            CallAnswered(queue="support", agent_leg_uuid=agent, wait_seconds=0, ring_seconds=1),
            call_id=call_id,
            agent_id="ann",
        )
        started = await service.wait_status(call_id, "recording")
        began = time.monotonic()
        await asyncio.sleep(2.0)
        held_at = time.monotonic() - began
        await _run(client, f"uuid_hold {agent_phone}")  # the agent's phone puts the call on hold
        await asyncio.sleep(2.5)
        await _run(client, f"uuid_hold off {agent_phone}")
        resumed_at = time.monotonic() - began
        await asyncio.sleep(2.5)
        await _run(client, f"uuid_kill {call_id}")
        length = time.monotonic() - began
    await service.publish(
        CallEnded(outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=7),
        call_id=call_id,
        agent_id="ann",
    )
    stored = await service.wait_status(call_id, "stored")
    assert [r["id"] for r in await service.recordings(call_id=call_id)] == [started["id"]]
    whole = await fetch(service, stored["id"], "qa")
    count, rate, audio = channels(whole.content)
    assert count == 2
    seconds = len(audio[0]) / rate
    assert abs(seconds - length) < 1.5, (seconds, length)  # the hold is in the file, not cut out
    said, heard = audio
    for start, end in ((0.5, held_at - 0.2), (resumed_at + 0.5, seconds - 0.3)):
        assert rms(said, rate, start, end) > 1000, (start, end)  # the caller's tone
    held = rms(heard, rate, held_at + 0.5, resumed_at - 0.2)
    assert held > 0, "the caller hears music on hold, and the recording has it"

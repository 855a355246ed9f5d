"""Card digits entered in the IVR never reach the recording (PCI DSS): on the simulator and, with
CC_TEST_FREESWITCH, the real FreeSWITCH, with the recording service itself (PostgreSQL, RabbitMQ,
its HTTP API on 127.0.0.1) recording the caller's leg while the IVR takes a card number.

The stored file is measured sample by sample: exact zeros across the stretch the IVR paused, sound
before and after it. A recording the IVR cannot pause means the card number is not asked for."""

from __future__ import annotations

import array
import asyncio
import contextlib
import io
import math
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from cc_common.testing import TEST_SERVICE_TOKEN, eventually
from cc_ivr.adapters.recording import RecordingPauser
from cc_proto import make_event
from cc_proto.events import CallAnswered, CallEnded, CallOutcome
from cc_recording.app import create_app
from cc_recording.settings import RecordingSettings
from cc_recording.testing import KEK_A
from cc_sim.switches import free_port

from .conftest import Caller, Ivr, Line

pytestmark = pytest.mark.integration

CARD = "4111111111111111"
PAYMENT: dict[str, Any] = {
    "name": "payment",
    "start": "menu",
    "languages": ["en"],
    "prompts": {
        "menu": {"en": "prompts/press_1_sales_2_support.wav"},
        "card": {"en": "prompts/your_call_is_important.wav"},
        "goodbye": {"en": "prompts/goodbye.wav"},
    },
    "nodes": {
        "menu": {
            "type": "menu",
            "prompt": "menu",
            "choices": {"1": "card"},
            "timeout_seconds": 10,
            "retries": 2,
            "on_timeout": "agent",
            "on_invalid": "agent",
        },
        "card": {
            "type": "collect",
            "prompt": "card",
            "variable": "card",
            "min_digits": 13,
            "max_digits": 19,
            "timeout_seconds": 10,
            "retries": 1,
            "sensitive": True,
            "next": "thanks",
            "on_failure": "agent",
        },
        "thanks": {"type": "play", "prompts": ["goodbye"], "next": "anything_else"},
        "anything_else": {
            "type": "menu",
            "prompt": "menu",
            "choices": {"9": "done"},
            "timeout_seconds": 10,
            "retries": 2,
            "on_timeout": "done",
            "on_invalid": "done",
        },
        "done": {"type": "hangup", "prompt": "goodbye", "self_served": True},
        "agent": {"type": "queue", "queue": "payments"},
    },
}


@dataclass
class Recording:
    """The recording service, served over HTTP on 127.0.0.1, and a publisher on its exchange."""

    url: str
    client: httpx.AsyncClient
    publish: Callable[..., Any]

    async def of_call(self, call_id: str) -> list[dict[str, Any]]:
        reply = await self.client.get("/recordings", params={"call_id": call_id})
        assert reply.status_code == 200, reply.text
        found: list[dict[str, Any]] = reply.json()
        return found

    async def wait_status(self, call_id: str, status: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def reached() -> bool:
            found[:] = await self.of_call(call_id)
            return bool(found) and found[0]["status"] == status

        await until(reached)
        return found[0]


@pytest.fixture
async def recording(
    switch: Any,
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    make_rabbit_bus: Any,
    rabbit_cleanup: Any,
    tmp_path: Path,
) -> AsyncIterator[Recording]:
    """The recording service attached to the switch under test, its API on a free port."""
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    endpoint = switch.endpoint
    settings = RecordingSettings(
        tenant="acme",
        database_url=pg_url,
        amqp_url=amqp_url,
        bus_exchange=exchange,
        recording_queue=rabbit_cleanup.queue(unique_name("recording")),
        bus_delivery_limit=2,
        recording_esl=True,
        esl_host=endpoint.host,
        esl_port=endpoint.esl_port,
        esl_password=endpoint.password,
        recording_switch_dir=str(tmp_path / "switch"),
        recording_storage_dir=str(tmp_path / "store"),
        recording_keks=f"a:{KEK_A}",
        recording_kek_id="a",
        recording_signing_key="test-signing-key",
        recording_move_first_retry=0.2,
        recording_move_poll=0.2,
        service_token=TEST_SERVICE_TOKEN,
    )
    publisher = await make_rabbit_bus(exchange=exchange)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TEST_SERVICE_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await until(ready)

        async def publish(data: Any, call_id: str) -> None:
            await publisher.publish(
                make_event(data, tenant="acme", call_id=call_id, agent_id="ann")
            )

        try:
            yield Recording(url, client, publish)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def pause_through(ivr: Ivr) -> AsyncIterator[Callable[[str], None]]:
    """Point the IVR's recording pauser at a URL (closed after the test)."""
    made: list[RecordingPauser] = []

    def use(url: str) -> None:
        made.append(RecordingPauser(url, token=TEST_SERVICE_TOKEN, timeout=2.0))
        ivr.runner.recording = made[-1]

    yield use
    for pauser in made:
        await pauser.close()


async def until(condition: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    """Poll an asynchronous condition (an API answer) until it holds."""
    async with asyncio.timeout(within):
        while not await condition():
            await asyncio.sleep(0.1)


async def live(ivr: Ivr, number: str) -> None:
    info = await ivr.store.create(PAYMENT)
    await ivr.store.activate(info.name, info.version)
    await ivr.store.bind(number, info.name)


def sensitive_count(registry: CollectorRegistry, result: str) -> float:
    value = registry.get_sample_value("cc_ivr_sensitive_inputs_total", {"result": result})
    return value or 0.0


def channels(payload: bytes) -> tuple[int, list[array.array[int]]]:
    with wave.open(io.BytesIO(payload)) as wav:
        count, rate = wav.getnchannels(), wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    assert rate == 8000 or rate == 16000 or rate == 48000, rate
    return rate, [samples[c::count] for c in range(count)]


def rms(samples: array.array[int], rate: int, start: float, end: float) -> float:
    part = samples[int(start * rate) : int(end * rate)]
    assert len(part) > rate // 10, (start, end, len(samples) / rate)
    return math.sqrt(sum(x * x for x in part) / len(part))


async def tone_from_caller(line: Line, caller: Caller) -> None:
    """On the real switch, the caller's side sends a steady tone (what the caller 'says')."""
    job = await line.client.bgapi(
        f"uuid_broadcast {caller.a_leg} tone_stream://%(100000,0,440);loops=-1 aleg"
    )
    async with asyncio.timeout(15):
        assert (await job.result()).ok


async def test_the_card_number_is_silence_in_the_recording(
    ivr: Ivr,
    line: Line,
    switch: Any,
    recording: Recording,
    pause_through: Callable[[str], None],
) -> None:
    pause_through(recording.url)
    await live(ivr, "8300")
    caller = await line.call("8300", "15550009999", ivr.port)
    call_id = caller.b_leg  # the leg the IVR serves, as routing would name the call
    if switch.real is not None:
        await tone_from_caller(line, caller)
    await line.collecting(caller, 1)
    # An agent's bridge started the recording; the caller now pays in the IVR.
    answered = CallAnswered(
        queue="payments", agent_leg_uuid="agent", wait_seconds=0, ring_seconds=1
    )
    await recording.publish(answered, call_id)
    started = await recording.wait_status(call_id, "recording")
    await asyncio.sleep(2.0)  # sound before the pause
    await caller.press("1")
    await line.collecting(caller, 2)
    # The card prompt plays only once the recording is masked.
    (row,) = await recording.of_call(call_id)
    assert [p["end"] for p in row["pauses"]] == [None], row["pauses"]
    assert row["pauses"][0]["reason"] == "sensitive_input"
    await asyncio.sleep(2.0)  # the caller reads their card
    await caller.press(CARD + "#")
    await line.collecting(caller, 3)  # "anything else?": the card was taken
    (row,) = await recording.of_call(call_id)
    assert row["pauses"][0]["end"] is not None
    # The card number left the channel before anything else ran on it (events, CDR).
    (thanks,) = [
        e
        for e in line.events
        if e.name == "CHANNEL_EXECUTE"
        and e.unique_id == call_id
        and e.get("Application") == "playback"
    ]
    assert thanks.variable("cc_ivr_digits") is None
    await asyncio.sleep(2.5)  # sound after the pause
    await caller.hang_up()
    await eventually(lambda: bool(ivr.of("call.ivr_completed")), within=30)
    await recording.publish(
        CallEnded(outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=9),
        call_id,
    )
    stored = await recording.wait_status(call_id, "stored")
    assert stored["id"] == started["id"]
    (pause,) = stored["pauses"]
    assert pause["end"] - pause["start"] > 2.0
    assert sensitive_count(ivr.registry, "paused") == 1

    link = await recording.client.post(f"/recordings/{stored['id']}/links", json={"user": "qa"})
    assert link.status_code == 200, link.text
    whole = await recording.client.get(link.json()["url"])
    assert whole.status_code == 200
    rate, audio = channels(whole.content)
    assert len(audio) == 2
    seconds = len(audio[0]) / rate
    assert seconds > pause["end"] + 1.0, (seconds, pause)
    for side in audio:
        masked = side[int((pause["start"] + 0.3) * rate) : int((pause["end"] - 0.3) * rate)]
        assert len(masked) > rate // 2
        assert not any(masked), "the stretch the card number was entered in must be silence"
    said = audio[0]  # left: what the caller says
    before = rms(said, rate, 0.5, pause["start"] - 0.3)
    after = rms(said, rate, pause["end"] + 0.3, seconds - 0.3)
    assert before > 0
    assert after > 0
    if switch.real is not None:
        assert before > 1000
        assert after > 1000
    completed = ivr.of("call.ivr_completed")[-1].data
    assert "anything_else" in completed.path  # type: ignore[attr-defined]


@pytest.mark.parametrize("situation", ["unreachable", "unrecorded"])
async def test_card_digits_are_refused_unless_the_recording_is_paused_or_absent(
    ivr: Ivr,
    line: Line,
    recording: Recording,
    pause_through: Callable[[str], None],
    situation: str,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    pause_through(nowhere if situation == "unreachable" else recording.url)
    await live(ivr, "8301")
    caller = await line.call("8301", "15550009998", ivr.port)
    await line.collecting(caller, 1)
    await caller.press("1")
    if situation == "unreachable":
        # No card prompt, no digits taken: the caller goes to an agent queue instead.
        parked = await _parked(line, caller)
        assert parked.variable("cc_queue") == "payments"
        assert line.executed(caller.b_leg, "play_and_get_digits") == 1
        assert sensitive_count(ivr.registry, "refused") == 1
        await eventually(lambda: bool(ivr.of("call.ivr_completed")), within=30)
        completed = ivr.of("call.ivr_completed")[-1].data
        assert completed.path[-2:] == ["card", "agent"]  # type: ignore[attr-defined]
    else:
        # Nothing records this call: the card number is taken as usual.
        await line.collecting(caller, 2)
        await caller.press(CARD + "#")
        await line.collecting(caller, 3)
        assert sensitive_count(ivr.registry, "unrecorded") == 1
        assert await recording.of_call(caller.b_leg) == []
    await caller.hang_up()


async def _parked(line: Line, caller: Caller) -> Any:
    await eventually(lambda: line.parked_with_queue(caller.b_leg) is not None, within=30)
    return line.parked_with_queue(caller.b_leg)

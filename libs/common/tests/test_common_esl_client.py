"""Inbound client behaviour a capture cannot show: reconnects, restarts, backpressure, handlers.

A small scripted FreeSWITCH stand-in answers like mod_event_socket (texts from the captures) and
can drop the connection, refuse reconnects, change its Core-UUID (a restart) or flood events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from cc_common.esl.client import Backoff, InboundClient, ReconnectInfo
from cc_common.esl.event import EslEvent
from cc_common.esl.protocol import Frame, FrameParser, encode_headers

ROW = {
    "uuid": "7f4de4bc-17d7-11ee-8f9b-000000000001",
    "direction": "inbound",
    "created": "2026-11-22 09:50:43",
    "created_epoch": "1795341043",
    "name": "sofia/internal/5551000@127.0.0.1",
    "state": "CS_EXECUTE",
    "cid_num": "5551000",
    "dest": "7100",
    "application": "park",
    "callstate": "ACTIVE",
    "call_uuid": "7f4de4bc-17d7-11ee-8f9b-000000000001",
}


def _event(name: str, core: str, sequence: int, **headers: str) -> bytes:
    pairs = [("Event-Name", name), ("Core-UUID", core), ("Event-Sequence", str(sequence))]
    pairs += [(k.replace("_", "-"), v) for k, v in headers.items()]
    body = encode_headers(pairs) + b"\n"
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def _reply(text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def _api(text: str) -> bytes:
    body = text.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body


@dataclass
class FakeSwitch:
    """Answers commands the way FreeSWITCH does; remembers what each connection sent."""

    core_uuid: str = "8c5c82e8-5908-42c6-bfb6-c25aaeaa6829"
    refuse_next: int = 0
    connections: list[list[str]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    frames: list[list[Frame]] = field(default_factory=list)

    def answer(self, line: str) -> bytes:
        verb = line.split(" ", 1)[0]
        if verb == "auth":
            return _reply("+OK accepted" if line == "auth ClueCon" else "-ERR invalid")
        if line == "api global_getvar core_uuid":
            return _api(self.core_uuid)
        if line == "api show channels as json":
            return _api(json.dumps({"row_count": 1, "rows": [ROW]}, separators=(",", ":")))
        if verb == "event":
            return _reply(f"+OK event listener enabled {line.split()[1]}")
        if verb == "filter":
            return _reply("+OK filter added. [x]=[y]")
        if verb == "nixevent":
            return _reply("+OK events nixed")
        if verb == "api":
            return _api("+OK\n")
        if verb == "sendevent":
            return _reply("+OK 5c5a6f4e-3d0a-4b8e-9d6e-2f1f8c2d7a10")
        if verb == "divert_events":
            return _reply("+OK events diverted")
        return _reply("-ERR command not found")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        if self.refuse_next:
            self.refuse_next -= 1
            writer.close()
            return
        sent: list[str] = []
        self.connections.append(sent)
        self.frames.append([])
        self.writers.append(writer)
        self.connected.set()
        writer.write(b"Content-Type: auth/request\n\n")
        parser = FrameParser(commands=True)
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                for frame in parser.feed(chunk):
                    sent.append(frame.command)
                    self.frames[-1].append(frame)
                    writer.write(self.answer(frame.command))
        writer.close()

    def drop(self) -> None:
        """Close the newest connection, as a crashed or restarted FreeSWITCH would."""
        self.connected.clear()
        self.writers[-1].close()


@contextlib.asynccontextmanager
async def _switch(fake: FakeSwitch) -> AsyncIterator[int]:
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in fake.tasks:
            task.cancel()
        await asyncio.gather(*fake.tasks, return_exceptions=True)
        await server.wait_closed()


FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.1)


async def test_reconnect_resubscribes_refilters_and_reports_a_restart() -> None:
    fake = FakeSwitch()
    reconnected: asyncio.Queue[ReconnectInfo] = asyncio.Queue()
    restarts: list[tuple[str, str]] = []
    snapshots: list[list[str]] = []

    async def reconcile(client: InboundClient, info: ReconnectInfo) -> None:
        snapshots.append([row.uuid for row in await client.show_channels()])
        await reconnected.put(info)

    async with _switch(fake) as port:
        client = InboundClient(
            port=port,
            backoff=FAST,
            on_reconnect=reconcile,
            on_core_restart=lambda old, new: restarts.append((old, new)),
            rng=random.Random(7),
        )
        async with client:
            await client.events("plain", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE")
            await client.events("plain", "CUSTOM", "sofia::reinvite")
            await client.filter("Event-Name", "CHANNEL_PARK")
            await client.filter("variable_cc_queue", "sales")
            await client.filter_delete("Event-Name", "CHANNEL_PARK")
            assert client.core_uuid == fake.core_uuid
            old_core = fake.core_uuid
            fake.core_uuid = "0b7f7d5c-0000-4000-8000-000000000002"  # FreeSWITCH restarts
            fake.refuse_next = 2
            fake.drop()
            async with asyncio.timeout(10):
                info = await reconnected.get()
            assert client.connected
    assert fake.connections[1] == [
        "auth ClueCon",
        "api global_getvar core_uuid",
        "event plain CHANNEL_PARK CHANNEL_HANGUP_COMPLETE CUSTOM sofia::reinvite",
        "filter variable_cc_queue sales",
        "api show channels as json",
        "exit",
    ]
    assert info.attempts == 3  # two refused, the third accepted
    assert info.previous_core_uuid == old_core
    assert info.core_uuid == fake.core_uuid
    assert info.core_restarted
    assert restarts == [(old_core, fake.core_uuid)]
    assert snapshots == [[ROW["uuid"]]]


async def test_a_network_blip_is_not_a_restart() -> None:
    fake = FakeSwitch()
    reconnected: asyncio.Queue[ReconnectInfo] = asyncio.Queue()
    async with _switch(fake) as port:
        client = InboundClient(
            port=port, backoff=FAST, on_reconnect=lambda _, i: reconnected.put(i)
        )
        async with client:
            await client.events("json", "ALL")
            await client.nixevent("HEARTBEAT")
            fake.drop()
            async with asyncio.timeout(10):
                info = await reconnected.get()
    assert not info.core_restarted
    assert info.attempts == 1
    assert fake.connections[1][2:4] == ["event json ALL", "nixevent HEARTBEAT"]


async def test_a_restart_is_noticed_from_events_when_not_probing() -> None:
    fake = FakeSwitch()
    restarted = asyncio.Event()
    seen: list[tuple[str, str]] = []

    def note(old: str, new: str) -> None:
        seen.append((old, new))
        restarted.set()

    async with _switch(fake) as port:
        client = InboundClient(port=port, probe_core_uuid=False, on_core_restart=note)
        async with client:
            await client.events("plain", "ALL")
            assert fake.connections[0][1] == "event plain ALL"  # no probe was sent
            fake.writers[0].write(_event("HEARTBEAT", "core-a", 1))
            fake.writers[0].write(_event("HEARTBEAT", "core-b", 1))
            async with asyncio.timeout(5):
                await restarted.wait()
    assert seen == [("core-a", "core-b")]


async def test_no_reconnect_after_close_or_exit() -> None:
    fake = FakeSwitch()
    async with _switch(fake) as port:
        client = InboundClient(port=port, backoff=FAST)
        await client.connect()
        await client.exit()
        await asyncio.sleep(0.1)
        await client.close()
        await asyncio.sleep(0.1)
    assert len(fake.connections) == 1


async def test_slow_handlers_never_stop_the_reader() -> None:
    fake = FakeSwitch()
    release = asyncio.Event()
    handled: list[int] = []
    overflows: list[int] = []

    async def slow(event: EslEvent) -> None:
        await release.wait()
        handled.append(event.sequence or 0)

    total = 500
    async with _switch(fake) as port:
        client = InboundClient(
            port=port, max_buffered_events=50, on_overflow=overflows.append, probe_core_uuid=False
        )
        async with client:
            client.on("CHANNEL_STATE", slow)
            fake.writers[0].write(b"".join(_event("CHANNEL_STATE", "c", n) for n in range(total)))
            # The handler is stuck, yet the reader keeps going: this reply arrives after 500 events.
            async with asyncio.timeout(5):
                reply = await client.api("status")
            assert reply.text == "+OK\n"
            assert client.dispatcher.stats.received == total
            release.set()
            async with asyncio.timeout(5):
                await client.dispatcher.drain()
    stats = client.dispatcher.stats
    assert stats.dropped > 0
    assert stats.dropped + stats.delivered == total
    assert handled[-1] == total - 1  # drop-oldest keeps the newest
    assert handled == sorted(handled)
    assert sum(overflows) == stats.dropped
    assert stats.peak_buffered == 50


async def test_handlers_run_on_the_worker_in_order_and_survive_errors() -> None:
    fake = FakeSwitch()
    where: list[str] = []
    order: list[str] = []

    def record(event: EslEvent) -> None:
        task = asyncio.current_task()
        where.append(task.get_name() if task else "")
        order.append(event.key)

    def broken(event: EslEvent) -> None:
        raise RuntimeError("a handler bug")

    async with (
        _switch(fake) as port,
        InboundClient(port=port, probe_core_uuid=False, name="esl-test") as client,
    ):
        client.on("*", record)
        client.on("CUSTOM", broken)
        remove = client.on("CHANNEL_PARK", record)
        writer = fake.writers[0]
        writer.write(_event("CHANNEL_PARK", "c", 1, Unique_ID="a"))
        writer.write(_event("CUSTOM", "c", 2, Event_Subclass="sofia::reinvite"))
        writer.write(_event("CHANNEL_ANSWER", "c", 3))
        got = await client.wait_for_event("CHANNEL_ANSWER")
        await client.dispatcher.drain()
        remove()
        writer.write(_event("CHANNEL_PARK", "c", 4))
        await client.wait_for_event(lambda e: e.sequence == 4)
        await client.dispatcher.drain()
    assert got.sequence == 3
    assert order == [
        "CHANNEL_PARK",
        "CHANNEL_PARK",
        "CUSTOM sofia::reinvite",
        "CHANNEL_ANSWER",
        "CHANNEL_PARK",
    ]
    assert set(where) == {"esl-test-events"}
    assert client.dispatcher.stats.handler_errors == 1


async def test_an_unreachable_switch_raises_on_first_connect() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await InboundClient(port=port).connect()


def test_backoff_grows_to_its_cap_with_bounded_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, factor=2.0, jitter=0.2)
    rng = random.Random(1)
    delays = [backoff.delay(attempt, rng) for attempt in range(12)]
    for attempt, delay in enumerate(delays):
        base = min(30.0, 0.5 * 2**attempt)
        assert base * 0.8 <= delay <= base * 1.2
    assert max(delays) <= 36.0
    assert backoff.delay(10_000, rng) <= 36.0


async def test_sendevent_and_divert_events_reach_the_switch_intact() -> None:
    fake = FakeSwitch()
    async with _switch(fake) as port, InboundClient(port=port, probe_core_uuid=False) as client:
        reply = await client.sendevent(
            "CUSTOM", [("cc_agent", "1001")], body="ready\n", subclass="cc::agent_state"
        )
        await client.divert_events(True)
    assert reply.text.startswith("+OK ")
    sent = fake.frames[0][1]
    assert sent.command == "sendevent CUSTOM"
    assert sent.get("Event-Subclass") == "cc::agent_state"
    assert sent.get("cc_agent") == "1001"
    assert sent.body == b"ready\n"
    assert fake.connections[0][2:] == ["divert_events on", "exit"]
    assert client.subscriptions.restore_commands() == ["divert_events on"]


def test_the_client_takes_its_address_from_service_settings() -> None:
    from pydantic import SecretStr

    from cc_common.settings import ServiceSettings

    settings = ServiceSettings(esl_host="127.0.0.2", esl_port=8022, esl_password=SecretStr("pw"))
    client = InboundClient.from_settings(settings, reconnect=False)
    assert (client.host, client.port, client._password) == ("127.0.0.2", 8022, "pw")

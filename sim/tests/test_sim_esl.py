"""The simulator's Event Socket over real sockets, driven by the platform's own ESL client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cc_common.esl import EslEvent, InboundClient, OutboundServer, OutboundSession
from cc_common.esl.protocol import Frame, FrameParser
from cc_sim import Action, AgentPhone, AnswerPlan, SimConfig, Simulator, default_dialplan


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(esl_port=0, time_compression=20.0)) as running:
        yield running


class Raw:
    """A bare ESL socket for checking replies byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = FrameParser()
        self.pending: list[Frame] = []

    @classmethod
    async def open(cls, port: int, *, password: str | None = "ClueCon") -> Raw:
        raw = cls(*await asyncio.open_connection("127.0.0.1", port))
        assert (await raw.frame()).content_type == "auth/request"
        if password is not None:
            assert await raw.reply(f"auth {password}") == "+OK accepted"
        return raw

    async def frame(self, timeout: float = 5.0) -> Frame:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("closed")
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    async def reply(self, command: str) -> str:
        """Send a command; return the first reply's text (events in between are skipped)."""
        self.writer.write(command.encode() + b"\n\n")
        while True:
            frame = await self.frame()
            if frame.content_type == "command/reply":
                return frame.get("Reply-Text") or ""
            if frame.content_type == "api/response":
                return frame.body.decode()

    def close(self) -> None:
        self.writer.close()


async def test_sim_client_originates_bridges_and_gets_job_results(sim: Simulator) -> None:
    sim.register_agent("1001", plans=[AnswerPlan("answer", 1.0)])
    parked: asyncio.Queue[EslEvent] = asyncio.Queue()
    async with InboundClient("127.0.0.1", sim.esl_port, "ClueCon", reconnect=False) as client:
        assert client.core_uuid == sim.switch.host.core_uuid
        await client.events("plain", "CHANNEL_PARK", "CHANNEL_BRIDGE", "BACKGROUND_JOB")
        client.on("CHANNEL_PARK", parked.put_nowait)
        customer = await client.bgapi(
            "originate {origination_uuid=cust,origination_caller_id_number=5551000}"
            "loopback/7101/default &park()",
            job_uuid="11111111-2222-3333-4444-555555555555",
        )
        async with asyncio.timeout(5):
            result = await customer.result()
        assert result.ok
        assert result.text == "+OK cust\n"
        agent = await client.bgapi("originate {origination_uuid=agent}user/1001 &park()")
        async with asyncio.timeout(5):
            assert (await agent.result()).ok
        connection = client.connection
        assert connection is not None
        bridged = connection.wait_for_event(lambda e: e.name == "CHANNEL_BRIDGE")
        reply = await client.api("uuid_bridge cust agent")
        assert reply.text == "+OK agent\n"
        bridge = await asyncio.wait_for(bridged, 5)
        assert bridge.get("Bridge-B-Unique-ID") == "agent"
        rows = await client.show_channels()
        assert {"cust", "agent"} <= {row.uuid for row in rows}
        assert not parked.empty()


async def test_sim_api_blocks_events_until_its_reply(sim: Simulator) -> None:
    raw = await Raw.open(sim.esl_port)
    assert await raw.reply("event plain ALL") == "+OK event listener enabled plain"
    raw.writer.write(b"api originate loopback/7101/default &park()\n\n")
    first = await raw.frame()
    assert first.content_type == "api/response"
    assert first.body.decode().startswith("+OK ")
    assert (await raw.frame()).content_type == "text/event-plain"
    raw.close()


async def test_sim_subscription_commands_reply_like_mod_event_socket(sim: Simulator) -> None:
    raw = await Raw.open(sim.esl_port)
    assert await raw.reply("event json CHANNEL_CREATE CUSTOM sofia::reinvite") == (
        "+OK event listener enabled json"
    )
    assert await raw.reply("event bogus") == "-ERR no keywords supplied"
    assert await raw.reply("nixevent CHANNEL_CREATE") == "+OK events nixed"
    assert await raw.reply("filter Unique-ID abc") == "+OK filter added. [Unique-ID]=[abc]"
    assert await raw.reply("filter delete Unique-ID abc") == "+OK filter deleted. [Unique-ID][abc]"
    assert await raw.reply("filter nothing") == "-ERR invalid syntax"
    assert await raw.reply("noevents") == "+OK no longer listening for events"
    assert await raw.reply("noevents") == "-ERR not listening for events"
    assert await raw.reply("log 7") == "+OK log level 7 [7]"
    assert await raw.reply("nolog") == "+OK no longer logging"
    assert await raw.reply("nolog") == "-ERR not loging"
    assert await raw.reply("linger") == "-ERR not controlling a session"
    assert await raw.reply("divert_events on") == "-ERR not controlling a session."
    assert await raw.reply("sendmsg nonexistent\ncall-command: hangup") == (
        "-ERR invalid session id [nonexistent]"
    )
    assert await raw.reply("frobnicate") == "-ERR command not found"
    assert await raw.reply("api version") == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    assert await raw.reply("api global_getvar nope") == "-ERR no reply\n"
    raw.close()


async def test_sim_filters_and_myevents_pick_one_channel(sim: Simulator) -> None:
    watcher = await Raw.open(sim.esl_port)
    await watcher.reply("event plain CHANNEL_PARK")
    await watcher.reply("filter Unique-ID mine")
    control = await Raw.open(sim.esl_port)
    await control.reply("bgapi originate {origination_uuid=other}loopback/7101/default &park()")
    await control.reply("bgapi originate {origination_uuid=mine}loopback/7101/default &park()")
    event = await watcher.frame()
    assert b"Unique-ID: mine" in event.body
    mine = await Raw.open(sim.esl_port)
    assert await mine.reply("myevents mine") == "+OK Events Enabled"
    assert await mine.reply("myevents mine") == "-ERR aready enabled."
    await control.reply("api uuid_kill other")
    await control.reply("api uuid_kill mine")
    frame = await mine.frame()
    assert b"Unique-ID: mine" in frame.body
    for raw in (watcher, control, mine):
        raw.close()


async def test_sim_sendevent_reaches_custom_subscribers(sim: Simulator) -> None:
    listener = await Raw.open(sim.esl_port)
    await listener.reply("event plain CUSTOM cc::test")
    sender = await Raw.open(sim.esl_port)
    reply = await sender.reply("sendevent CUSTOM\nEvent-Subclass: cc::test\nX-Agent: 1001")
    assert reply.startswith("+OK ")
    event = await listener.frame()
    assert b"Event-Subclass: cc%3A%3Atest" in event.body
    assert b"X-Agent: 1001" in event.body
    for raw in (listener, sender):
        raw.close()


async def test_sim_refuses_bad_auth_and_bad_framing(sim: Simulator) -> None:
    early = await Raw.open(sim.esl_port, password=None)
    assert await early.reply("api status") == "-ERR command not found"
    assert await early.reply("auth nope") == "-ERR invalid"
    notice = await early.frame()
    assert notice.content_type == "text/disconnect-notice"
    early.close()
    bad = await Raw.open(sim.esl_port)
    bad.writer.write(b"api status\nContent-Length: 99999999999\n\n")
    with pytest.raises(ConnectionError):
        for _ in range(5):
            await bad.frame(timeout=2)
    bad.close()


async def test_sim_userauth_with_configured_users() -> None:
    config = SimConfig(esl_port=0, esl_users={"1000@default": "secret"})
    async with Simulator(config) as sim:
        raw = await Raw.open(sim.esl_port, password=None)
        raw.writer.write(b"userauth 1000@default:secret\n\n")
        reply = await raw.frame()
        assert reply.get("Reply-Text") == "+OK accepted"
        assert reply.get("Allowed-Events") == "all"
        raw.close()


async def test_sim_outbound_socket_runs_an_ivr_with_the_platform_client() -> None:
    seen: list[str] = []
    finished = asyncio.Event()

    async def ivr(session: OutboundSession) -> None:
        seen.append(session.channel_data.get("Caller-Destination-Number") or "")
        await session.myevents()
        await session.linger()
        await session.execute("answer", event_lock=True, wait=True)
        done = await session.execute("playback", "ivr/welcome@2s.wav", wait=True)
        assert done is not None
        seen.append(done.get("Application-Response") or "")
        await session.execute("set", "cc_queue=sales", wait=True)
        await session.hangup("NORMAL_CLEARING")
        await asyncio.wait_for(session.wait_hangup(), 5)
        finished.set()

    async with OutboundServer(ivr, "127.0.0.1", 0) as server:
        plan = default_dialplan()
        plan.set_extension(
            "default", "8000", [Action("socket", f"127.0.0.1:{server.port} async full")]
        )
        config = SimConfig(esl_port=0, time_compression=20.0)
        async with (
            Simulator(config, dialplan=plan) as sim,
            InboundClient("127.0.0.1", sim.esl_port, reconnect=False) as client,
        ):
            completed: asyncio.Queue[EslEvent] = asyncio.Queue()
            client.on("CHANNEL_HANGUP_COMPLETE", completed.put_nowait)
            await client.events("plain", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB")
            job = await client.bgapi(
                "originate {origination_uuid=ivr}loopback/8000/default &park()"
            )
            await asyncio.wait_for(finished.wait(), 10)
            assert (await asyncio.wait_for(job.result(), 5)).ok
            names = {}
            for _ in range(2):
                event = await asyncio.wait_for(completed.get(), 5)
                names[event.get("Channel-Name")] = event
            complete = names["loopback/8000-b"]
            assert complete.variable("cc_queue") == "sales"
            assert complete.variable("last_app") == "set"  # as FreeSWITCH reports it
    assert seen == ["8000", "FILE PLAYED"]


async def test_sim_socket_to_a_closed_port_falls_through_the_dialplan() -> None:
    plan = default_dialplan()
    plan.set_extension(
        "default",
        "8001",
        [Action("socket", "127.0.0.1:1 async full"), Action("answer"), Action("park")],
    )
    async with Simulator(SimConfig(esl_port=0, time_compression=20.0), dialplan=plan) as sim:
        sim.directory.register(AgentPhone("1001"))
        raw = await Raw.open(sim.esl_port)
        await raw.reply("event plain CHANNEL_PARK")
        await raw.reply("bgapi originate loopback/8001/default &park()")
        park = await raw.frame()
        assert b"Channel-Name: loopback/8001-b" in park.body or b"loopback/8001-a" in park.body
        raw.close()

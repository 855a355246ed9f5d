"""The client against a fake FreeSWITCH that replays real captures over real sockets.

The fake reads each command the client sends, checks it is the command the capture shows (byte
for byte, apart from our own Job-UUID / Event-UUID, which it substitutes into what follows the way
FreeSWITCH echoes them), and answers with exactly the bytes FreeSWITCH sent after that command.
The client must then match every reply to its command, resolve bgapi jobs from BACKGROUND_JOB,
deliver events in order and handle the disconnect notice and linger.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cc_common.esl import commands
from cc_common.esl.client import InboundClient
from cc_common.esl.connection import BackgroundJob, Reply
from cc_common.esl.control import EslControl
from cc_common.esl.errors import (
    AuthenticationError,
    CommandError,
    ConnectionLost,
    Disconnected,
    RudeRejection,
)
from cc_common.esl.event import EslEvent, event_from_frame
from cc_common.esl.outbound import OutboundServer, OutboundSession
from cc_common.esl.protocol import Frame, FrameParser
from cc_common.esl.transcripts import Step, load_scenario, scenario_logs, transcripts_root

ROOT = transcripts_root()
UUID_TEXT = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REPLY_TYPES = ("command/reply", "api/response")
JOB_UUID = re.compile(rb"Job-UUID: (" + UUID_TEXT.pattern + rb")")
APPLICATION_UUID = re.compile(rb'Application-UUID(?:: |":")(' + UUID_TEXT.pattern + rb")")


def _frame(data: bytes, *, commands_: bool = False) -> Frame:
    frames = FrameParser(commands=commands_).feed(data)
    assert len(frames) == 1
    return frames[0]


@dataclass
class Replay:
    """A fake FreeSWITCH playing one capture; ``problems`` lists every deviation it saw."""

    steps: list[Step]
    problems: list[str] = field(default_factory=list)
    swaps: dict[bytes, bytes] = field(default_factory=dict)
    commands_seen: int = 0

    def _out(self, data: bytes) -> bytes:
        for old, new in self.swaps.items():
            data = data.replace(old, new)
        return data

    def _later(self, index: int, pattern: re.Pattern[bytes]) -> bytes | None:
        for step in self.steps[index:]:
            if step.direction == "RECV":
                found = pattern.search(step.data)
                if found:
                    return found.group(1)
        return None

    def _check(self, got: Frame, index: int) -> None:
        wanted = _frame(self.steps[index].data, commands_=True)
        ignored: set[str] = set()
        for header, pattern in (("Job-UUID", JOB_UUID), ("Event-UUID", APPLICATION_UUID)):
            ours = got.get(header)
            if ours and wanted.get(header) != ours:
                ignored.add(header)  # our own id: FreeSWITCH echoes it in what follows
                theirs = self._later(index + 1, pattern)
                if theirs:
                    self.swaps[theirs] = ours.encode()
        mine = [h for h in got.headers if h[0] not in ignored]
        capture = [h for h in wanted.headers if h[0] not in ignored]
        if mine != capture or got.body != wanted.body:
            self.problems.append(f"step {index}: sent {got.headers}, capture has {wanted.headers}")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Play the capture on one connection (either side may have dialled)."""
        parser = FrameParser(commands=True)
        index = self._send_replies(writer, 0)
        await writer.drain()
        try:
            while index < len(self.steps):
                chunk = await reader.read(65536)
                if not chunk:
                    self.problems.append(f"client hung up at step {index}")
                    return
                for got in parser.feed(chunk):
                    if index >= len(self.steps):
                        self.problems.append(f"unexpected extra command {got.command!r}")
                        return
                    self._check(got, index)
                    self.commands_seen += 1
                    index = self._send_replies(writer, index + 1)
                await writer.drain()
            last = _frame(self.steps[-1].data)
            lingering = last.get("Content-Disposition") == "linger"
            if last.content_type == "text/disconnect-notice" and not lingering:
                return  # FreeSWITCH closes right after its goodbye
            while await reader.read(65536):
                pass  # a lingering socket stays open until the client closes it
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _send_replies(self, writer: asyncio.StreamWriter, index: int) -> int:
        while index < len(self.steps) and self.steps[index].direction == "RECV":
            writer.write(self._out(self.steps[index].data))
            index += 1
        return index

    def expected_replies(self) -> list[str]:
        texts = []
        for step in self.steps:
            if step.direction == "RECV" and step.content_type in REPLY_TYPES:
                frame = _frame(self._out(step.data))
                body = frame.body.decode()
                texts.append(body if frame.content_type == "api/response" else frame["Reply-Text"])
        return texts

    def expected_events(self) -> list[EslEvent]:
        return [
            event_from_frame(_frame(self._out(step.data)))
            for step in self.steps
            if step.direction == "RECV" and step.content_type.startswith("text/event-")
        ]


def _folder_steps(folder: Path) -> list[Step]:
    return [step for log in scenario_logs(folder) for step in load_scenario(log).steps]


@contextlib.asynccontextmanager
async def _fake_freeswitch(replay: Replay) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        await replay.serve(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def _drive(control: EslControl, command: Frame) -> Reply | BackgroundJob:
    """Call the client method a capture's command stands for."""
    verb, _, rest = command.command.partition(" ")
    if verb == "api":
        return await control.api(rest)
    if verb == "bgapi":
        return await control.bgapi(rest, job_uuid=command.get("Job-UUID"))
    if verb == "event":
        fmt, *names = rest.split()
        return await control.events(fmt, *names)
    if verb == "filter" and rest.startswith("delete "):
        header, _, value = rest.removeprefix("delete ").partition(" ")
        return await control.filter_delete(header, value or None)
    if verb == "filter":
        header, _, value = rest.partition(" ")
        return await control.filter(header, value)
    if verb == "nixevent":
        return await control.nixevent(*rest.split())
    if verb == "noevents":
        return await control.noevents()
    if verb == "exit":
        return await control.exit()
    if verb == "myevents":
        return await control.myevents(fmt=rest or None)
    if verb == "linger":
        return await control.linger(int(rest) if rest else None)
    if verb == "sendmsg":
        return await control.sendmsg(_message(command), uuid=rest or None)
    return await control.command(command.command)


def _message(command: Frame) -> commands.ChannelMessage:
    if command["call-command"] == "hangup":
        return commands.hangup(command["hangup-cause"])
    return commands.execute(
        command["execute-app-name"],
        command.get("execute-app-arg") or (command.body.decode() or None),
        event_lock=command.get("event-lock") == "true",
        event_uuid=command.get("Event-UUID"),
        arg_in_body=bool(command.body),
    )


def _texts(results: list[Reply | BackgroundJob]) -> list[str]:
    return [r.text if isinstance(r, Reply) else f"+OK Job-UUID: {r.job_uuid}" for r in results]


@pytest.mark.parametrize("folder", ["loopback-plain", "loopback-json", "sip-plain", "sip-json"])
async def test_a_whole_captured_session_replays_through_the_client(folder: str) -> None:
    replay = Replay(_folder_steps(ROOT / folder))
    sent = [_frame(s.data, commands_=True) for s in replay.steps if s.direction == "SENT"]
    assert sent[0].command == "auth ClueCon"
    seen: list[EslEvent] = []
    async with _fake_freeswitch(replay) as port:
        client = InboundClient(port=port, reconnect=False, probe_core_uuid=False)
        client.on("*", seen.append)
        await client.connect()
        results = [await _drive(client, command) for command in sent[1:]]
        async with asyncio.timeout(10):
            reason = await client.connection.wait_closed()  # type: ignore[union-attr]
            await client.dispatcher.drain()
        jobs = [r for r in results if isinstance(r, BackgroundJob)]
        async with asyncio.timeout(10):
            outcomes = [await job.result() for job in jobs]
        await client.close()
    assert replay.problems == []
    assert replay.commands_seen == len(sent)
    # Replies matched to their commands: the n-th command got the n-th reply after auth's.
    assert _texts(results) == replay.expected_replies()[1:]
    # Events in the order FreeSWITCH sent them, none lost, none doubled.
    expected = replay.expected_events()
    assert [e.sequence for e in seen] == [e.sequence for e in expected]
    assert seen == expected
    # Every bgapi resolved from the BACKGROUND_JOB carrying our Job-UUID.
    finished = {e.job_uuid: e.body for e in expected if e.name == "BACKGROUND_JOB"}
    assert len(jobs) >= 5
    for job, outcome in zip(jobs, outcomes, strict=True):
        assert outcome.event.job_uuid == job.job_uuid
        assert outcome.text == finished[job.job_uuid]
    assert any(o.ok for o in outcomes)
    assert any(o.text.startswith("-ERR") for o in outcomes)
    # exit: +OK bye, then the disconnect notice closed the connection.
    assert results[-1].text == "+OK bye"  # type: ignore[union-attr]
    assert isinstance(reason, Disconnected)
    assert reason.notice.startswith("Disconnected, goodbye.")
    assert not client.connected


async def test_concurrent_commands_each_get_their_own_reply() -> None:
    prelude = load_scenario(scenario_logs(ROOT / "sip-plain")[0]).steps[:3]
    api_steps = load_scenario(next((ROOT / "sip-plain").glob("12_*.log"))).steps
    replay = Replay(prelude + api_steps)
    sent = [_frame(s.data, commands_=True) for s in api_steps if s.direction == "SENT"]
    async with (
        _fake_freeswitch(replay) as port,
        InboundClient(port=port, reconnect=False, probe_core_uuid=False) as client,
    ):
        results = await asyncio.gather(*(_drive(client, command) for command in sent))
    assert replay.problems == []
    assert _texts(list(results)) == replay.expected_replies()[1:]
    by_command = dict(zip((c.command for c in sent), _texts(list(results)), strict=False))
    assert by_command["api uuid_exists 00000000-0000-0000-0000-000000000000"] == "false"
    assert by_command["api nosuchcommand"] == "-ERR nosuchcommand Command not found!\n"
    assert by_command["nosuchcmd"] == "-ERR command not found"
    assert by_command["api global_getvar hold_music"] == "local_stream://moh"


async def test_a_job_whose_result_comes_before_its_reply_is_not_missed() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Content-Type: auth/request\n\n")
        await reader.readuntil(b"\n\n")
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        command = _frame(await reader.readuntil(b"\n\n"), commands_=True)
        job = command["Job-UUID"]
        event = f"Event-Name: BACKGROUND_JOB\nJob-UUID: {job}\nContent-Length: 3\n\n+OK".encode()
        writer.write(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(event) + event)
        writer.write(f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\n".encode())
        writer.write(f"Job-UUID: {job}\n\n".encode())
        await reader.read()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with InboundClient(port=port, reconnect=False, probe_core_uuid=False) as client:
        job = await client.bgapi("status")
        async with asyncio.timeout(5):
            result = await job.result()
    server.close()
    await server.wait_closed()
    assert result.text == "+OK"
    assert result.event.job_uuid == job.job_uuid


async def _one_shot_server(
    greeting: bytes, answer: Callable[[bytes], bytes]
) -> tuple[asyncio.Server, int, list[bytes]]:
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            command = await reader.readuntil(b"\n\n")
            received.append(command)
            writer.write(answer(command))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], received


async def test_a_wrong_password_is_an_authentication_error() -> None:
    frames = FrameParser().feed((ROOT / "auth" / "00b_auth_failure.recv.raw").read_bytes())
    raw = (ROOT / "auth" / "00b_auth_failure.recv.raw").read_bytes()
    greeting_end = raw.index(b"\n\n") + 2
    assert frames[0].content_type == "auth/request"
    server, port, received = await _one_shot_server(
        raw[:greeting_end], lambda _: raw[greeting_end:]
    )
    client = InboundClient(port=port, password="WrongPassword", reconnect=False)
    with pytest.raises(AuthenticationError, match="-ERR invalid"):
        await client.connect()
    server.close()
    await server.wait_closed()
    assert received == [(ROOT / "auth" / "00b_auth_failure.sent.raw").read_bytes()]
    assert not client.connected


async def test_an_acl_refusal_is_a_rude_rejection() -> None:
    # mod_event_socket's exact bytes when its ACL refuses an address.
    message = b"Access Denied, go away.\n"
    rude = b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n%s" % (len(message), message)
    server, port, _ = await _one_shot_server(rude, lambda _: b"")
    with pytest.raises(RudeRejection, match=r"Access Denied, go away\."):
        await InboundClient(port=port, reconnect=False).connect()
    server.close()
    await server.wait_closed()


async def test_userauth_sends_user_at_domain_and_reads_the_permission_reply() -> None:
    accepted = (
        b"Content-Type: command/reply\nReply-Text: +OK accepted\nAllowed-Events: all\n"
        b"Allowed-API: all\nAllowed-LOG: true\n\n"
    )
    server, port, received = await _one_shot_server(
        b"Content-Type: auth/request\n\n", lambda _: accepted
    )
    client = InboundClient(
        port=port, user="1000@default", password="s3cret", reconnect=False, probe_core_uuid=False
    )
    await client.connect()
    assert received == [b"userauth 1000@default:s3cret\n\n"]
    await client.close()
    server.close()
    await server.wait_closed()


async def test_commands_after_the_socket_closed_fail_clearly() -> None:
    server, port, _ = await _one_shot_server(
        b"Content-Type: auth/request\n\n",
        lambda _: b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
    )
    client = InboundClient(port=port, reconnect=False, probe_core_uuid=False)
    await client.connect()
    assert client.connection is not None
    async with asyncio.timeout(5):
        await client.connection.wait_closed()
    with pytest.raises(ConnectionLost):
        await client.api("status")
    with pytest.raises(ValueError, match="line break"):
        await client.command("api status\n\nexit")
    await client.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("fmt", ["plain", "json"])
async def test_outbound_session_sees_channel_data_and_its_events(fmt: str) -> None:
    steps = load_scenario(next((ROOT / "outbound" / fmt).glob("20_*.log"))).steps
    replay = Replay(steps)
    sent = [_frame(s.data, commands_=True) for s in steps if s.direction == "SENT"]
    seen: list[EslEvent] = []
    outcome: dict[str, object] = {}
    finished = asyncio.Event()

    async def call_flow(session: OutboundSession) -> None:
        session.on("*", seen.append)
        outcome["data"] = session.channel_data
        outcome["myevents"] = await session.myevents(fmt=None if fmt == "plain" else "json")
        outcome["linger"] = await session.linger()
        uuid = session.unique_id
        outcome["name"] = await session.api(f"uuid_getvar {uuid} channel_name")
        await session.execute("answer", event_lock=True)
        outcome["played"] = await session.execute(
            "playback", "tone_stream://%(300,100,440);loops=1", event_lock=True, wait=True
        )
        await session.execute("set", "esltest_var=hello")
        outcome["dtmf"] = await session.api(f"uuid_send_dtmf {uuid} 5")
        await session.hangup("NORMAL_CLEARING")
        async with asyncio.timeout(5):
            await session.wait_hangup()
            await session.dispatcher.drain()
        outcome["notice"] = session.linger_notice
        finished.set()

    async with OutboundServer(call_flow, port=0) as server:
        assert server.host == "127.0.0.1"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(10):
            await replay.serve(reader, writer)
            await finished.wait()
    assert replay.problems == []
    assert replay.commands_seen == len(sent)
    data = outcome["data"]
    assert isinstance(data, EslEvent)
    assert data.name == "CHANNEL_DATA"
    assert data["Reply-Text"] == "+OK\n"
    assert data["Socket-Mode"] == "async"
    assert data["Control"] == "full"
    assert data.variable("current_application") == "socket"
    assert data.get("Channel-Callee-ID-Name") == "Outbound Call"  # URL-decoded
    assert str(outcome["name"].text) == data["Channel-Name"]  # type: ignore[attr-defined]
    assert outcome["linger"].text == "+OK will linger"  # type: ignore[attr-defined]
    assert outcome["dtmf"].text == f"+OK {data.unique_id} sent DTMF 5.\n"  # type: ignore[attr-defined]
    played = outcome["played"]
    assert isinstance(played, EslEvent)
    assert played.name == "CHANNEL_EXECUTE_COMPLETE"
    assert played["Application"] == "playback"
    notice = outcome["notice"]
    assert isinstance(notice, Frame)
    assert notice["Controlled-Session-UUID"] == data.unique_id
    assert notice["Linger-Time"] == "-1"
    expected = replay.expected_events()
    assert [e.sequence for e in seen] == [e.sequence for e in expected]
    assert {e.unique_id for e in seen} == {data.unique_id}
    assert [e.name for e in seen][-1] == "CHANNEL_HANGUP_COMPLETE"


async def test_a_failing_sendmsg_is_a_command_error() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Content-Type: auth/request\n\n")
        await reader.readuntil(b"\n\n")
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        await reader.readuntil(b"\n\n")
        writer.write(b"Content-Type: command/reply\nReply-Text: -ERR invalid session id [x]\n\n")
        await reader.read()
        writer.close()

    fake = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = fake.sockets[0].getsockname()[1]
    async with InboundClient(port=port, reconnect=False, probe_core_uuid=False) as client:
        with pytest.raises(CommandError, match="invalid session id"):
            await client.hangup(uuid="x")
    fake.close()
    await fake.wait_closed()


async def test_an_outbound_call_hung_up_without_linger_ends_the_session_clearly() -> None:
    raw = next((ROOT / "outbound" / "plain").glob("20_*.recv.raw")).read_bytes()
    channel_data = raw[: raw.index(b"\n\n") + 2]
    uuid = _frame(channel_data)["Unique-ID"]
    goodbye = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    # mod_event_socket's send_disconnect() for a session-bound listener.
    notice = (
        b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\n"
        b"Content-Disposition: disconnect\nContent-Length: %d\n\n%s"
    ) % (uuid.encode(), len(goodbye), goodbye)
    reasons: list[BaseException] = []
    failures: list[BaseException] = []

    async def call_flow(session: OutboundSession) -> None:
        reasons.append(await session.wait_closed())
        try:
            await session.api("uuid_getvar x y")
        except ConnectionLost as exc:
            failures.append(exc)

    async with OutboundServer(call_flow, port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await reader.readuntil(b"\n\n") == b"connect\n\n"
        writer.write(channel_data + notice)
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # the session closed its side
        writer.close()
        await writer.wait_closed()
    assert len(reasons) == 1
    assert isinstance(reasons[0], Disconnected)
    assert reasons[0].disposition == "disconnect"
    assert reasons[0].notice.startswith("Disconnected, goodbye.")
    assert len(failures) == 1
    assert server.sessions_started == 1

"""Replay the golden FreeSWITCH captures against the simulator and compare what comes back.

For each scenario of a capture folder the commands of ``NN_name.sent.raw`` are sent at their
recorded times (divided by the time compression), with the uuids FreeSWITCH created replaced
by the ones the simulator created (matched by channel name and order of appearance). What the
simulator sends back is compared with ``NN_name.recv.raw``:

* the replies (command/reply, api/response), in order, uuids normalized;
* per channel, the event names in order;
* BACKGROUND_JOB results and the number of API events;
* per event type (CUSTOM per subclass), the set of header names.

Deliberate differences are listed in :data:`ALLOWED` with the reason; anything else is a
failure. ``python -m cc_sim.fidelity [folder ...]`` prints the report.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cc_common.esl.event import EslEvent, event_from_frame
from cc_common.esl.protocol import Frame, FrameParser
from cc_common.esl.transcripts import INBOUND_FOLDERS, scenario_logs, transcripts_root
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import default_dialplan
from cc_sim.simulator import Simulator

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BLOCK = re.compile(r"^===== (SENT|RECV)(?: (\S+))? t=\+([0-9.]+)s \((\d+) bytes\) =====$")
TIMER_EVENTS = frozenset({"HEARTBEAT", "RE_SCHEDULE"})
REPLY_TYPES = ("command/reply", "api/response", "auth/request", "text/disconnect-notice")


@dataclass(frozen=True, slots=True)
class Allowed:
    """A deliberate, documented difference: which kind, what it matches, and why."""

    kind: str
    pattern: str
    reason: str

    def matches(self, difference: Difference) -> bool:
        """Return True when this entry covers ``difference``."""
        return (
            difference.kind == self.kind and re.search(self.pattern, difference.detail) is not None
        )


ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        "unhold-race",
        r".",
        "After uuid_hold off, FreeSWITCH's media thread sets call state ACTIVE either before or "
        "after CHANNEL_UNHOLD (sip-plain has ACTIVE first twice, sip-json once each way); the "
        "simulator always sends CHANNEL_CALLSTATE UNHELD, CHANNEL_CALLSTATE ACTIVE, "
        "CHANNEL_UNHOLD.",
    ),
    Allowed(
        "outbound-park-race",
        r".",
        "The socket application parks the channel as soon as the service says connect; whether "
        "that CHANNEL_PARK reaches the service depends on whether FreeSWITCH has processed its "
        "myevents yet (the plain capture got it, the json capture did not). The simulator parks "
        "after the service's next command, so the service always sees CHANNEL_PARK.",
    ),
    Allowed(
        "timer-events",
        r".",
        "HEARTBEAT and RE_SCHEDULE fire on FreeSWITCH's 20 s timer, wherever it falls; the "
        "simulator fires them on its own (compressed) timer, so their count per scenario differs.",
    ),
)
"""Differences the simulator makes on purpose (also listed in sim/README.md)."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the simulator's output differs from FreeSWITCH's."""

    scenario: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.scenario}] {self.kind}: {self.detail}"


@dataclass(slots=True)
class Report:
    """Everything a replay found; ``unexplained`` must be empty."""

    folder: str
    differences: list[Difference] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Difference]:
        """Return the differences no ALLOWED entry covers."""
        return [d for d in self.differences if not any(a.matches(d) for a in ALLOWED)]

    @property
    def explained(self) -> list[tuple[Difference, Allowed]]:
        """Return the allowed differences with the entry that covers each."""
        found = []
        for difference in self.differences:
            for allowed in ALLOWED:
                if allowed.matches(difference):
                    found.append((difference, allowed))
                    break
        return found


# ---- reading captures ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """A message of a capture with its time (seconds since the session started)."""

    direction: str
    data: bytes
    at: float


def load_steps(log_path: Path) -> list[Step]:
    """Cut a scenario's raw files by its log, keeping each message's time."""
    stem = log_path.name.removesuffix(".log")
    sources = {
        "SENT": (log_path.parent / f"{stem}.sent.raw").read_bytes(),
        "RECV": (log_path.parent / f"{stem}.recv.raw").read_bytes(),
    }
    offsets = {"SENT": 0, "RECV": 0}
    steps: list[Step] = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _BLOCK.match(line)
        if match is None:
            continue
        direction, at, size = match.group(1), float(match.group(3)), int(match.group(4))
        start = offsets[direction]
        offsets[direction] = start + size
        steps.append(Step(direction, sources[direction][start : start + size], at))
    return steps


def frames_of(data: bytes) -> list[Frame]:
    """Parse received bytes into frames."""
    return FrameParser().feed(data)


# ---- uuid matching -------------------------------------------------------------------------


class Labels:
    """Names each side's uuids by channel name and order (``loopback/7100-b#0``), jobs by order."""

    def __init__(self) -> None:
        self.label: dict[str, str] = {}
        self.by_label: dict[str, str] = {}
        self.counts: Counter[str] = Counter()

    def learn_frame(self, frame: Frame) -> None:
        """Learn the uuids a received frame introduces."""
        content_type = frame.content_type
        if content_type == "command/reply":
            job = frame.get("Job-UUID")
            if job:
                self._add(job, "job")
            unique = frame.get("Unique-ID")
            if unique:
                self._add(unique, frame.get("Channel-Name") or "channel")
            return
        if content_type.startswith("text/event"):
            event = event_from_frame(frame)
            self.learn_event(event)

    def learn_event(self, event: EslEvent) -> None:
        """Learn an event's channel uuid."""
        unique = event.unique_id
        if unique and event.name not in {"CUSTOM"}:
            self._add(unique, event.get("Channel-Name") or "channel")

    def _add(self, uuid: str, kind: str) -> None:
        if uuid in self.label:
            return
        label = f"{kind}#{self.counts[kind]}"
        self.counts[kind] += 1
        self.label[uuid] = label
        self.by_label[label] = uuid

    def normalize(self, text: str) -> str:
        """Replace known uuids by their labels."""
        return UUID.sub(lambda m: f"<{self.label.get(m.group(0), m.group(0))}>", text)


# ---- what one side said in one scenario ----------------------------------------------------


@dataclass(slots=True)
class Observed:
    """One side's messages for one scenario, sorted for comparison."""

    replies: list[str] = field(default_factory=list)
    channels: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    jobs: list[str] = field(default_factory=list)
    other_events: Counter[str] = field(default_factory=Counter)
    headers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, frame: Frame, labels: Labels) -> None:
        """Account for one received frame."""
        content_type = frame.content_type
        if content_type.startswith("text/event"):
            event = event_from_frame(frame)
            self.add_event(event, labels)
            return
        if content_type == "command/reply" and frame.get("Event-Name") == "CHANNEL_DATA":
            event = EslEvent(frame.headers)
            self.add_event(event, labels, name="CHANNEL_DATA(reply)")
            self.replies.append(
                "command/reply CHANNEL_DATA " + labels.normalize(frame.get("Reply-Text") or "")
            )
            return
        text = frame.get("Reply-Text") or frame.body.decode("utf-8", errors="replace")
        if content_type == "text/disconnect-notice":
            text = f"{frame.get('Content-Disposition') or ''} {text}".strip()
        self.replies.append(f"{content_type} {normalize_reply(labels.normalize(text))}")

    def add_event(self, event: EslEvent, labels: Labels, *, name: str | None = None) -> None:
        """Account for one event."""
        key = name or event.key
        self.headers[key].update(k for k, _ in event.headers)
        if event.name in TIMER_EVENTS:
            self.other_events[event.name] += 1
            return
        if event.name == "BACKGROUND_JOB":
            self.jobs.append(normalize_reply(labels.normalize(event.body)))
            return
        unique = event.unique_id
        if unique and event.name != "CUSTOM":
            self.channels[labels.label.get(unique, unique)].append(event.name)
        elif unique:
            self.channels[labels.label.get(unique, unique)].append(key)
        else:
            self.other_events[event.name] += 1


def normalize_reply(text: str) -> str:
    """Hide what legitimately differs run to run: uptime, counts, cpu, timestamps."""
    if text.startswith("UP "):
        return re.sub(r"\d+(\.\d+)?", "#", text)
    return text


# ---- the replay ----------------------------------------------------------------------------


class Receiver:
    """Reads a socket into timestamped frames and labels the uuids it sees."""

    def __init__(self, reader: asyncio.StreamReader, labels: Labels) -> None:
        self.reader = reader
        self.labels = labels
        self.frames: list[tuple[float, Frame]] = []
        self.parser = FrameParser()
        self.closed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                now = time.monotonic()
                for frame in self.parser.feed(data):
                    self.labels.learn_frame(frame)
                    self.frames.append((now, frame))
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()

    def since(self, start: float, end: float | None = None) -> list[Frame]:
        """Return the frames received in [start, end)."""
        return [f for t, f in self.frames if t >= start and (end is None or t < end)]


async def _send_when_known(
    writer: asyncio.StreamWriter, data: bytes, ref: Labels, sim: Labels, patience: float
) -> None:
    """Send a captured command with FreeSWITCH's uuids swapped for the simulator's."""
    deadline = time.monotonic() + patience
    text = data.decode("utf-8", errors="replace")
    while True:
        missing = [
            u
            for u in UUID.findall(text)
            if u in ref.label
            and not ref.label[u].startswith("job#")
            and ref.label[u] not in sim.by_label
        ]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.005)

    def swap(match: re.Match[str]) -> str:
        label = ref.label.get(match.group(0))
        return sim.by_label.get(label, match.group(0)) if label else match.group(0)

    swapped = UUID.sub(swap, text)
    writer.write(_fix_content_length(swapped).encode("utf-8"))
    await writer.drain()


def _fix_content_length(text: str) -> str:
    """Bodies never contain uuids in the captures, so lengths stay valid; keep as is."""
    return text


async def replay_inbound(folder: Path, *, compression: float = 10.0) -> Report:
    """Replay one inbound capture folder (a whole session) and compare it scenario by scenario."""
    logs = scenario_logs(folder)
    scenarios = [(log.name.removesuffix(".log"), load_steps(log)) for log in logs]
    ref_labels = Labels()
    for _, steps in scenarios:
        for step in steps:
            if step.direction == "RECV":
                for frame in frames_of(step.data):
                    ref_labels.learn_frame(frame)
    report = Report(folder.name)
    async with Simulator(SimConfig(esl_port=0, time_compression=compression)) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.esl_port)
        sim_labels = Labels()
        receiver = Receiver(reader, sim_labels)
        origin = time.monotonic()
        boundaries: list[float] = []
        for _name, steps in scenarios:
            sent = [s for s in steps if s.direction == "SENT"]
            first = sent[0].at if sent else 0.0
            await _sleep_until(origin + first / compression)
            boundaries.append(time.monotonic())
            for step in sent:
                await _sleep_until(origin + step.at / compression)
                await _send_when_known(writer, step.data, ref_labels, sim_labels, 2.0)
        await asyncio.wait_for(receiver.closed.wait(), 10.0)
        writer.close()
        boundaries.append(time.monotonic() + 1.0)
        for index, (name, steps) in enumerate(scenarios):
            report.scenarios.append(name)
            start = boundaries[index] if index else 0.0
            got = receiver.since(start, boundaries[index + 1])
            expected = [f for s in steps if s.direction == "RECV" for f in frames_of(s.data)]
            compare(name, expected, got, ref_labels, sim_labels, report)
    return report


async def replay_outbound(fmt: str, *, compression: float = 1.0) -> Report:
    """Replay the outbound-socket capture (and its inbound trigger) for ``plain`` or ``json``."""
    root = transcripts_root() / "outbound"
    out_log = next(iter(scenario_logs(root / fmt)))
    trig_log = next(iter(scenario_logs(root / f"{fmt}-trigger")))
    out_steps = load_steps(out_log)
    trig_steps = load_steps(trig_log)
    ref_out, ref_trig = Labels(), Labels()
    for steps, labels in ((out_steps, ref_out), (trig_steps, ref_trig)):
        for step in steps:
            if step.direction == "RECV":
                for frame in frames_of(step.data):
                    labels.learn_frame(frame)
    report = Report(f"outbound/{fmt}")
    sim_out, sim_trig = Labels(), Labels()
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dialplan = default_dialplan(socket_address=f"127.0.0.1:{port}")
    try:
        async with Simulator(
            SimConfig(esl_port=0, time_compression=compression), dialplan=dialplan
        ) as sim:
            t_reader, t_writer = await asyncio.open_connection("127.0.0.1", sim.esl_port)
            trigger = Receiver(t_reader, sim_trig)
            origin = time.monotonic()
            trig_sent = [s for s in trig_steps if s.direction == "SENT"]
            for step in trig_sent:
                await _sleep_until(origin + step.at / compression)
                await _send_when_known(t_writer, step.data, ref_trig, sim_trig, 2.0)
            o_reader, o_writer = await asyncio.wait_for(accepted.get(), 5.0)
            outbound = Receiver(o_reader, sim_out)
            o_origin = time.monotonic()
            for step in (s for s in out_steps if s.direction == "SENT"):
                await _sleep_until(o_origin + step.at / compression)
                await _send_when_known(o_writer, step.data, ref_out, sim_out, 2.0)
            await _wait_for_disconnect(outbound, 5.0)
            await asyncio.sleep(0.2)
            t_writer.write(b"exit\n\n")
            await asyncio.wait_for(trigger.closed.wait(), 5.0)
            o_writer.close()
            t_writer.close()
            await asyncio.sleep(0.05)
        expected_out = [f for s in out_steps if s.direction == "RECV" for f in frames_of(s.data)]
        expected_trig = [f for s in trig_steps if s.direction == "RECV" for f in frames_of(s.data)]
        got_trig = list(trigger.since(0.0))
        # the capture of the trigger stops before its exit: drop our exit's reply and notice
        got_trig = [
            f
            for f in got_trig
            if f.get("Reply-Text") != "+OK bye" and f.content_type != "text/disconnect-notice"
        ]
        compare(
            out_log.name.removesuffix(".log"),
            expected_out,
            outbound.since(0.0),
            ref_out,
            sim_out,
            report,
        )
        compare(
            trig_log.name.removesuffix(".log"), expected_trig, got_trig, ref_trig, sim_trig, report
        )
        report.scenarios.extend([out_log.name, trig_log.name])
    finally:
        server.close()
    return report


async def _wait_for_disconnect(receiver: Receiver, patience: float) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if any(f.content_type == "text/disconnect-notice" for _, f in receiver.frames):
            return
        await asyncio.sleep(0.01)


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


# ---- comparison ----------------------------------------------------------------------------


def compare(
    scenario: str,
    expected: list[Frame],
    got: list[Frame],
    ref_labels: Labels,
    sim_labels: Labels,
    report: Report,
) -> None:
    """Compare one scenario's frames and add every difference to the report."""
    want, have = Observed(), Observed()
    for frame in expected:
        want.add(frame, ref_labels)
    for frame in got:
        have.add(frame, sim_labels)

    def diff(kind: str, detail: str) -> None:
        report.differences.append(Difference(scenario, kind, detail))

    races: set[str] = set()
    if want.replies != have.replies:
        diff("replies", f"FreeSWITCH {want.replies!r} simulator {have.replies!r}")
    if want.jobs != have.jobs:
        diff("background-jobs", f"FreeSWITCH {want.jobs!r} simulator {have.jobs!r}")
    for channel in sorted(set(want.channels) | set(have.channels)):
        expected_names = want.channels.get(channel, [])
        got_names = have.channels.get(channel, [])
        if expected_names != got_names:
            kind = "channel-events"
            if _unhold_canonical(expected_names) == _unhold_canonical(got_names):
                kind = "unhold-race"
            elif _park_canonical(expected_names) == _park_canonical(got_names):
                kind = "outbound-park-race"
                races.add("CHANNEL_PARK")
            diff(
                kind,
                f"{channel}: FreeSWITCH {want.channels.get(channel, [])} "
                f"simulator {have.channels.get(channel, [])}",
            )
    for name in sorted(set(want.other_events) | set(have.other_events)):
        if want.other_events[name] != have.other_events[name]:
            kind = "timer-events" if name in TIMER_EVENTS else "event-count"
            diff(
                kind,
                f"{name}: FreeSWITCH {want.other_events[name]} simulator {have.other_events[name]}",
            )
    for key in sorted(set(want.headers) | set(have.headers)):
        if key in TIMER_EVENTS and (key not in want.headers or key not in have.headers):
            continue
        missing = sorted(want.headers.get(key, set()) - have.headers.get(key, set()))
        extra = sorted(have.headers.get(key, set()) - want.headers.get(key, set()))
        if key not in have.headers or key not in want.headers:
            kind = "outbound-park-race" if key in races else "event-types"
            diff(kind, f"{key}: only in {'FreeSWITCH' if key in want.headers else 'simulator'}")
            continue
        for name in missing:
            diff("header-missing", f"{key}: {name}")
        for name in extra:
            diff("header-extra", f"{key}: {name}")


def _park_canonical(names: list[str]) -> list[str]:
    """Drop a CHANNEL_PARK that directly follows the outbound socket's CHANNEL_DATA."""
    if names[:2] == ["CHANNEL_DATA", "CHANNEL_PARK"]:
        return [names[0], *names[2:]]
    return names


def _unhold_canonical(names: list[str]) -> list[str]:
    """Put ACTIVE's CHANNEL_CALLSTATE before CHANNEL_UNHOLD (FreeSWITCH races on this)."""
    out = list(names)
    for index in range(len(out) - 2):
        if out[index : index + 3] == ["CHANNEL_CALLSTATE", "CHANNEL_UNHOLD", "CHANNEL_CALLSTATE"]:
            out[index + 1], out[index + 2] = out[index + 2], out[index + 1]
    return out


# ---- command line --------------------------------------------------------------------------


async def _main(folders: Iterable[str], compression: float) -> int:
    failed = 0
    for folder in folders:
        if folder.startswith("outbound"):
            fmt = folder.split("/", 1)[1] if "/" in folder else "plain"
            report = await replay_outbound(fmt, compression=min(compression, 2.0))
        else:
            report = await replay_inbound(transcripts_root() / folder, compression=compression)
        unexplained, allowed = len(report.unexplained), len(report.explained)
        print(f"== {report.folder}: {unexplained} unexplained, {allowed} allowed")
        for difference in report.unexplained:
            print("  ", difference)
        failed += bool(report.unexplained)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m cc_sim.fidelity [folder ...] [--compression N]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    compression = 10.0
    if "--compression" in args:
        index = args.index("--compression")
        compression = float(args[index + 1])
        del args[index : index + 2]
    folders = args or [*INBOUND_FOLDERS, "outbound/plain", "outbound/json"]
    return asyncio.run(_main(folders, compression))


if __name__ == "__main__":
    raise SystemExit(main())

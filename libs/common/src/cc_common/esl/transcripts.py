"""Read the golden captures of a real FreeSWITCH (testdata/esl-transcripts) for tests and benches.

Each scenario has ``NN_name.recv.raw`` / ``.sent.raw`` (exact bytes) and ``NN_name.log``, which
lists every message in the order it crossed the wire with its size. Cutting the raw files by
those sizes gives the conversation as steps: what was sent, and what came back after it.
Summaries (``summaries/*.sequence.txt``) list one line per received message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "CC_ESL_TRANSCRIPTS"
INBOUND_FOLDERS = ("loopback-plain", "loopback-json", "sip-plain", "sip-json")
_BLOCK = re.compile(r"^===== (SENT|RECV)(?: (\S+))? t=\+[0-9.]+s \((\d+) bytes\) =====$")
_SUMMARY_FILE = re.compile(r"^== (\S+): (\d+) messages, (\d+) trailing bytes$")


def transcripts_root() -> Path:
    """Find the captures: ``$CC_ESL_TRANSCRIPTS``, else ``testdata/esl-transcripts`` in the repo."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for parent in (start, *start.parents):
            candidate = parent / "testdata" / "esl-transcripts"
            if candidate.is_dir():
                return candidate
    raise FileNotFoundError(f"no esl-transcripts found; set {ENV_VAR}")


@dataclass(frozen=True, slots=True)
class Step:
    """One message of a capture: ``sent`` by the client, or received with its content type."""

    direction: str
    data: bytes
    content_type: str = ""


@dataclass(slots=True)
class Scenario:
    """One capture file pair, cut into the messages that crossed the wire, in order."""

    name: str
    steps: list[Step] = field(default_factory=list)

    @property
    def sent(self) -> list[bytes]:
        """Return the commands the client sent."""
        return [step.data for step in self.steps if step.direction == "SENT"]

    @property
    def received(self) -> list[bytes]:
        """Return the messages FreeSWITCH sent."""
        return [step.data for step in self.steps if step.direction == "RECV"]


def load_scenario(log_path: Path) -> Scenario:
    """Cut a scenario's raw files by the sizes its log lists."""
    stem = log_path.name.removesuffix(".log")
    recv = (log_path.parent / f"{stem}.recv.raw").read_bytes()
    sent = (log_path.parent / f"{stem}.sent.raw").read_bytes()
    offsets = {"SENT": 0, "RECV": 0}
    sources = {"SENT": sent, "RECV": recv}
    scenario = Scenario(stem)
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _BLOCK.match(line)
        if not match:
            continue
        direction, content_type, size = match.group(1), match.group(2) or "", int(match.group(3))
        start = offsets[direction]
        offsets[direction] = start + size
        scenario.steps.append(
            Step(direction, sources[direction][start : start + size], content_type)
        )
    if offsets["SENT"] != len(sent) or offsets["RECV"] != len(recv):
        raise ValueError(f"{log_path}: log sizes do not add up to the raw files")
    return scenario


def scenario_logs(folder: Path) -> list[Path]:
    """Return a folder's scenario logs in numeric order."""
    return sorted(folder.glob("[0-9][0-9]*.log"))


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """One received message as a summary lists it: ``EV <name>`` or a content type, then details."""

    kind: str
    detail: str

    @property
    def is_event(self) -> bool:
        """Return True for event lines."""
        return self.kind == "EV"

    @property
    def event_name(self) -> str:
        """Return the event name of an event line."""
        return self.detail.split(" ", 1)[0]

    def field(self, name: str) -> str | None:
        """Return ``name=value`` from an event line (``uuid``, ``Event-Subclass`` ...)."""
        match = re.search(rf"(?:^| ){re.escape(name)}=(\S*)", self.detail)
        return match.group(1) if match else None


def load_summary(path: Path) -> dict[str, list[SummaryLine]]:
    """Parse a ``*.sequence.txt``: capture file (relative path) -> its messages in order."""
    files: dict[str, list[SummaryLine]] = {}
    current: list[SummaryLine] | None = None
    declared: dict[str, int] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        header = _SUMMARY_FILE.match(raw)
        if header:
            current = files.setdefault(header.group(1), [])
            declared[header.group(1)] = int(header.group(2))
            continue
        if current is None or not raw.startswith("  "):
            continue
        kind, _, detail = raw[2:].partition(" ")
        current.append(SummaryLine(kind, detail))
    for name, count in declared.items():
        if len(files[name]) != count:
            raise ValueError(f"{path}: {name} declares {count} messages, lists {len(files[name])}")
    return files

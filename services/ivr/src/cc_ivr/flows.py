"""Flows from YAML files: the sample set ships with the service, operators keep theirs in git.

A flow directory holds one flow per file (``*.yaml``, ``*.yml``); each file is read and validated
on its own, so a bad file is reported (file, line, node and field) and the good ones still load.
Besides the flow itself a file may list the dialled ``numbers`` bound to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cc_ivr.adapters.store import FlowStore
from cc_ivr.core import Flow, FlowError, InvalidFlow, parse_flow

SAMPLES = Path(__file__).parent / "samples"
FLOW_FILE_SUFFIXES = (".yaml", ".yml")
NUMBERS_KEY = "numbers"
DIALLED_NUMBER = re.compile(r"^\+?\d{3,15}$")  # what the contact-center dialplan sends to the IVR


def read_document(text: str) -> dict[str, Any]:
    """Parse one YAML (or JSON) flow document into a plain mapping, or raise InvalidFlow."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidFlow([FlowError(None, "document", f"not YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise InvalidFlow([FlowError(None, "document", "a flow is a mapping at the top level")])
    return document


def load_flow(path: Path) -> Flow:
    """Load and validate one flow file."""
    return parse_flow(read_document(path.read_text()))


def sample_documents() -> dict[str, dict[str, Any]]:
    """Return the sample flows as documents, by name."""
    return {p.stem: read_document(p.read_text()) for p in sorted(SAMPLES.glob("*.yaml"))}


# --- a directory of flow files ------------------------------------------------------------------


@dataclass(frozen=True)
class FileError:
    """One problem in one flow file: where (file, line, node, field) and what."""

    path: Path
    line: int | None
    node: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        node = f" node {self.node!r}" if self.node else ""
        return f"{where}:{node} {self.field}: {self.message}"


@dataclass(frozen=True)
class FlowFile:
    """A valid flow read from a file, and the dialled numbers the file binds to it."""

    path: Path
    flow: Flow
    numbers: tuple[str, ...] = ()


@dataclass
class FlowDirectory:
    """What a directory held: the flows that loaded, and every problem of the files that did not."""

    flows: list[FlowFile] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)

    @property
    def rejected(self) -> list[Path]:
        """The files that did not load, each once."""
        return sorted({e.path for e in self.errors})


class FlowFileError(ValueError):
    """A flow file that cannot be loaded; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FileError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def load_flow_dir(directory: Path, *, known_queues: Iterable[str] | None = None) -> FlowDirectory:
    """Read every flow file of ``directory`` (in name order); one bad file stops no other."""
    found = FlowDirectory()
    if not directory.is_dir():
        found.errors.append(FileError(directory, None, None, "directory", "not a directory"))
        return found
    queues = None if known_queues is None else list(known_queues)
    files = sorted(p for p in directory.iterdir() if p.suffix in FLOW_FILE_SUFFIXES)
    seen: dict[str, Path] = {}
    for path in files:
        try:
            loaded = read_flow_file(path, known_queues=queues)
        except FlowFileError as exc:
            found.errors += exc.errors
            continue
        first = seen.setdefault(loaded.flow.name, path)
        if first != path:
            message = f"flow {loaded.flow.name!r} is already defined in {first.name}"
            found.errors.append(FileError(path, _line(path, None, "name"), None, "name", message))
            continue
        found.flows.append(loaded)
    return found


async def install_flow_dir(store: FlowStore, directory: Path) -> FlowDirectory:
    """Load ``directory`` and make each valid flow live (a new version only where it changed),
    with its numbers; the files that failed are left out and returned in ``errors``."""
    found = load_flow_dir(directory, known_queues=store.known_queues)
    for item in found.flows:
        await store.publish(item.flow, item.numbers)
    return found


def read_flow_file(path: Path, *, known_queues: Iterable[str] | None = None) -> FlowFile:
    """Read and validate one flow file; raise FlowFileError naming file, line, node and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowFileError([FileError(path, None, None, "file", str(exc))]) from None
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        document = yaml.safe_load(text) if len(documents) == 1 else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise FlowFileError([FileError(path, line, None, "document", f"not YAML: {exc}")]) from None
    if len(documents) != 1:
        message = f"one flow per file; this file holds {len(documents)} documents"
        raise FlowFileError([FileError(path, None, None, "document", message)])
    root = documents[0]
    if not isinstance(document, dict):
        message = "a flow is a mapping at the top level"
        raise FlowFileError([FileError(path, _start(root), None, "document", message)])
    numbers, errors = _numbers(document.pop(NUMBERS_KEY, []))
    try:
        flow = parse_flow(document, known_queues=known_queues)
    except InvalidFlow as exc:
        errors = [*exc.errors, *errors]
    if errors:
        raise FlowFileError([_located(path, root, e) for e in errors])
    return FlowFile(path, flow, numbers)


def _numbers(value: Any) -> tuple[tuple[str, ...], list[FlowError]]:
    """The file's dialled numbers, or the problems with them."""
    items = value if isinstance(value, list) else [value]
    numbers = tuple(str(n) for n in items)
    bad = [n for n in numbers if not DIALLED_NUMBER.match(n)]
    if not isinstance(value, list) or bad:
        message = f"a list of dialled numbers (3 to 15 digits, optional +); not {bad or value!r}"
        return (), [FlowError(None, NUMBERS_KEY, message)]
    return numbers, []


def _located(path: Path, root: yaml.Node, error: FlowError) -> FileError:
    line = _line_in(root, error.node, error.field)
    return FileError(path, line, error.node, error.field, error.message)


def _line(path: Path, node: str | None, field: str) -> int | None:
    try:
        return _line_in(yaml.compose(path.read_text(encoding="utf-8")), node, field)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _line_in(root: yaml.Node | None, node: str | None, field: str) -> int | None:
    """The 1-based line of ``nodes.<node>.<field>`` (or ``<field>``), or of the nearest part of
    that path the file has (a missing field is reported where its node starts)."""
    if root is None:
        return None
    path = (["nodes", node] if node else []) + [p for p in field.split(".") if p]
    here: yaml.Node = root
    line = _start(root)
    for part in path:
        child = _child(here, part)
        if child is None:
            break
        key, here = child
        line = _start(key)
    return line


def _child(parent: yaml.Node, part: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(parent, yaml.MappingNode):
        for key, value in parent.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key, value
    if isinstance(parent, yaml.SequenceNode) and part.isdigit() and int(part) < len(parent.value):
        item = parent.value[int(part)]
        return item, item
    return None


def _start(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None

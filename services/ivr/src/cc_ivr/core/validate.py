"""Validation before activation: a call must never meet a flow that cannot finish.

Rules: the start node exists; every branch names a node that exists; every node is reachable
from the start; from every node some path reaches a node where the caller leaves the IVR (no
dead ends, no closed loops); prompts, languages and queues that nodes name exist; patterns, time
zones and time ranges parse. Each error names the node and the field.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cc_ivr.core.flow import (
    SUPPORTED_LANGUAGES,
    TERMINAL_TYPES,
    CallbackNode,
    CollectNode,
    CrmNode,
    Flow,
    HoursNode,
    LanguageNode,
    QueueNode,
    SpeakNode,
)


@dataclass(frozen=True, slots=True)
class FlowError:
    """One problem in a flow: where (node, field) and what."""

    node: str | None
    field: str
    message: str

    def as_dict(self) -> dict[str, str | None]:
        """Return the error as the API's ``errors`` item."""
        return {"node": self.node, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"node {self.node!r} " if self.node else ""
        return f"{where}{self.field}: {self.message}"


class InvalidFlow(ValueError):
    """A flow that failed validation; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FlowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def parse_flow(document: Mapping[str, Any], *, known_queues: Iterable[str] | None = None) -> Flow:
    """Parse and validate a flow document, or raise InvalidFlow naming every problem."""
    try:
        flow = Flow.model_validate(document)
    except ValidationError as exc:
        raise InvalidFlow([_shape_error(err) for err in exc.errors()]) from None
    errors = validate(flow, known_queues=known_queues)
    if errors:
        raise InvalidFlow(errors)
    return flow


def _shape_error(err: Any) -> FlowError:
    loc = [str(part) for part in err["loc"]]
    if len(loc) >= 2 and loc[0] == "nodes":
        # loc is ("nodes", <id>, <type tag>, <field>...) inside the discriminated union
        rest = loc[3:] if len(loc) > 3 else loc[2:]
        rest = [part for part in rest if part != "[key]"]
        return FlowError(loc[1], ".".join(rest) or "type", err["msg"])
    return FlowError(None, ".".join(p for p in loc if p != "[key]") or "flow", err["msg"])


def validate(flow: Flow, *, known_queues: Iterable[str] | None = None) -> list[FlowError]:
    """Return every graph and reference problem of a parsed flow (empty when it may go live)."""
    errors: list[FlowError] = []
    errors += _languages(flow)
    errors += _references(flow)
    errors += _survey(flow)
    if flow.start not in flow.nodes:
        errors.append(FlowError(None, "start", f"no node {flow.start!r}"))
        return errors
    errors += _reachability(flow)
    errors += _dead_ends(flow)
    for node_id, node in flow.nodes.items():
        errors += _node_rules(flow, node_id, node)
    if known_queues is not None:
        errors += _queues(flow, set(known_queues))
    return errors


def _languages(flow: Flow) -> list[FlowError]:
    errors = [
        FlowError(None, f"languages.{i}", f"{lang!r} is not supported {SUPPORTED_LANGUAGES}")
        for i, lang in enumerate(flow.languages)
        if lang not in SUPPORTED_LANGUAGES
    ]
    if flow.default_language not in flow.languages:
        errors.append(
            FlowError(None, "default_language", f"{flow.default_language!r} is not in languages")
        )
    for name, files in sorted(flow.prompts.items()):
        for lang in flow.languages:
            if lang not in files:
                errors.append(FlowError(None, f"prompts.{name}", f"no file for language {lang!r}"))
    return errors


def _references(flow: Flow) -> list[FlowError]:
    errors = []
    for node_id, node in flow.nodes.items():
        for field, target in node.targets().items():
            if target not in flow.nodes:
                errors.append(FlowError(node_id, field, f"leads to {target!r}, which is no node"))
        for field, prompt in _prompts_of(node):
            if prompt not in flow.prompts:
                errors.append(FlowError(node_id, field, f"prompt {prompt!r} is not defined"))
    return errors


def _survey(flow: Flow) -> list[FlowError]:
    if flow.survey is None:
        return []
    fields = ("csat_prompt", "nps_prompt", "fcr_prompt", "thanks_prompt", "invalid_prompt")
    return [
        FlowError(None, f"survey.{field}", f"prompt {name!r} is not defined")
        for field in fields
        if (name := getattr(flow.survey, field)) is not None and name not in flow.prompts
    ]


def _prompts_of(node: object) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for field in ("prompt", "invalid_prompt"):
        value = getattr(node, field, None)
        if isinstance(value, str):
            found.append((field, value))
    for i, name in enumerate(getattr(node, "prompts", None) or []):
        found.append((f"prompts.{i}", name))
    return found


def _reachability(flow: Flow) -> list[FlowError]:
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        node = flow.nodes.get(todo.pop())
        for target in node.targets().values() if node else ():
            if target in flow.nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    return [
        FlowError(node_id, "type", "unreachable from the start node")
        for node_id in flow.nodes
        if node_id not in seen
    ]


def _dead_ends(flow: Flow) -> list[FlowError]:
    """Every node must have a path to a node where the caller leaves the IVR."""
    leaves = {node_id for node_id, node in flow.nodes.items() if node.type in TERMINAL_TYPES}
    reverse: dict[str, set[str]] = {node_id: set() for node_id in flow.nodes}
    for node_id, node in flow.nodes.items():
        for target in node.targets().values():
            if target in reverse:
                reverse[target].add(node_id)
    can_leave = set(leaves)
    todo = list(leaves)
    while todo:
        for source in reverse[todo.pop()]:
            if source not in can_leave:
                can_leave.add(source)
                todo.append(source)
    return [
        FlowError(
            node_id, "next", "dead end: no path from here reaches a queue, transfer or hangup"
        )
        for node_id in flow.nodes
        if node_id not in can_leave
    ]


def _node_rules(flow: Flow, node_id: str, node: object) -> list[FlowError]:
    errors: list[FlowError] = []
    if isinstance(node, CollectNode):
        if node.min_digits > node.max_digits:
            errors.append(FlowError(node_id, "min_digits", "greater than max_digits"))
        if node.pattern is not None:
            try:
                re.compile(node.pattern)
            except re.error as exc:
                errors.append(FlowError(node_id, "pattern", f"not a regular expression: {exc}"))
    if isinstance(node, HoursNode):
        try:
            zoneinfo.ZoneInfo(node.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors.append(FlowError(node_id, "timezone", f"unknown time zone {node.timezone!r}"))
        for day, ranges in node.open.items():
            for i, span in enumerate(ranges):
                start, end = span.split("-")
                if start >= end:
                    errors.append(FlowError(node_id, f"open.{day}.{i}", "ends before it starts"))
    if isinstance(node, LanguageNode):
        for key, lang in sorted(node.choices.items()):
            if lang not in flow.languages:
                errors.append(
                    FlowError(node_id, f"choices.{key}", f"{lang!r} is not one of the languages")
                )
    if isinstance(node, SpeakNode):
        for lang in flow.languages:
            if lang not in node.text:
                errors.append(FlowError(node_id, "text", f"no text for language {lang!r}"))
    if isinstance(node, CrmNode) and node.lookup == "variable" and node.variable is None:
        errors.append(FlowError(node_id, "variable", "a lookup by variable names the variable"))
    return errors


def _queues(flow: Flow, known: set[str]) -> list[FlowError]:
    return [
        FlowError(node_id, "queue", f"queue {node.queue!r} does not exist")
        for node_id, node in flow.nodes.items()
        if isinstance(node, QueueNode | CallbackNode) and node.queue not in known
    ]

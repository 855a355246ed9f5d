"""One call's walk through a flow, without I/O: the runner asks, this answers what to do next.

``FlowRun.start(now)`` returns the first command; the runner carries it out on the channel and
hands the result to ``resume(result, now)``, which returns the next one, until a
:class:`Finish`. Nodes that need no channel (set, hours, jumps) are passed through at once. The
walk records the path, the menu choices and the time spent, for ``call.ivr_completed``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cc_ivr.core.flow import (
    SKILL,
    WEEKDAYS,
    CallbackNode,
    CollectNode,
    CrmNode,
    Flow,
    HangupNode,
    HoursNode,
    LanguageNode,
    MenuNode,
    PlayNode,
    QueueNode,
    SayNode,
    SetNode,
    SpeakNode,
    TransferNode,
    VoicemailNode,
)

MAX_PASS_THROUGH = 200
"""Nodes passed without asking the channel before the walk is stopped (a validated flow never)."""

Outcome = Literal[
    "queued", "self_served", "transferred", "voicemail", "callback", "ended", "abandoned"
]
LookupStatus = Literal["found", "not_found", "timeout", "error", "circuit_open"]
_SKILL = re.compile(SKILL)
_CUSTOMER = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
"""Values from the CRM reach FreeSWITCH only when they fit these patterns."""
_TEMPLATE = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")
_SAY_VALUE = {
    "number": re.compile(r"^-?\d{1,12}$"),
    "digits": re.compile(r"^\d{1,32}$"),
    "money": re.compile(r"^-?\d{1,12}(\.\d{1,2})?$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}


# --- what the runner is asked to do -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayFiles:
    """Play sound files in order."""

    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SayValue:
    """``say <language> <kind> <value>`` with FreeSWITCH's say module."""

    language: str
    kind: Literal["number", "digits", "money", "date"]
    value: str


@dataclass(frozen=True, slots=True)
class SpeakText:
    """Text to speech in the call's language."""

    language: str
    text: str


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Play prompts and collect DTMF; the result is the digits ('' for none)."""

    files: tuple[str, ...]
    min_digits: int
    max_digits: int
    timeout_ms: int
    terminators: str
    sensitive: bool = False
    """Card data and the like: the runner pauses the call's recording around the collection,
    and answers :class:`InputRefused` instead of collecting when it cannot."""


@dataclass(frozen=True, slots=True)
class InputRefused:
    """The result of a sensitive collection that was not made (the recording stayed unpaused)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """Record the caller after a prompt; the result is ignored."""

    files: tuple[str, ...]
    max_seconds: int


@dataclass(frozen=True, slots=True)
class LookupCustomer:
    """Ask the CRM about a caller number or an account; the result is a :class:`LookupResult`."""

    by: Literal["caller", "account"]
    key: str
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What the CRM answered (fields only when found)."""

    status: LookupStatus
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finish:
    """The caller leaves the IVR: channel variables to set, then park, transfer or hang up."""

    outcome: Outcome
    variables: Mapping[str, str]
    queue: str | None = None
    transfer_to: tuple[str, str] | None = None
    hangup: bool = False
    callback_number: str | None = None


Command = PlayFiles | SayValue | SpeakText | CollectDigits | RecordMessage | LookupCustomer | Finish


# --- the walk ------------------------------------------------------------------------------


class FlowRun:
    """The state of one call in one flow version."""

    def __init__(
        self,
        flow: Flow,
        *,
        call_id: str,
        caller: str,
        dialed: str,
        started_at: dt.datetime,
        variables: Mapping[str, str] | None = None,
        survey_draw: float = 1.0,
    ) -> None:
        self.flow = flow
        self.survey_draw = survey_draw
        """A uniform draw in [0, 1): the call is sampled for the survey when below the rate."""
        self.call_id = call_id
        self.started_at = started_at
        self.language = flow.default_language
        self.variables: dict[str, str] = {"caller": caller, "dialed": dialed, **(variables or {})}
        self.path: list[str] = []
        self.choices: list[str] = []
        self.refused: list[str] = []
        """Sensitive collect nodes skipped because the recording could not be paused."""
        self.outcome: Outcome | None = None
        self.finished_at: dt.datetime | None = None
        self._tries = 0
        self._hint: Outcome | None = None
        self._resume: Callable[[object], Command] | None = None
        self._now = started_at

    # ----- public

    def start(self, now: dt.datetime) -> Command:
        """Return the first thing to do on the channel."""
        self._now = now
        return self._enter(self.flow.start)

    def resume(self, result: object, now: dt.datetime) -> Command:
        """Return the next command, given the result of the last one."""
        if self._resume is None:
            raise RuntimeError("the flow run has finished or not started")
        self._now = now
        step, self._resume = self._resume, None
        return step(result)

    def abandon(self, now: dt.datetime) -> None:
        """The caller hung up inside the IVR."""
        if self.outcome is None:
            self.outcome = "abandoned"
            self.finished_at = now

    @property
    def seconds(self) -> float:
        """Time in the IVR so far (or in all, once finished)."""
        end = self.finished_at or self._now
        return max(0.0, (end - self.started_at).total_seconds())

    # ----- nodes

    def _enter(self, node_id: str) -> Command:
        for _ in range(MAX_PASS_THROUGH):
            self.path.append(node_id)
            self._tries = 0
            node = self.flow.nodes[node_id]
            if isinstance(node, SetNode):
                for name, value in node.variables.items():
                    self._set(name, self.expand(value))
                node_id = node.next
            elif isinstance(node, HoursNode):
                node_id = _hours_branch(node, self._now)
            else:
                return self._ask(node)
        return self._finish("ended", hangup=True)

    def _ask(self, node: object) -> Command:
        if isinstance(node, PlayNode):
            return self._then(PlayFiles(self._files(node.prompts)), node.next)
        if isinstance(node, SayNode):
            value = self.expand(node.value)
            if not _SAY_VALUE[node.kind].match(value):
                return self._enter(node.next)  # nothing sayable (e.g. the CRM sent garbage)
            return self._then(SayValue(self.language, node.kind, value), node.next)
        if isinstance(node, SpeakNode):
            text = node.text.get(self.language) or node.text[self.flow.default_language]
            return self._then(SpeakText(self.language, self.expand(text)), node.next)
        if isinstance(node, MenuNode | CollectNode | LanguageNode):
            return self._collect(node, invalid=False)
        if isinstance(node, CrmNode):
            return self._lookup(node)
        if isinstance(node, VoicemailNode):
            self._hint = "voicemail"
            self.variables["voicemail"] = "true"
            command = RecordMessage(self._files([node.prompt]), node.max_seconds)
            return self._then(command, node.next)
        if isinstance(node, CallbackNode):
            self._hint = "callback"
            self.variables["callback_queue"] = node.queue
            return self._then(PlayFiles(self._files([node.prompt])), node.next)
        if isinstance(node, QueueNode):
            return self._queue(node)
        if isinstance(node, TransferNode):
            return self._finish("transferred", transfer_to=(node.destination, node.context))
        if isinstance(node, HangupNode):
            return self._hangup(node)
        raise TypeError(f"unknown node {node!r}")

    def _then(self, command: Command, next_node: str) -> Command:
        self._resume = lambda _result: self._enter(next_node)
        return command

    def _collect(self, node: MenuNode | CollectNode | LanguageNode, *, invalid: bool) -> Command:
        self._tries += 1
        files = [node.prompt]
        invalid_prompt = getattr(node, "invalid_prompt", None)
        if invalid and invalid_prompt:
            files.insert(0, invalid_prompt)
        if isinstance(node, CollectNode):
            terminators = "" if node.terminator == "none" else node.terminator
            command = CollectDigits(
                self._files(files),
                node.min_digits,
                node.max_digits,
                int(node.timeout_seconds * 1000),
                terminators,
                node.sensitive,
            )
        else:
            command = CollectDigits(self._files(files), 1, 1, int(node.timeout_seconds * 1000), "")
        self._resume = lambda result: self._collected_or_refused(node, result)
        return command

    def _collected_or_refused(
        self, node: MenuNode | CollectNode | LanguageNode, result: object
    ) -> Command:
        if isinstance(result, InputRefused) and isinstance(node, CollectNode):
            self.refused.append(self.path[-1])  # not retried: the recording would hear it
            return self._enter(node.on_failure)
        return self._collected(node, str(result or ""))

    def _collected(self, node: MenuNode | CollectNode | LanguageNode, digits: str) -> Command:
        retry = self._tries <= node.retries
        if isinstance(node, MenuNode):
            if digits in node.choices:
                self.choices.append(digits)
                return self._enter(node.choices[digits])
            if retry:
                return self._collect(node, invalid=bool(digits))
            return self._enter(node.on_invalid if digits else node.on_timeout)
        if isinstance(node, LanguageNode):
            if digits in node.choices:
                self.choices.append(digits)
                self.language = node.choices[digits]
                return self._enter(node.next)
            if retry:
                return self._collect(node, invalid=bool(digits))
            return self._enter(node.next)  # no choice: the flow's default language stays
        ok = node.min_digits <= len(digits) <= node.max_digits and (
            node.pattern is None or re.fullmatch(node.pattern, digits) is not None
        )
        if ok:
            self.variables[node.variable] = digits
            return self._enter(node.next)
        if retry:
            return self._collect(node, invalid=bool(digits))
        return self._enter(node.on_failure)

    def _lookup(self, node: CrmNode) -> Command:
        if node.lookup == "variable":
            key = self.variables.get(node.variable or "", "")
            command = LookupCustomer("account", key, node.timeout_seconds)
        else:
            command = LookupCustomer("caller", self.variables["caller"], node.timeout_seconds)
        self._resume = lambda result: self._looked_up(node, result)
        return command

    def _looked_up(self, node: CrmNode, result: object) -> Command:
        if not isinstance(result, LookupResult):
            result = LookupResult("error")
        if result.status != "found":
            return self._enter(getattr(node, f"on_{result.status}"))
        fields = result.fields
        for variable, name in node.assign.items():
            if name in fields:
                self._set(variable, fields[name])
        if "customer_id" in fields:
            self.variables["customer_id"] = fields["customer_id"]
        if fields.get("language") in self.flow.languages:
            self.language = fields["language"]
        if node.vip_priority is not None and fields.get("vip", "").lower() in ("true", "1", "yes"):
            self.variables["priority"] = str(node.vip_priority)
        return self._enter(node.on_found)

    def _queue(self, node: QueueNode) -> Command:
        priority = node.priority if node.priority is not None else self._int("priority", 0)
        if node.priority is not None and self._int("priority", 0) > node.priority:
            priority = self._int("priority", 0)  # a VIP set by the CRM keeps its priority
        extra = [s.strip() for s in self.variables.get("skills", "").split(",")]
        skills = list(node.skills) + [s for s in extra if _SKILL.match(s) and s not in node.skills]
        variables = {
            "cc_queue": node.queue,
            "cc_priority": str(priority),
            "cc_language": self.language,
        }
        if skills:
            variables["cc_skills"] = ",".join(skills)
        if _CUSTOMER.match(self.variables.get("customer_id", "")):
            variables["cc_customer_id"] = self.variables["customer_id"]
        survey = self.flow.survey
        if survey is not None and (
            self.variables.get("survey") == "true" or self.survey_draw < survey.sample_rate
        ):
            variables["cc_survey"] = "true"
        return self._finish("queued", queue=node.queue, variables=variables)

    def _hangup(self, node: HangupNode) -> Command:
        outcome: Outcome = self._hint or ("self_served" if node.self_served else "ended")
        finish = self._callback() if outcome == "callback" else self._finish(outcome, hangup=True)
        if node.prompt is None:
            return finish
        self._resume = lambda _result: finish
        return PlayFiles(self._files([node.prompt]))

    def _callback(self) -> Finish:
        """Park the caller in the queue with their number: routing turns the call into a
        callback that keeps its place (and ends the call)."""
        queue = self.variables["callback_queue"]
        variables = {
            "cc_queue": queue,
            "cc_priority": str(self._int("priority", 0)),
            "cc_language": self.language,
            "cc_callback_number": self.variables["caller"],
        }
        return self._finish(
            "callback", queue=queue, variables=variables, callback_number=self.variables["caller"]
        )

    def _finish(
        self,
        outcome: Outcome,
        *,
        queue: str | None = None,
        variables: Mapping[str, str] | None = None,
        transfer_to: tuple[str, str] | None = None,
        hangup: bool = False,
        callback_number: str | None = None,
    ) -> Finish:
        self.outcome = outcome
        self.finished_at = self._now
        return Finish(outcome, dict(variables or {}), queue, transfer_to, hangup, callback_number)

    # ----- helpers

    def expand(self, text: str) -> str:
        """Replace ``${name}`` with the call's variables ('' when unset)."""
        return _TEMPLATE.sub(lambda m: self.variables.get(m.group(1), ""), text)

    def _set(self, name: str, value: str) -> None:
        if name == "language":
            if value in self.flow.languages:
                self.language = value
            return
        self.variables[name] = value

    def _int(self, name: str, default: int) -> int:
        value = self.variables.get(name, "")
        return int(value) if value.isdigit() and int(value) <= 100 else default

    def _files(self, prompts: list[str]) -> tuple[str, ...]:
        return tuple(self.flow.prompt_file(name, self.language) for name in prompts)


def _hours_branch(node: HoursNode, now: dt.datetime) -> str:
    local = now.astimezone(zoneinfo.ZoneInfo(node.timezone))
    if local.date() in node.holidays:
        return node.on_holiday or node.when_closed
    clock = local.strftime("%H:%M")
    for span in node.open.get(WEEKDAYS[local.weekday()], []):
        start, end = span.split("-")
        if start <= clock < end:
            return node.when_open
    return node.when_closed

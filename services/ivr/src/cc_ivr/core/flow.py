"""IVR flows as data: a graph of nodes, each naming the nodes it leads to.

A flow is parsed from a plain document (YAML or JSON) into these frozen models; the shape is
checked here, the graph (reachability, dead ends, references) in :mod:`cc_ivr.core.validate`.
Every value that reaches FreeSWITCH (prompt paths, queue names, numbers, variable names) is held
to a narrow pattern, so no flow can smuggle a command into a dialplan application.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NODE_ID = r"^[a-z][a-z0-9_]{0,62}$"
VARIABLE = r"^[a-z][a-z0-9_]{0,62}$"
QUEUE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SKILL = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SOUND_PATH = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$"
DIAL_TARGET = r"^\+?[0-9]{2,15}$"
DTMF_KEY = r"^[0-9*#]$"
TIME_RANGE = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$"
SUPPORTED_LANGUAGES = ("en", "zh")
"""Languages the switch can speak: a say module and prompts exist for each."""

NodeId = Annotated[str, Field(pattern=NODE_ID)]
PromptName = Annotated[str, Field(pattern=NODE_ID)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def targets(self) -> dict[str, str]:
        """Return every branch of this node: field name to the node it leads to."""
        return {}


class PlayNode(_Node):
    """Play recorded prompts, then carry on."""

    type: Literal["play"]
    prompts: list[PromptName] = Field(min_length=1)
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class SayNode(_Node):
    """Speak a value with FreeSWITCH's ``say``: a number, digits, money or a date."""

    type: Literal["say"]
    value: str = Field(min_length=1, max_length=200, description="Literal or ${variable}.")
    kind: Literal["number", "digits", "money", "date"]
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class SpeakNode(_Node):
    """Text to speech, one text per language (only where the switch has a TTS engine)."""

    type: Literal["speak"]
    text: dict[str, Annotated[str, Field(min_length=1, max_length=500)]] = Field(min_length=1)
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class MenuNode(_Node):
    """Ask for one key; each choice, a timeout and invalid input each lead somewhere."""

    type: Literal["menu"]
    prompt: PromptName
    choices: dict[Annotated[str, Field(pattern=DTMF_KEY)], NodeId] = Field(min_length=1)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5, description="Extra tries after the first.")
    invalid_prompt: PromptName | None = None
    on_timeout: NodeId
    on_invalid: NodeId

    def targets(self) -> dict[str, str]:
        found = {f"choices.{key}": target for key, target in sorted(self.choices.items())}
        return {**found, "on_timeout": self.on_timeout, "on_invalid": self.on_invalid}


class CollectNode(_Node):
    """Collect several digits into a variable (account number, PIN ...)."""

    type: Literal["collect"]
    prompt: PromptName
    variable: Annotated[str, Field(pattern=VARIABLE)]
    min_digits: int = Field(default=1, ge=1, le=32)
    max_digits: int = Field(default=16, ge=1, le=32)
    terminator: Literal["#", "*", "none"] = "#"
    pattern: str | None = Field(default=None, max_length=200, description="A full-match regex.")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: PromptName | None = None
    sensitive: bool = Field(
        default=False,
        description="Card number, CVV, PIN: the call's recording is paused while they are "
        "entered, and they are not taken at all when it cannot be paused (on_failure).",
    )
    next: NodeId
    on_failure: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next, "on_failure": self.on_failure}


class HoursNode(_Node):
    """Branch on business hours and holidays, in the business's time zone."""

    type: Literal["hours"]
    timezone: str = Field(min_length=1, max_length=64)
    open: dict[Weekday, list[Annotated[str, Field(pattern=TIME_RANGE)]]]
    holidays: list[dt.date] = Field(default_factory=list)
    when_open: NodeId
    when_closed: NodeId
    on_holiday: NodeId | None = None

    def targets(self) -> dict[str, str]:
        found = {"when_open": self.when_open, "when_closed": self.when_closed}
        if self.on_holiday is not None:
            found["on_holiday"] = self.on_holiday
        return found


class LanguageNode(_Node):
    """Let the caller pick a language; no answer keeps the flow's default."""

    type: Literal["language"]
    prompt: PromptName
    choices: dict[Annotated[str, Field(pattern=DTMF_KEY)], str] = Field(min_length=1)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=5)
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class SetNode(_Node):
    """Set call variables (priority, skills, customer id, anything the flow reads later)."""

    type: Literal["set"]
    variables: dict[
        Annotated[str, Field(pattern=VARIABLE)], Annotated[str, Field(max_length=200)]
    ] = Field(min_length=1)
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class CrmNode(_Node):
    """Look the caller up in the CRM; found, not found, timeout, error and circuit-open branch."""

    type: Literal["crm"]
    lookup: Literal["caller", "variable"] = "caller"
    variable: Annotated[str, Field(pattern=VARIABLE)] | None = None
    timeout_seconds: float = Field(default=2.0, gt=0, le=10)
    assign: dict[
        Annotated[str, Field(pattern=VARIABLE)], Annotated[str, Field(pattern=VARIABLE)]
    ] = Field(default_factory=dict, description="Call variable to the CRM answer's field.")
    vip_priority: int | None = Field(default=None, ge=0, le=100)
    on_found: NodeId
    on_not_found: NodeId
    on_timeout: NodeId
    on_error: NodeId
    on_circuit_open: NodeId

    def targets(self) -> dict[str, str]:
        return {
            "on_found": self.on_found,
            "on_not_found": self.on_not_found,
            "on_timeout": self.on_timeout,
            "on_error": self.on_error,
            "on_circuit_open": self.on_circuit_open,
        }


class QueueNode(_Node):
    """Hand the caller to routing: set cc_queue, cc_priority, cc_skills and let the call park."""

    type: Literal["queue"]
    queue: Annotated[str, Field(pattern=QUEUE)]
    priority: int | None = Field(default=None, ge=0, le=100)
    skills: list[Annotated[str, Field(pattern=SKILL)]] = Field(default_factory=list)


class TransferNode(_Node):
    """Send the call to a number or extension."""

    type: Literal["transfer"]
    destination: Annotated[str, Field(pattern=DIAL_TARGET)]
    context: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")] = "contact-center"


class VoicemailNode(_Node):
    """Record a message tied to the call, then carry on (usually to a goodbye)."""

    type: Literal["voicemail"]
    prompt: PromptName
    max_seconds: int = Field(default=120, ge=3, le=600)
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class CallbackNode(_Node):
    """The caller asks to be called back on their number; their place in the queue is kept."""

    type: Literal["callback"]
    prompt: PromptName
    queue: Annotated[str, Field(pattern=QUEUE)]
    next: NodeId

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


class HangupNode(_Node):
    """End the call, after an optional goodbye; ``self_served`` when the IVR did the job."""

    type: Literal["hangup"]
    prompt: PromptName | None = None
    self_served: bool = False


Node = Annotated[
    PlayNode
    | SayNode
    | SpeakNode
    | MenuNode
    | CollectNode
    | HoursNode
    | LanguageNode
    | SetNode
    | CrmNode
    | QueueNode
    | TransferNode
    | VoicemailNode
    | CallbackNode
    | HangupNode,
    Field(discriminator="type"),
]

TERMINAL_TYPES = frozenset({"queue", "transfer", "hangup"})
"""Nodes where the caller leaves the IVR."""


class SurveyConfig(BaseModel):
    """The post-call survey: who is asked (opted in, or a sample) and the question prompts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate: float = Field(default=0.0, ge=0, le=1, description="Share of queued callers.")
    csat_prompt: PromptName = Field(description="1 very satisfied, 2 satisfied, 3 not.")
    nps_prompt: PromptName = Field(description="0 to 10, how likely to recommend.")
    fcr_prompt: PromptName = Field(description="1 resolved, 2 not resolved.")
    thanks_prompt: PromptName | None = None
    invalid_prompt: PromptName | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=3)


class Flow(BaseModel):
    """One version of a flow: its languages, its prompts per language and its nodes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=QUEUE)]
    description: str = Field(default="", max_length=500)
    start: NodeId
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    default_language: str = "en"
    prompts: dict[PromptName, dict[str, Annotated[str, Field(pattern=SOUND_PATH)]]] = Field(
        default_factory=dict, description="Prompt name to its sound file per language."
    )
    nodes: dict[NodeId, Node] = Field(min_length=1)
    survey: SurveyConfig | None = Field(
        default=None, description="Queued callers who opt in (variable survey=true) or are sampled."
    )

    def prompt_file(self, name: str, language: str) -> str:
        """Return the sound file of a prompt in a language (the default language as fallback)."""
        files = self.prompts[name]
        return files.get(language) or files[self.default_language]

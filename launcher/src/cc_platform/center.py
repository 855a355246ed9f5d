"""The demo contact center as one declarative YAML file: queues, skills, agents, teams, shifts
and the day's traffic. Read and checked here (an error names the line and the field); turned
into routing's queue and agent configurations, the simulator's dialplan and the day's people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cc_metrics.core.thresholds import WAIT_BOUNDS
from cc_routing.core import AgentConfig, ConfigError, QueueConfig, Tier
from cc_routing.core.config import Destination, RelaxationStep, Strategy, compile_queue
from cc_sim.traffic import BreakPlan, DayProfile, Distribution, ShiftPlan

DEMO_CENTER = Path(__file__).with_name("demo-center.yaml")
"""The demo center ``make run`` plays when no other file is given."""

_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def minute_of_day(text: str) -> int:
    """Read ``HH:MM`` as minutes since midnight."""
    match = _TIME.match(text.strip())
    if match is None or int(match.group(1)) * 60 + int(match.group(2)) > 24 * 60:
        raise ValueError(f"expected a time of day HH:MM, got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _time(value: str) -> str:
    minute_of_day(value)
    return value


def _distribution(value: str) -> str:
    Distribution.parse(value)
    return value


class ServiceLevel(_Model):
    threshold_seconds: float = Field(default=20, gt=0)
    target: float = Field(default=0.8, gt=0, le=1)


class Center(_Model):
    name: str = Field(min_length=1, max_length=100)
    time_zone: Literal["UTC"] = "UTC"
    opens: str = "08:00"
    closes: str = "20:00"

    _opens = field_validator("opens", "closes")(_time)

    @model_validator(mode="after")
    def _order(self) -> Center:
        if minute_of_day(self.opens) >= minute_of_day(self.closes):
            raise ValueError("opens must come before closes")
        return self


class Queue(_Model):
    number: str = Field(pattern=r"^[0-9]{2,12}$", description="What callers dial.")
    priority: int = Field(default=0, ge=0, le=100)
    requires: str | None = None
    relax: dict[float, str | None] = Field(default_factory=dict)
    strategy: Strategy = Strategy.LONGEST_IDLE_AGENT
    ring_timeout_seconds: float = Field(default=20, gt=0)
    wrap_up_seconds: float = Field(default=30, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    when_full: str = "hangup:USER_BUSY"
    service_level: ServiceLevel = ServiceLevel()
    expected_handle_seconds: float = Field(default=240, gt=0)


class Team(_Model):
    supervisor: str | None = None


class Agent(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    name: str
    extension: str = Field(pattern=r"^[0-9]{3,8}$")
    team: str
    shift: str
    skills: dict[str, int] = Field(default_factory=dict)
    queues: dict[str, int] = Field(description="queue name: tier level (1 first)")


class Break(_Model):
    at: str
    minutes: float = Field(gt=0, le=120)
    reason: str = Field(min_length=1, max_length=40)

    _at = field_validator("at")(_time)


class Shift(_Model):
    start: str
    end: str
    breaks: list[Break] = Field(default_factory=list)

    _times = field_validator("start", "end")(_time)


class QueueTraffic(_Model):
    calls_per_day: float = Field(ge=0)
    patience: str = "lognormal:120,80"
    talk: str = "lognormal:240,120"
    callback_share: float = Field(default=0.0, ge=0, le=1)

    _dist = field_validator("patience", "talk")(_distribution)


class AgentBehaviour(_Model):
    answer_seconds: tuple[float, float] = (2.0, 6.0)
    missed_ring_share: float = Field(default=0.03, ge=0, le=1)


class Traffic(_Model):
    seed: int = 1
    profile: list[tuple[str, float]] = Field(min_length=2)
    queues: dict[str, QueueTraffic]
    agents: AgentBehaviour = AgentBehaviour()

    @field_validator("profile")
    @classmethod
    def _points(cls, value: list[tuple[str, float]]) -> list[tuple[str, float]]:
        for when, weight in value:
            minute_of_day(when)
            if weight < 0:
                raise ValueError(f"volume at {when} must be >= 0")
        return value


class CenterFile(_Model):
    center: Center
    break_reasons: list[str] = Field(default_factory=lambda: ["break", "lunch", "training"])
    queues: dict[str, Queue] = Field(min_length=1)
    teams: dict[str, Team] = Field(default_factory=dict)
    shifts: dict[str, Shift] = Field(default_factory=dict)
    agents: list[Agent] = Field(default_factory=list)
    traffic: Traffic


class CenterError(ValueError):
    """A center file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class DemoCenter:
    """A checked center file and what it becomes for routing, the simulator and the day."""

    source: Path
    spec: CenterFile

    @property
    def opens_minute(self) -> int:
        """Return the opening time as minutes of the day."""
        return minute_of_day(self.spec.center.opens)

    @property
    def closes_minute(self) -> int:
        """Return the closing time as minutes of the day."""
        return minute_of_day(self.spec.center.closes)

    @property
    def service_level(self) -> ServiceLevel:
        """The service-level threshold and target, the same for every queue (checked)."""
        return next(iter(self.spec.queues.values())).service_level

    def queue_configs(self) -> list[QueueConfig]:
        """Return routing's configuration of every queue."""
        return [queue_config(name, q) for name, q in self.spec.queues.items()]

    def agent_configs(self) -> list[AgentConfig]:
        """Return routing's configuration of every agent (reached at ``user/<extension>``)."""
        return [
            AgentConfig(
                agent_id=a.id,
                contact=f"user/{a.extension}",
                skills=dict(a.skills),
                tiers={queue: Tier(level=level) for queue, level in a.queues.items()},
                team=a.team,
            )
            for a in self.spec.agents
        ]

    def routes(self) -> list[tuple[str, str, str]]:
        """Return (context, number, actions) for the simulator: answer, mark the queue, park."""
        return [
            (
                "default",
                q.number,
                f"answer;set:cc_queue={name};set:cc_priority={q.priority};park",
            )
            for name, q in self.spec.queues.items()
        ]

    def profile(self, queue: str) -> DayProfile:
        """Return the expected calls by 15-minute interval for one queue."""
        traffic = self.spec.traffic
        points = [(float(minute_of_day(t)), w) for t, w in traffic.profile]
        return DayProfile.from_points(points, traffic.queues[queue].calls_per_day)

    def shifts(self) -> list[ShiftPlan]:
        """Return every agent's working day."""
        plans = []
        for agent in self.spec.agents:
            shift = self.spec.shifts[agent.shift]
            breaks = tuple(
                BreakPlan(float(minute_of_day(b.at)), b.minutes, b.reason) for b in shift.breaks
            )
            plans.append(
                ShiftPlan(
                    agent.id,
                    float(minute_of_day(shift.start)),
                    float(minute_of_day(shift.end)),
                    breaks,
                )
            )
        return plans


def queue_config(name: str, q: Queue) -> QueueConfig:
    """Return routing's configuration of one queue from the file's terms."""
    steps = [RelaxationStep(0.0, q.requires)]
    steps += [RelaxationStep(float(after), req) for after, req in sorted(q.relax.items())]
    return QueueConfig(
        name=name,
        strategy=q.strategy,
        requirements=tuple(steps),
        ring_timeout_seconds=q.ring_timeout_seconds,
        wrap_up_seconds=q.wrap_up_seconds,
        service_level_threshold_seconds=q.service_level.threshold_seconds,
        service_level_target=q.service_level.target,
        max_length=q.max_length,
        full_destination=Destination.parse(q.when_full) if q.max_length is not None else None,
        expected_handle_seconds=q.expected_handle_seconds,
    )


def load_center(path: Path) -> DemoCenter:
    """Read and check a center file, or raise :class:`CenterError` naming line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CenterError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise CenterError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        spec = CenterFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = ".".join(str(part) for part in loc) or "(top)"
            problems.append(f"{path}:{_line(root, loc)}: {field}: {error['msg']}")
        raise CenterError("\n".join(problems)) from None
    problems = [f"{path}:{_line(root, loc)}: {message}" for loc, message in _cross_checks(spec)]
    if problems:
        raise CenterError("\n".join(problems))
    return DemoCenter(path, spec)


def _cross_checks(spec: CenterFile) -> list[tuple[tuple[Any, ...], str]]:
    """Return (location, problem) for references between sections and routing's own checks."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    skills = {skill for agent in spec.agents for skill in agent.skills}
    for name, q in spec.queues.items():
        try:
            compile_queue(queue_config(name, q), known_skills=skills | _language_skills(skills))
        except (ConfigError, ValueError) as exc:
            problems.append((("queues", name), f"queues.{name}: {exc}"))
    problems += _service_level_checks(spec)
    numbers = [q.number for q in spec.queues.values()]
    for name, q in spec.queues.items():
        if numbers.count(q.number) > 1:
            problems.append((("queues", name, "number"), f"queues.{name}.number: used twice"))
    seen: set[str] = set()
    for index, agent in enumerate(spec.agents):
        where = ("agents", index)
        if agent.id in seen:
            problems.append(((*where, "id"), f"agents.{index}.id: {agent.id!r} appears twice"))
        seen.add(agent.id)
        if agent.team not in spec.teams:
            problems.append(((*where, "team"), f"agents.{index}.team: no team {agent.team!r}"))
        if agent.shift not in spec.shifts:
            problems.append(((*where, "shift"), f"agents.{index}.shift: no shift {agent.shift!r}"))
        for queue in agent.queues:
            if queue not in spec.queues:
                problems.append(
                    ((*where, "queues", queue), f"agents.{index}.queues: no queue {queue!r}")
                )
        for skill, level in agent.skills.items():
            if not 1 <= level <= 5:
                problems.append(
                    ((*where, "skills", skill), f"agents.{index}.skills.{skill}: must be 1-5")
                )
    for name, shift in spec.shifts.items():
        if minute_of_day(shift.start) >= minute_of_day(shift.end):
            problems.append((("shifts", name), f"shifts.{name}: start must come before end"))
        for index, pause in enumerate(shift.breaks):
            if pause.reason not in spec.break_reasons:
                problems.append(
                    (
                        ("shifts", name, "breaks", index, "reason"),
                        f"shifts.{name}.breaks.{index}.reason: {pause.reason!r} is not one of "
                        f"break_reasons",
                    )
                )
    for queue in spec.traffic.queues:
        if queue not in spec.queues:
            problems.append((("traffic", "queues", queue), f"traffic.queues: no queue {queue!r}"))
    return problems


def _service_level_checks(spec: CenterFile) -> list[tuple[tuple[Any, ...], str]]:
    """The metrics service computes service level with one threshold and target for every queue,
    counted at fixed wait bounds: refuse a file it would silently compute another way."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    first_name, first = next(iter(spec.queues.items()))
    for name, q in spec.queues.items():
        where = ("queues", name, "service_level")
        if q.service_level.threshold_seconds not in WAIT_BOUNDS:
            problems.append(
                (
                    (*where, "threshold_seconds"),
                    f"queues.{name}.service_level.threshold_seconds: must be one of "
                    f"{list(WAIT_BOUNDS)} (the waits metrics keeps counts at)",
                )
            )
        elif q.service_level != first.service_level:
            problems.append(
                (
                    where,
                    f"queues.{name}.service_level: differs from queues.{first_name}: metrics "
                    "uses one threshold and target for every queue (per queue is planned)",
                )
            )
    return problems


def _language_skills(skills: set[str]) -> set[str]:
    """``language.en`` held means requirements may say ``language == "en"``: know ``language``."""
    return {skill.split(".", 1)[0] for skill in skills if "." in skill}


def _line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """Return the 1-based line of the deepest node of ``loc`` that exists in the YAML."""
    node = root
    line = 1 if root is None else root.start_mark.line + 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        key_node, node = child
        line = (key_node or node).start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) == str(part):
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None

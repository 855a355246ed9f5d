"""Configuration is checked on the way in, and the service level window counts what KPIs.md says."""

from __future__ import annotations

import pytest

from cc_routing.core import (
    AgentConfig,
    ConfigError,
    Destination,
    QueueConfig,
    RelaxationStep,
    Strategy,
    Tier,
)
from cc_routing.core.config import check_agent, compile_queue
from cc_routing.core.queues import ServiceLevelWindow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("queue:sales", Destination("queue", "sales")),
        ("transfer:5000 XML default", Destination("transfer", "5000 XML default")),
        ("hangup", Destination("hangup", "NORMAL_CLEARING")),
        ("hangup:USER_BUSY", Destination("hangup", "USER_BUSY")),
        (" queue: sales ", Destination("queue", "sales")),
    ],
)
def test_destinations_parse(text: str, expected: Destination) -> None:
    assert Destination.parse(text) == expected
    assert Destination.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "queue:", "voicemail:1000", "sales", "transfer: "])
def test_bad_destinations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="expected 'queue:<name>'"):
        Destination.parse(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "needs a name"),
        ({"strategy": "fastest-agent"}, "unknown strategy 'fastest-agent' \\(one of longest-idle"),
        ({"ring_timeout_seconds": 0}, "ring_timeout_seconds must be a positive number"),
        ({"max_wait_seconds": float("inf")}, "max_wait_seconds must be a positive number"),
        ({"wrap_up_seconds": -1}, "wrap_up_seconds must be zero or more"),
        ({"service_level_target": 1.5}, "service_level_target"),
        ({"max_length": -1}, "max_length"),
        ({"callback_max_attempts": 0}, "callback_max_attempts"),
        ({"requirements": (RelaxationStep(5, "a"),)}, "first requirement step must start at 0"),
        (
            {"requirements": (RelaxationStep(0, "a"), RelaxationStep(0, "b"))},
            "step 2 must come later",
        ),
        ({"requirements": (RelaxationStep(0, "a >= 9"),)}, "step 1: proficiency must be 0-5"),
    ],
)
def test_queue_configs_are_checked_field_by_field(changes: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "q"}
    base.update(changes)
    with pytest.raises(ConfigError, match=message):
        compile_queue(QueueConfig(**base), known_skills=None)  # type: ignore[arg-type]


def test_a_strategy_given_as_text_becomes_the_enum() -> None:
    compiled = compile_queue(QueueConfig("q", strategy="ring-all"), known_skills=None)  # type: ignore[arg-type]
    assert compiled.config.strategy is Strategy.RING_ALL


def test_a_queue_compiles_its_steps_against_the_catalog() -> None:
    steps = (RelaxationStep(0, "billing >= 3"), RelaxationStep(30, ""), RelaxationStep(60, None))
    compiled = compile_queue(QueueConfig("q", requirements=steps), known_skills={"billing"})
    assert [after for after, _ in compiled.steps] == [0, 30, 60]
    assert compiled.steps[1][1] is None
    assert compiled.steps[2][1] is None
    assert compile_queue(QueueConfig("q"), known_skills=None).steps == ((0.0, None),)
    with pytest.raises(ConfigError, match="unknown skill 'biling'"):
        compile_queue(
            QueueConfig("q", requirements=(RelaxationStep(0, "biling"),)), known_skills={"billing"}
        )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (AgentConfig("", "user/1"), "needs an id"),
        (AgentConfig("a", " "), "contact"),
        (AgentConfig("a", "user/1", {"billing": 6}), "proficiency of 'billing' must be 1-5"),
        (AgentConfig("a", "user/1", {"billing": 0}), "must be 1-5"),
        (AgentConfig("a", "user/1", tiers={"q": Tier(level=-1)}), "tier for 'q'"),
        (AgentConfig("a", "user/1", wrap_up_seconds=-5), "wrap_up_seconds"),
        (AgentConfig("a", "user/1", busy_delay_seconds=float("nan")), "busy_delay_seconds"),
        (AgentConfig("a", "user/1", max_no_answer=-1), "max_no_answer"),
    ],
)
def test_agent_configs_are_checked(config: AgentConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_agent(config)


def test_any_dial_string_is_a_contact() -> None:
    for contact in ("user/1001", "sofia/gateway/carrier/+4930123", "loopback/7301/default"):
        check_agent(AgentConfig("a", contact))


def test_service_level_counts_answers_within_t_over_calls_minus_short_abandons() -> None:
    window = ServiceLevelWindow(threshold=20, window=900, short_abandon=5)
    assert window.level(0.0, late_waiting=0) == 1.0
    window.record(10.0, 12.0, answered=True)  # within T
    window.record(20.0, 25.0, answered=True)  # late
    window.record(30.0, 3.0, answered=False, abandoned=True)  # short abandon: not counted
    window.record(40.0, 30.0, answered=False, abandoned=True)  # counted, missed
    window.record(50.0, 40.0, answered=False)  # overflowed: counted, missed
    assert window.level(60.0, late_waiting=0) == 1 / 4
    assert window.level(60.0, late_waiting=1) == 1 / 5  # a caller already past T is a miss
    assert window.level(915.0, late_waiting=0) == 0 / 3  # the first answer left the window
    assert window.level(2000.0, late_waiting=0) == 1.0


def test_names_too_long_for_the_event_contracts_are_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="queue name is 201 characters long; at most 64"):
        compile_queue(QueueConfig("q" * 201), known_skills=None)
    far = Destination("transfer", "x" * 200)
    with pytest.raises(ConfigError, match="overflow_destination: destination longer"):
        compile_queue(QueueConfig("q", overflow_destination=far), known_skills=None)
    with pytest.raises(ConfigError, match="not a usable destination"):
        compile_queue(QueueConfig("q", fallback=Destination("queue", " ")), known_skills=None)
    with pytest.raises(ConfigError, match="contact: a dial string is at most 200"):
        check_agent(AgentConfig("a", "user/" + "1" * 200))

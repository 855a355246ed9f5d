"""Hostile configuration is refused by the core with the reason: dial strings that would smuggle
commands into FreeSWITCH, names with line breaks or no end, sounds that name applications."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cc_routing.core import AgentConfig, ConfigError, Destination, QueueConfig, Tier
from cc_routing.core.config import (
    check_agent,
    compile_queue,
    dial_string_problem,
    sound_problem,
)
from cc_routing.settings import RoutingSettings


@pytest.mark.parametrize(
    "contact",
    [
        "user/1001",
        "user/1001@default",
        "loopback/7303/default",
        "sofia/internal/7301@127.0.0.1:5080",
        "sofia/internal/sip:1001@10.0.0.7;transport=tcp",
        "sofia/gateway/carrier/+4930123456",
        "verto.rtc/1001",
    ],
)
def test_endpoints_freeswitch_accepts_are_accepted(contact: str) -> None:
    assert dial_string_problem(contact) is None
    check_agent(AgentConfig("a1", contact))


@pytest.mark.parametrize(
    ("contact", "reason"),
    [
        ("user/3001 &system(touch${_}/tmp/pwned)", "whitespace"),
        ("user/3001&system(touch${_}/tmp/pwned)", "'&'"),
        ("user/1004\n\nbgapi hupall", "line breaks"),
        ("user/1004\r\nbgapi hupall", "line breaks"),
        ("user/1004\tx", "whitespace"),
        ("{origination_uuid=x}user/1001", "variable block"),
        ("[leg_timeout=1]user/1001", "variable block"),
        ("user/${caller_id_number}", "expand variables"),
        ("user/1001,user/1002", "one endpoint"),
        ("user/1001|user/1002", "one endpoint"),
        ("1001", "'<endpoint>/<target>'"),
        ("user/1001'", "'<endpoint>/<target>'"),
        ("user/1001\x00", "line breaks"),
        ("user/" + "1" * 300, "at most 200"),
        ("", "required"),
    ],
)
def test_dial_strings_that_would_reach_further_than_an_endpoint_are_refused(
    contact: str, reason: str
) -> None:
    problem = dial_string_problem(contact)
    assert problem is not None
    assert reason in problem
    with pytest.raises(ConfigError, match="contact"):
        check_agent(AgentConfig("a1", contact))


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (AgentConfig("nl2\n", "user/1"), "agent id contains a control character"),
        (AgentConfig("a b", "user/1"), "no spaces"),
        (AgentConfig("a" * 65, "user/1"), "at most 64"),
        (AgentConfig("a1", "user/1", team="blue\n"), "team contains a control character"),
        (AgentConfig("a1", "user/1", skills={"s" * 5000: 3}), "skill name is 5000 characters"),
        (AgentConfig("a1", "user/1", skills={"fr\n": 3}), "skill name contains a control"),
        (AgentConfig("a1", "user/1", skills={"1fr": 3}), "must start with a letter"),
        (AgentConfig("a1", "user/1", tiers={"nl2\n": Tier()}), "tier queue name contains"),
        (AgentConfig("a1", "user/1", tiers={"q": Tier(level=10**9)}), "tier for 'q' must be"),
        (
            AgentConfig("a1", "user/1", skills={f"s{i}": 1 for i in range(101)}),
            "at most 100 skills",
        ),
        (AgentConfig("a1", "user/1", wrap_up_seconds=1e300), "wrap_up_seconds must be 0-"),
        (AgentConfig("a1", "user/1", max_no_answer=10**12), "max_no_answer must be 0-1000"),
    ],
)
def test_agent_names_have_a_length_and_a_character_set(config: AgentConfig, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        check_agent(config)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (QueueConfig("nl2\n"), "queue name contains a control character"),
        (QueueConfig("sales queue"), "no spaces"),
        (QueueConfig("q", music_on_hold="m" * 20_000), "at most 500"),
        (QueueConfig("q", music_on_hold="local_stream://moh\nbgapi hupall"), "line breaks"),
        (QueueConfig("q", music_on_hold="system::touch${_}/tmp/pwned"), "application"),
        (QueueConfig("q", disposition_codes=frozenset({"sold\n"})), "disposition code"),
        (QueueConfig("q", fallback=Destination("queue", "nl2\n")), "fallback: queue name"),
        (
            QueueConfig("q", fallback=Destination("transfer", "5000\nbgapi hupall")),
            "fallback: a transfer is",
        ),
        (QueueConfig("q", fallback=Destination("hangup", "BUSY now")), "hangup cause"),
        (QueueConfig("q", ring_timeout_seconds=1e300), "ring_timeout_seconds is at most"),
        (QueueConfig("q", max_length=10**12), "max_length must be"),
    ],
)
def test_queue_names_sounds_and_destinations_are_checked(config: QueueConfig, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        compile_queue(config, known_skills=None)


def test_sounds_the_switch_plays_are_accepted() -> None:
    for sound in (
        "local_stream://moh",
        "/usr/share/freeswitch/sounds/music/8000/suite.wav",
        "tone_stream://%(2000,4000,440,480);loops=-1",
        "ivr/ivr-hold_connect_call.wav",
    ):
        assert sound_problem(sound) is None, sound
    compile_queue(QueueConfig("q", music_on_hold="local_stream://moh"), known_skills=None)


def test_settings_refuse_unsafe_callback_dial_strings_and_hold_music() -> None:
    RoutingSettings(routing_callback_dial="sofia/gateway/carrier/{number}")
    with pytest.raises(ValueError, match="'&'"):
        RoutingSettings(routing_callback_dial="sofia/gateway/x/{number}&system(id)")
    with pytest.raises(ValueError, match="whitespace"):
        RoutingSettings(routing_callback_dial="sofia/gateway/x/{number} &park()")
    with pytest.raises(ValueError, match="application"):
        RoutingSettings(routing_hold_music="system::id")
    with pytest.raises(ValueError, match="transfer"):
        RoutingSettings(routing_fallback="transfer:5000\nbgapi hupall")


@given(st.text(max_size=60) | st.from_regex(r"[a-z]{1,8}/[ -~]{1,30}", fullmatch=True))
@settings(max_examples=500, deadline=None)
def test_whatever_is_accepted_is_one_endpoint_and_nothing_more(text: str) -> None:
    if dial_string_problem(text) is not None:
        return
    module, _, target = text.partition("/")
    assert module
    assert target
    assert not any(char.isspace() or not char.isprintable() for char in text)
    assert not set(text) & set("&{}[]$,|'\"\\<>^!`()")
    assert len(text) <= 200

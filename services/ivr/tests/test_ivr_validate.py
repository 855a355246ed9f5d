"""Flow validation: a broken flow for every rule, each error naming the node and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cc_ivr.core import FlowError, InvalidFlow, parse_flow, validate
from cc_ivr.flows import read_document, sample_documents

Doc = dict[str, Any]


def good() -> Doc:
    return {
        "name": "t",
        "start": "menu",
        "languages": ["en", "zh"],
        "prompts": {
            "menu": {"en": "prompts/m.wav", "zh": "prompts/zh/m.wav"},
            "bad": {"en": "prompts/bad.wav", "zh": "prompts/zh/bad.wav"},
        },
        "nodes": {
            "menu": {
                "type": "menu",
                "prompt": "menu",
                "invalid_prompt": "bad",
                "choices": {"1": "lookup", "2": "lang"},
                "on_timeout": "bye",
                "on_invalid": "bye",
            },
            "lookup": {
                "type": "crm",
                "on_found": "q",
                "on_not_found": "q",
                "on_timeout": "q",
                "on_error": "q",
                "on_circuit_open": "bye",
            },
            "lang": {"type": "language", "prompt": "menu", "choices": {"1": "en"}, "next": "q"},
            "q": {"type": "queue", "queue": "support"},
            "bye": {"type": "hangup"},
        },
    }


def errors_of(document: Doc, **kwargs: Any) -> list[FlowError]:
    with pytest.raises(InvalidFlow) as caught:
        parse_flow(document, **kwargs)
    return caught.value.errors


def test_the_good_flow_and_every_sample_pass() -> None:
    parse_flow(good(), known_queues={"support"})
    samples = sample_documents()
    assert set(samples) == {"bank", "support", "after_hours", "vip"}
    for document in samples.values():
        parse_flow(document)


Breaker = Callable[[Doc], None]


def _set(path: str, value: Any) -> Breaker:
    def apply(doc: Doc) -> None:
        *parents, last = path.split("/")
        target = doc
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value

    return apply


DELETE = object()

BROKEN: list[tuple[str, Breaker, str | None, str, str]] = [
    # rule, breaker, node, field, message part
    ("start node missing", _set("start", "nope"), None, "start", "no node"),
    ("branch to nowhere", _set("nodes/menu/choices/1", "ghost"), "menu", "choices.1", "ghost"),
    ("timeout branch missing", _set("nodes/menu/on_timeout", DELETE), "menu", "on_timeout", ""),
    ("invalid branch missing", _set("nodes/menu/on_invalid", DELETE), "menu", "on_invalid", ""),
    ("menu without choices", _set("nodes/menu/choices", {}), "menu", "choices", ""),
    ("bad DTMF key", _set("nodes/menu/choices", {"12": "q"}), "menu", "choices.12", ""),
    (
        "crm circuit branch",
        _set("nodes/lookup/on_circuit_open", DELETE),
        "lookup",
        "on_circuit_open",
        "",
    ),
    ("crm timeout branch", _set("nodes/lookup/on_timeout", DELETE), "lookup", "on_timeout", ""),
    ("crm error to nowhere", _set("nodes/lookup/on_error", "void"), "lookup", "on_error", "void"),
    ("unreachable node", _set("nodes/orphan", {"type": "hangup"}), "orphan", "type", "unreachable"),
    ("dead-end loop", _set("nodes/lang/next", "loop"), "loop", "next", "dead end"),
    ("prompt not defined", _set("nodes/menu/prompt", "nothing"), "menu", "prompt", "not defined"),
    (
        "invalid prompt not defined",
        _set("nodes/menu/invalid_prompt", "x"),
        "menu",
        "invalid_prompt",
        "not defined",
    ),
    (
        "prompt lacks a language",
        _set("prompts/bad", {"en": "prompts/bad.wav"}),
        None,
        "prompts.bad",
        "'zh'",
    ),
    ("unsupported language", _set("languages", ["en", "fr"]), None, "languages.1", "fr"),
    ("default not a language", _set("default_language", "fr"), None, "default_language", ""),
    (
        "language choice not offered",
        _set("nodes/lang/choices", {"1": "ja"}),
        "lang",
        "choices.1",
        "'ja'",
    ),
    ("prompt path with a space", _set("prompts/menu/en", "a b.wav"), None, "prompts.menu.en", ""),
    ("unknown node type", _set("nodes/bye", {"type": "teleport"}), "bye", "type", ""),
    ("queue name injection", _set("nodes/q/queue", "x&system(y)"), "q", "queue", ""),
    ("unknown field", _set("nodes/bye/colour", "red"), "bye", "colour", ""),
]


def _loop(doc: Doc) -> None:
    doc["nodes"]["loop"] = {"type": "play", "prompts": ["menu"], "next": "loop"}


@pytest.mark.parametrize(
    ("rule", "breaker", "node", "field", "message"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_every_rule_has_a_broken_flow_naming_node_and_field(
    rule: str, breaker: Breaker, node: str | None, field: str, message: str
) -> None:
    doc = copy.deepcopy(good())
    if rule == "dead-end loop":
        _loop(doc)
    breaker(doc)
    found = errors_of(doc)
    assert any(e.node == node and e.field == field and message in e.message for e in found), found


def test_node_specific_rules() -> None:
    doc = good()
    doc["nodes"]["menu"]["choices"]["3"] = "acct"
    doc["nodes"]["acct"] = {
        "type": "collect", "prompt": "menu", "variable": "account", "min_digits": 6,
        "max_digits": 4, "pattern": "([", "next": "hrs", "on_failure": "bye",
    }  # fmt: skip
    doc["nodes"]["hrs"] = {
        "type": "hours", "timezone": "Mars/Olympus", "open": {"mon": ["18:00-09:00"]},
        "when_open": "tts", "when_closed": "dip",
    }  # fmt: skip
    doc["nodes"]["tts"] = {"type": "speak", "text": {"en": "hello"}, "next": "bye"}
    doc["nodes"]["dip"] = {
        "type": "crm", "lookup": "variable", "on_found": "bye", "on_not_found": "bye",
        "on_timeout": "bye", "on_error": "bye", "on_circuit_open": "bye",
    }  # fmt: skip
    found = {(e.node, e.field) for e in errors_of(doc)}
    assert {
        ("acct", "min_digits"),
        ("acct", "pattern"),
        ("hrs", "timezone"),
        ("hrs", "open.mon.0"),
        ("tts", "text"),
        ("dip", "variable"),
    } <= found


def test_referenced_queues_must_exist_when_the_queues_are_known() -> None:
    found = errors_of(good(), known_queues={"sales"})
    assert [(e.node, e.field) for e in found] == [("q", "queue")]
    assert validate(parse_flow(good())) == []


def test_every_problem_is_reported_at_once() -> None:
    doc = good()
    doc["nodes"]["menu"]["choices"]["1"] = "ghost"
    doc["nodes"]["menu"]["prompt"] = "nothing"
    assert len(errors_of(doc)) >= 2


def test_a_yaml_document_that_is_not_a_flow_is_refused_clearly() -> None:
    with pytest.raises(InvalidFlow, match="mapping"):
        read_document("- a\n- b\n")
    with pytest.raises(InvalidFlow, match="not YAML"):
        read_document("a: [b\n")

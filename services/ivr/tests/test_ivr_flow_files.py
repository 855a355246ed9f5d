"""A directory of flow files: each file one flow, validated on its own; a bad file is reported with
file, line, node and field and does not stop the good ones; ``CC_FLOWS_DIR`` makes them live at
start (PostgreSQL, RabbitMQ), adding a version only when a file changed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_ivr.app import create_app
from cc_ivr.flows import SAMPLES, FileError, load_flow_dir
from cc_ivr.settings import IvrSettings

DESK = """\
name: desk
start: menu
languages: [en]
prompts:
  menu: {en: prompts/press_1_sales_2_support.wav}
numbers: ["8100", "+4930123"]
nodes:
  menu:
    type: menu
    prompt: menu
    choices: {"1": sales, "2": support}
    on_timeout: sales
    on_invalid: sales
  sales: {type: queue, queue: sales}
  support: {type: queue, queue: support}
"""


def variant(name: str, *replacements: tuple[str, str]) -> str:
    text = DESK.replace("name: desk", f"name: {name}").replace('"8100", "+4930123"', '"8199"')
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


Where = list[tuple[int | None, str | None, str]]

# file -> (its text, the (line, node, field) of each error expected)
BAD_FILES: dict[str, tuple[str, Where]] = {
    "a_dead_end.yaml": (
        variant("dead_end", ('"2": support}', '"2": nowhere}')),
        [(11, "menu", "choices.2"), (15, "support", "type")],
    ),
    "b_extra.yaml": (
        variant("extra", ("    on_invalid: sales\n", "    on_invalid: sales\n    colour: blue\n")),
        [(14, "menu", "colour")],
    ),
    "c_syntax.yml": (
        variant("syntax", ("  sales: {type", "  sales: {type: [")),
        [(14, None, "document")],
    ),
    "d_two.yaml": (DESK + "---\n" + variant("second"), [(None, None, "document")]),
    "e_list.yaml": ("- name: desk\n", [(1, None, "document")]),
    "f_numbers.yaml": (
        variant("numbers", ('["8199"]', '["8199", "call-me"]')),
        [(6, None, "numbers")],
    ),
    "g_unknown_queue.yaml": (
        variant("queues", ("queue: support}", "queue: helpdesk}")),
        [(15, "support", "queue")],
    ),
    "z_same_name.yaml": (DESK, [(1, None, "name")]),
}


def write_flows(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "desk.yaml").write_text(DESK)
    (directory / "bank.yaml").write_text((SAMPLES / "bank.yaml").read_text())
    (directory / "README.txt").write_text("not a flow: ignored")
    for name, (text, _) in BAD_FILES.items():
        (directory / name).write_text(text)
    return directory


def where(errors: list[FileError], path: Path) -> Where:
    return [(e.line, e.node, e.field) for e in errors if e.path == path]


def test_good_files_load_and_each_bad_file_is_reported_with_line_node_and_field(
    tmp_path: Path,
) -> None:
    directory = write_flows(tmp_path / "flows")
    found = load_flow_dir(directory, known_queues=["banking", "sales", "support"])

    assert sorted(item.flow.name for item in found.flows) == ["bank", "desk"]
    desk = next(item for item in found.flows if item.flow.name == "desk")
    assert desk.numbers == ("8100", "+4930123")
    assert desk.path == directory / "desk.yaml"
    assert found.rejected == sorted(directory / name for name in BAD_FILES)
    for name, (_, expected) in BAD_FILES.items():
        assert where(found.errors, directory / name) == expected, name
    assert all(e.message for e in found.errors)
    syntax = next(e for e in found.errors if e.path.name == "c_syntax.yml")
    assert "not YAML" in syntax.message
    assert str(syntax).startswith(f"{directory / 'c_syntax.yml'}:14:")
    same = next(e for e in found.errors if e.path.name == "z_same_name.yaml")
    assert "desk.yaml" in same.message


def test_a_missing_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    found = load_flow_dir(tmp_path / "absent")
    assert found.flows == []
    assert [(e.field, e.message) for e in found.errors] == [("directory", "not a directory")]


@pytest.mark.integration
async def test_the_service_makes_the_directorys_flows_live_at_start(
    tmp_path: Path,
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = write_flows(tmp_path / "flows")
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    rabbit_cleanup.queue("ivr")
    settings = IvrSettings(
        tenant="acme",
        database_url=pg_url,
        amqp_url=amqp_url,
        bus_exchange=exchange,
        ivr_socket_port=0,
        known_queues="banking,sales,support",
        service_token=TEST_SERVICE_TOKEN,
        flows_dir=str(directory),
    )

    async def start_and_read() -> tuple[dict[str, Any], dict[str, Any]]:
        app = create_app(settings)
        async with app.router.lifespan_context(app), api_client(app, "http://ivr") as client:
            desk = (await client.get("/v1/flows/desk/versions")).json()
            bank = (await client.get("/v1/flows/bank/versions")).json()
            for name in ("dead_end", "extra", "numbers"):  # the bad files stored nothing
                assert (await client.get(f"/v1/flows/{name}/versions")).status_code == 404
            active = await app.state.flows.resolve("+4930123")
            assert active is not None
            assert active.name == "desk"
            assert app.state.flow_files.rejected == sorted(directory / n for n in BAD_FILES)
        return desk, bank

    with caplog.at_level(logging.INFO):
        desk, bank = await start_and_read()
    assert [v["version"] for v in desk["versions"] if v["active"]] == [1], desk
    assert [v["version"] for v in bank["versions"] if v["active"]] == [1], bank
    invalid = [r for r in caplog.records if r.getMessage() == "ivr.flow_file_invalid"]
    assert len(invalid) == sum(len(errors) for _, errors in BAD_FILES.values())  # one a problem

    desk, _ = await start_and_read()  # the same files again: no new versions
    assert [v["version"] for v in desk["versions"]] == [1], desk

    (directory / "desk.yaml").write_text(DESK.replace("on_timeout: sales", "on_timeout: support"))
    desk, bank = await start_and_read()  # desk changed: its next version goes live
    assert [(v["version"], v["active"]) for v in desk["versions"]] == [(2, True), (1, False)]
    assert [v["version"] for v in bank["versions"]] == [1]

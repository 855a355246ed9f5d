"""Logs are JSON lines carrying the call, tenant and agent they concern."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from cc_common.logging import configure_logging, get_logger, log_context


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_line_is_json_with_fields_and_context() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = get_logger("cc.test")
    with log_context(call_id="c1", tenant="acme"):
        log.info("call.offered", queue="sales", position=3)
        with log_context(agent_id="a7"):
            log.warning("call.agent_missed", cause="NO_ANSWER")
    log.info("outside")
    first, second, third = lines(stream)
    assert first["event"] == "call.offered"
    assert (first["call_id"], first["tenant"], first["queue"], first["position"]) == (
        "c1",
        "acme",
        "sales",
        3,
    )
    assert (second["level"], second["agent_id"], second["call_id"]) == ("warning", "a7", "c1")
    assert "call_id" not in third
    logging.getLogger().handlers.clear()


async def test_context_follows_tasks_started_inside_it() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    log = get_logger("cc.test")

    async def child() -> None:
        log.debug("child.ran")

    with log_context(call_id="c9"):
        task = asyncio.create_task(child())
    await task
    assert lines(stream)[0]["call_id"] == "c9"
    logging.getLogger().handlers.clear()


def test_exceptions_are_logged_with_their_traceback() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        raise ValueError("bad input")
    except ValueError:
        get_logger("cc.test").exception("failed")
    assert "ValueError: bad input" in str(lines(stream)[0]["exc"])
    logging.getLogger().handlers.clear()

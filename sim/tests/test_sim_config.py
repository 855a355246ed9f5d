"""Configuration from the environment and the command line, and ``python -m cc_sim``."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest

from cc_sim.config import SimConfig, from_args, from_env, parse_agents, parse_route, validate
from cc_sim.core.dialplan import Action


def test_sim_defaults_match_freeswitch() -> None:
    config = SimConfig()
    assert (config.esl_host, config.esl_port, config.esl_password) == ("127.0.0.1", 8021, "ClueCon")
    assert config.time_compression == 1.0


def test_sim_environment_overrides() -> None:
    config = from_env(
        {
            "CC_SIM_ESL_PORT": "18021",
            "CC_SIM_ESL_PASSWORD": "s3cret",
            "CC_SIM_TIME_COMPRESSION": "60",
            "CC_SIM_AGENTS": "1001-1003,2001",
            "CC_SIM_ROUTES": "8000=answer;park|public/9000=transfer 8000 XML default",
        }
    )
    assert config.esl_port == 18021
    assert config.esl_password == "s3cret"
    assert config.time_compression == 60
    assert config.agents == ("1001", "1002", "1003", "2001")
    assert config.routes == (
        ("default", "8000", (Action("answer"), Action("park"))),
        ("public", "9000", (Action("transfer", "8000 XML default"),)),
    )


def test_sim_command_line_overrides_the_environment() -> None:
    base = from_env({"CC_SIM_ESL_PORT": "18021"})
    config = from_args(["--port", "0", "--time-compression", "10", "--route", "8000=park"], base)
    assert config.esl_port == 0
    assert config.time_compression == 10
    assert config.routes == (("default", "8000", (Action("park"),)),)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CC_SIM_ESL_PORT": "70000"}, "0-65535"),
        ({"CC_SIM_ESL_PORT": "abc"}, "must be a number"),
        ({"CC_SIM_TIME_COMPRESSION": "0"}, "compression must be > 0"),
        ({"CC_SIM_ESL_PASSWORD": ""}, "must not be empty"),
        ({"CC_SIM_ROUTES": "8000"}, "route must be"),
    ],
)
def test_sim_bad_settings_get_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_env(environ)


def test_sim_route_and_agent_parsing() -> None:
    assert parse_route("public/5000=set:x=1;park") == (
        "public",
        "5000",
        (Action("set", "x=1"), Action("park")),
    )
    with pytest.raises(ValueError, match="no actions"):
        parse_route("5000=")
    with pytest.raises(ValueError, match="bad agent range"):
        parse_agents("1010-1001")


async def test_sim_runs_in_the_foreground_until_terminated() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_sim",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CC_SIM_TIME_COMPRESSION": "5"},
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        reader, writer = await asyncio.open_connection("127.0.0.1", int(match.group(1)))
        assert await reader.readuntil(b"\n\n") == b"Content-Type: auth/request\n\n"
        writer.write(b"auth ClueCon\n\n")
        assert b"+OK accepted" in await reader.readuntil(b"\n\n")
        writer.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 10)
    assert code == 0


async def test_sim_exits_with_a_reason_on_bad_settings() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_sim",
        "--time-compression",
        "-3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert b"time compression must be > 0" in err


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"originate_reply_seconds": -0.1}, "originate reply delay must be >= 0"),
        ({"early_bridge_cancel": 1.5}, "early bridge cancel must be 0-1"),
        ({"originate_setup_seconds": (0.003, 0.001)}, "originate setup range"),
        ({"originate_setup_seconds": (-0.001, 0.001)}, "originate setup range"),
        ({"listing_lag_seconds": (0.3, 0.03)}, "listing lag range"),
    ],
)
def test_sim_the_early_bridge_race_knobs_are_checked(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate(SimConfig().with_overrides(**changes))

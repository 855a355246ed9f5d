"""`make run`'s process: every service starts, answers /readyz, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cc_common.keys import parse_keys
from cc_platform.center import DEMO_CENTER
from cc_platform.ports import free_offset
from cc_platform.services import SERVICES
from cc_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration


async def wait_ready(port: int, process: asyncio.subprocess.Process) -> dict[str, Any]:
    """Poll a service's /readyz until it answers 200; fail if the platform died meanwhile."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(1200):  # two minutes at most: a loaded machine migrates slowly
            if process.returncode is not None:
                said = await process.stderr.read() if process.stderr else b""
                raise AssertionError(
                    f"platform exited with {process.returncode}: {said.decode()[-2000:]}"
                )
            try:
                response = await client.get(f"http://127.0.0.1:{port}/readyz")
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"127.0.0.1:{port} never became ready")


def without_token(env: Mapping[str, str]) -> dict[str, str]:
    """Return the environment without a service token, so the platform makes its own."""
    generated = ("CC_SERVICE_TOKEN", "CC_CRM_WEBHOOK_KEYS", "CC_SECRETS_DIR")
    return {k: v for k, v in env.items() if k not in generated}


async def run_platform_and_check(env: dict[str, str], var: Path) -> None:
    offset = free_offset()
    inherited = without_token(os.environ)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_platform",
        env={
            **inherited,
            **env,
            "CC_PLATFORM_PORT_OFFSET": str(offset),
            "CC_PLATFORM_VAR": str(var),
        },
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for spec in SERVICES:
            body = await wait_ready(spec.settings_cls.default_http_port + offset, process)
            assert body["service"] == spec.name
            assert set(body["checks"].values()) == {"ok"}
        await check_the_generated_token(var, RoutingSettings.default_http_port + offset)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def check_the_generated_token(var: Path, routing_port: int) -> None:
    """The platform made a token in var/secrets, and the internal API wants exactly it."""
    token_file = var / "secrets" / "CC_SERVICE_TOKEN"
    assert token_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    token = token_file.read_text().strip()
    assert len(token) >= 32
    url = f"http://127.0.0.1:{routing_port}/v1/queues"
    async with httpx.AsyncClient(timeout=5) as client:
        refused = await client.get(url)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get(url, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        admitted = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert admitted.status_code == 200, admitted.text
    # The crm-api's key sealing webhook secrets was made beside it, as private.
    keys_file = var / "secrets" / "CC_CRM_WEBHOOK_KEYS"
    assert keys_file.stat().st_mode & 0o077 == 0
    assert len(parse_keys(keys_file.read_text().strip())) == 1


async def test_the_embedded_platform_is_ready(tmp_path: Path) -> None:
    await run_platform_and_check(
        {
            "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3",
            "CC_AMQP_URL": "memory://local",
        },
        tmp_path / "var",
    )


async def test_the_platform_is_ready_on_postgresql_and_rabbitmq(
    pg_url: str, amqp_url: str, unique_name: Any, rabbit_cleanup: Any, tmp_path: Path
) -> None:
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    rabbit_cleanup.queue(f"{exchange}.metrics")
    rabbit_cleanup.queue(f"{exchange}.crm-api")
    await run_platform_and_check(
        {"CC_DATABASE_URL": pg_url, "CC_AMQP_URL": amqp_url, "CC_BUS_EXCHANGE": exchange},
        tmp_path / "var",
    )


async def test_the_platform_drives_an_external_switch_without_traffic(
    switch: Any, tmp_path: Path
) -> None:
    """CC_PLATFORM_SIMULATOR=false: the center's queues and agents go to routing, which drives
    the FreeSWITCH at CC_ESL_HOST:CC_ESL_PORT (a simulator of the test's own, or the real one);
    no demo traffic plays."""
    endpoint = switch.endpoint
    offset = free_offset()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_platform",
        env={
            **without_token(os.environ),
            "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3",
            "CC_AMQP_URL": "memory://local",
            "CC_PLATFORM_SIMULATOR": "false",
            "CC_PLATFORM_VAR": str(tmp_path),
            "CC_ESL_HOST": endpoint.host,
            "CC_ESL_PORT": str(endpoint.esl_port),
            "CC_ESL_PASSWORD": endpoint.password,
            "CC_PLATFORM_PORT_OFFSET": str(offset),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for spec in SERVICES:
            await wait_ready(spec.settings_cls.default_http_port + offset, process)
        token = (tmp_path / "secrets" / "CC_SERVICE_TOKEN").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=5, headers=headers) as client:
            routing = f"http://127.0.0.1:{8101 + offset}"
            queues: list[dict[str, Any]] = []
            for _ in range(100):
                queues = (await client.get(f"{routing}/v1/queues")).json()
                if len(queues) == 4:
                    break
                await asyncio.sleep(0.2)
            assert {q["queue"] for q in queues} == {"sales", "support-en", "support-zh", "vip"}
            await asyncio.sleep(2)
            board = (
                await client.get(f"http://127.0.0.1:{8104 + offset}/wallboard/snapshot")
            ).json()
            assert board["total"]["offered"] == 0
            assert board["agents"] == []  # nobody logs in: no simulated people
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"no demo traffic" in stdout


def center_without_vip_and_quinn(path: Path) -> Path:
    """The demo center with the vip queue (and every mention of it) and agent quinn taken out."""
    spec = yaml.safe_load(DEMO_CENTER.read_text())
    del spec["queues"]["vip"]
    del spec["traffic"]["queues"]["vip"]
    spec["agents"] = [agent for agent in spec["agents"] if agent["id"] != "quinn"]
    for agent in spec["agents"]:
        agent["queues"].pop("vip", None)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


async def applied_once(
    var: Path, condition: Callable[[dict[str, Any]], bool], within: float = 60
) -> dict[str, Any]:
    """Return the launcher's record of the applied center once ``condition`` holds for it."""
    path = var / "center-applied.json"
    async with asyncio.timeout(within):
        while True:
            found: dict[str, Any] = json.loads(path.read_text())
            if condition(found):
                return found
            await asyncio.sleep(0.1)


async def start_platform(env: dict[str, str], var: Path) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``python -m cc_platform`` without traffic; return it once every service is ready."""
    offset = free_offset()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_platform",
        env={
            **without_token(os.environ),
            **env,
            "CC_PLATFORM_TRAFFIC": "false",
            "CC_PLATFORM_PORT_OFFSET": str(offset),
            "CC_PLATFORM_VAR": str(var),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    for spec in SERVICES:
        await wait_ready(spec.settings_cls.default_http_port + offset, process)
    return process, RoutingSettings.default_http_port + offset


async def stop_platform(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def wait_for_queues(client: httpx.AsyncClient, expected: set[str]) -> set[str]:
    """Poll routing's queue list until it is ``expected`` (the center is applied once ready)."""
    names: set[str] = set()
    for _ in range(300):  # a minute at most
        names = {queue["queue"] for queue in (await client.get("/v1/queues")).json()}
        if names == expected:
            break
        await asyncio.sleep(0.2)
    return names


async def wait_for_agent(client: httpx.AsyncClient, agent_id: str) -> int:
    """Poll for an agent of the file (put after the queues); return the last status code."""
    code = 0
    for _ in range(300):  # a minute at most
        code = (await client.get(f"/v1/agents/{agent_id}")).status_code
        if code == 200:
            break
        await asyncio.sleep(0.2)
    return code


async def test_the_center_file_is_the_truth_removals_apply_on_the_next_start(
    tmp_path: Path,
) -> None:
    """A queue and an agent taken out of the file are gone from routing after the next start
    (the agent was logged in: logged out first); a queue made by hand through the API, never in
    the file, stays."""
    var = tmp_path / "var"
    env = {
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3",
        "CC_AMQP_URL": "memory://local",
    }
    demo = {"sales", "support-en", "support-zh", "vip"}
    process, port = await start_platform(env, var)
    try:
        token = (var / "secrets" / "CC_SERVICE_TOKEN").read_text().strip()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as client:
            assert await wait_for_queues(client, demo) == demo
            assert await wait_for_agent(client, "quinn") == 200
            made = await client.put("/v1/queues/walk-in", json={"name": "walk-in"})
            assert made.status_code == 200, made.text
            logged_in = await client.post("/v1/agents/quinn/login", json={})
            assert logged_in.status_code == 200, logged_in.text
    finally:
        await stop_platform(process)

    env["CC_PLATFORM_CENTER"] = str(center_without_vip_and_quinn(tmp_path / "center.yaml"))
    process, port = await start_platform(env, var)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as client:
            kept = {"sales", "support-en", "support-zh", "walk-in"}
            assert await wait_for_queues(client, kept) == kept  # removals come after the puts
            assert (await client.get("/v1/agents/quinn")).status_code == 404
            assert (await client.get("/v1/agents/hugo")).status_code == 200
            # The apply records what it did once its last removal is done, just after routing
            # shows it: a stop before then would leave vip listed for the next start to retry.
            applied = await applied_once(var, lambda found: "vip" not in found["queues"])
    finally:
        await stop_platform(process)
    assert applied == json.loads((var / "center-applied.json").read_text())
    assert "vip" not in applied["queues"]
    assert "quinn" not in applied["agents"]
    assert "walk-in" not in applied["queues"]  # never in the file, so never the file's to remove

"""`make run`'s process: every service starts, answers /readyz, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cc_crm_api.adapters.sealing import parse_keys
from cc_platform.services import SERVICES
from cc_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration


async def wait_ready(port: int, process: asyncio.subprocess.Process) -> dict[str, Any]:
    """Poll a service's /readyz until it answers 200; fail if the platform died meanwhile."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(1200):  # two minutes at most: a loaded machine migrates slowly
            if process.returncode is not None:
                raise AssertionError(f"platform exited with {process.returncode}")
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
    offset = random.randrange(20_000, 40_000, 10)
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
    offset = random.randrange(20_000, 40_000, 10)
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

"""`make run`'s process: every service starts, answers /readyz, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from cc_platform.services import SERVICES

pytestmark = pytest.mark.integration


async def wait_ready(port: int, process: asyncio.subprocess.Process) -> dict[str, Any]:
    """Poll a service's /readyz until it answers 200; fail if the platform died meanwhile."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
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


async def run_platform_and_check(env: dict[str, str]) -> None:
    offset = random.randrange(20_000, 40_000, 10)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cc_platform",
        env={**os.environ, **env, "CC_PLATFORM_PORT_OFFSET": str(offset)},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for spec in SERVICES:
            body = await wait_ready(spec.settings_cls.default_http_port + offset, process)
            assert body["service"] == spec.name
            assert set(body["checks"].values()) == {"ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_the_embedded_platform_is_ready(tmp_path: Path) -> None:
    await run_platform_and_check(
        {
            "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3",
            "CC_AMQP_URL": "memory://local",
        }
    )


async def test_the_platform_is_ready_on_postgresql_and_rabbitmq(
    pg_url: str, amqp_url: str, unique_name: Any, rabbit_cleanup: Any
) -> None:
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    rabbit_cleanup.queue(f"{exchange}.metrics")
    rabbit_cleanup.queue(f"{exchange}.crm-api")
    await run_platform_and_check(
        {"CC_DATABASE_URL": pg_url, "CC_AMQP_URL": amqp_url, "CC_BUS_EXCHANGE": exchange}
    )

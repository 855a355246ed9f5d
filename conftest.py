"""Fixtures shared by every test in the tree: real PostgreSQL and RabbitMQ, isolated per test.

Each test that asks for PostgreSQL gets a database of its own (created from ``test``'s server
and dropped after), and each RabbitMQ test gets its own exchange and queue names, so tests never
see each other's data and can run in any order. The servers come from ``scripts/services.sh``,
which ``make test`` runs first; their URLs can be overridden with CC_TEST_DATABASE_URL and
CC_TEST_AMQP_URL.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from cc_common.bus._rabbit import RabbitBus, dead_letter_queue
from cc_common.testing import eventually
from cc_sim.config import SimConfig
from cc_sim.simulator import Simulator
from cc_sim.switches import ENV_VAR as SWITCH_ENV_VAR
from cc_sim.switches import (
    RealSwitch,
    SwitchEndpoint,
    SwitchUnderTest,
    configured_launcher,
    switch_kinds,
)

TEST_DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TEST_AMQP_URL = os.environ.get("CC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Return a maker of names no other test (or earlier run) uses: ``unique_name("q")``."""
    run = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}-{run}-{uuid.uuid4().hex[:6]}"


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(TEST_DATABASE_URL))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture
async def make_pg_url() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Yield a maker of fresh, empty PostgreSQL databases (URLs); all are dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        await _admin(f'CREATE DATABASE "{name}"')
        made.append(name)
        return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pg_url(make_pg_url: Callable[[], Awaitable[str]]) -> str:
    """Return the URL of a fresh, empty PostgreSQL database; it is dropped after the test."""
    return await make_pg_url()


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """Return the URL of a fresh SQLite database file in the test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3"


@pytest.fixture
def amqp_url() -> str:
    """Return the URL of the real RabbitMQ."""
    return TEST_AMQP_URL


class RabbitCleanup:
    """Remembers exchanges and queues a test declares and deletes them afterwards."""

    def __init__(self) -> None:
        self.exchanges: set[str] = set()
        self.queues: set[str] = set()

    def queue(self, name: str) -> str:
        """Register a service queue (and its dead-letter queue) for deletion; return the name."""
        self.queues.update({name, dead_letter_queue(name)})
        return name

    async def run(self) -> None:
        connection = await aio_pika.connect(TEST_AMQP_URL)
        async with connection:
            for queue in self.queues:
                channel = await connection.channel()
                with contextlib.suppress(aio_pika.exceptions.ChannelClosed):  # never declared
                    await channel.queue_delete(queue)
            for exchange in self.exchanges:
                channel = await connection.channel()
                await channel.exchange_delete(exchange)


@pytest.fixture
async def rabbit_cleanup() -> AsyncIterator[RabbitCleanup]:
    """Yield a registry of RabbitMQ names that are deleted when the test ends."""
    cleanup = RabbitCleanup()
    yield cleanup
    await cleanup.run()


RabbitBusFactory = Callable[..., Awaitable[RabbitBus]]


@pytest.fixture
async def make_rabbit_bus(
    unique_name: Callable[[str], str], rabbit_cleanup: RabbitCleanup
) -> AsyncIterator[RabbitBusFactory]:
    """Yield a maker of connected RabbitMQ buses on exchanges of the test's own; closed after."""
    made: list[RabbitBus] = []

    async def make(
        *, delivery_limit: int = 2, service: str = "test", exchange: str = ""
    ) -> RabbitBus:
        name = exchange or unique_name("ex")
        rabbit_cleanup.exchanges.update({name, f"{name}.dlx"})
        bus = RabbitBus(
            TEST_AMQP_URL, service=service, exchange=name, delivery_limit=delivery_limit
        )
        made.append(await bus.connect())
        return bus

    yield make
    for bus in made:
        await bus.close()


# ---- the switches: the simulator always, the real FreeSWITCH when CC_TEST_FREESWITCH names one --

FS_OVERLAY = Path(__file__).resolve().parent / "tests" / "fs-overlay"
PROJECT_FREESWITCH = Path(__file__).resolve().parent / "freeswitch"
"""The project's FreeSWITCH configuration, applied to the real test switch as an overlay."""


def prepare_sounds(sounds: Path, bundle: Path) -> None:
    """Fill the test switch's ``sounds/`` (the `en` language's sound-prefix in the overlay): the
    bundle's sounds, plus a short tone for each file the project's phrases play that the bundle
    lacks (FreeSWITCH's sound package is not in it), so those phrases play to the end."""
    sounds.mkdir(parents=True, exist_ok=True)
    for entry in bundle.iterdir():
        (sounds / entry.name).symlink_to(entry)
    for phrases in (PROJECT_FREESWITCH / "lang").rglob("*.xml"):
        for action in ET.parse(phrases).getroot().iter("action"):
            name = action.get("data") or ""
            if action.get("function") == "play-file" and not (sounds / name).exists():
                write_tone(sounds / name)


def write_tone(path: Path, seconds: float = 0.3, hertz: float = 440.0) -> None:
    """Write a tone as 8 kHz mono 16-bit WAV, the format of the test switch's sounds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 8000
    samples = (
        int(8000 * math.sin(2 * math.pi * hertz * i / rate)) for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


@pytest.fixture(scope="session")
def real_switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSwitch]:
    """Yield one real FreeSWITCH for the session (project overlay applied); stopped at the end."""
    launcher = configured_launcher()
    if launcher is None:
        raise RuntimeError(f"{SWITCH_ENV_VAR} is not set: no real FreeSWITCH to run on")
    overlays = [PROJECT_FREESWITCH, FS_OVERLAY]
    work_dir = tmp_path_factory.mktemp("freeswitch")
    prepare_sounds(work_dir / "sounds", launcher.parent / "sounds")
    switch = RealSwitch(launcher, work_dir, overlays=overlays)
    switch.start()
    yield switch
    switch.stop()


@pytest.fixture(params=switch_kinds())
async def switch(
    request: pytest.FixtureRequest,
) -> AsyncIterator[SwitchUnderTest]:
    """Yield a switch to run on: the simulator, and (a second run) the real FreeSWITCH if set.

    The real one is shared by the session; every channel a test left is hung up after it.
    """
    if request.param == "sim":
        async with Simulator(SimConfig(esl_port=0)) as simulator:
            endpoint = SwitchEndpoint("sim", "127.0.0.1", simulator.esl_port)
            yield SwitchUnderTest(endpoint, simulator=simulator)
        return
    real: RealSwitch = request.getfixturevalue("real_switch")
    assert real.endpoint is not None
    try:
        yield SwitchUnderTest(real.endpoint, real=real)
    finally:
        real.cli("hupall NORMAL_CLEARING")
        await eventually(lambda: real.channel_count() == 0, within=10, poll=0.2)

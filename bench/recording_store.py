"""Recording storage: finished recordings moved and verified per second, and playback latency.

One recording service instance on the real PostgreSQL moves 30-second stereo recordings
(about 0.9 MB each) from the switch's folder to storage, encrypting each under its own data
key, reading it back and checking size and sha256 before removing the switch's copy: on the
local filesystem and on an S3-compatible server (moto, its own process on loopback). Then the
service is served over HTTP by uvicorn and a player asks for signed links with a random
byte range; the figure is the time from sending the GET to its first body byte, p50 and p99.
Uses its own database, folders and bucket, removed afterwards. One JSON line per figure.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from sqlalchemy.engine import make_url

from cc_common.db import Database, migrations
from cc_common.testing import TEST_SERVICE_TOKEN
from cc_proto import make_event
from cc_proto.events import CallAnswered
from cc_recording.adapters.crypto import Keyring
from cc_recording.adapters.db import SCHEMA
from cc_recording.adapters.recorder import Recorder
from cc_recording.adapters.storage import S3Storage, Storage
from cc_recording.app import create_app, make_storage
from cc_recording.core.policy import Policy, RecordMode
from cc_recording.settings import RecordingSettings
from cc_recording.testing import start_moto
from cc_sim.engine.media import wav_bytes
from cc_sim.switches import free_port

DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MOVES = {"filesystem": 60, "s3": 30}
PLAYS = 200
WAV = wav_bytes(30.0, 8000, channels=2)


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def finished_calls(recorder: Recorder, count: int) -> None:
    """Make ``count`` recordings that the switch has closed, as after their calls ended."""
    for _ in range(count):
        call_id = str(uuid.uuid4())
        event = make_event(
            CallAnswered(queue="support", agent_leg_uuid="b", wait_seconds=1, ring_seconds=1),
            tenant=recorder.tenant,
            call_id=call_id,
            agent_id="ann",
        )
        recording_id = await recorder.on_answered(event, event.data)
        assert recording_id is not None
        rows = await recorder.find(id=recording_id)
        await asyncio.to_thread(Path(rows[0].switch_path).write_bytes, WAV)
        await recorder.on_ended(call_id)


def make_recorder(settings: RecordingSettings, db: Database, storage: Storage) -> Recorder:
    """One mover, as the service builds it, without its background loops."""
    return Recorder(
        db=db,
        storage=storage,
        keyring=Keyring(settings.keks(), settings.recording_kek_id),
        switch=None,
        tenant=settings.tenant,
        switch_dir=settings.recording_switch_dir,
        default_policy=Policy(RecordMode.ALL),
        first_retry=0.0,
    )


async def moves(backend: str, settings: RecordingSettings) -> None:
    db = Database(settings.database_url.get_secret_value(), schemas=[SCHEMA])
    try:
        await migrations.upgrade(db, "cc_recording")
        storage = make_storage(settings)
        if isinstance(storage, S3Storage):
            await storage.ensure_bucket()
        recorder = make_recorder(settings, db, storage)
        count = MOVES[backend]
        await finished_calls(recorder, count)
        started = time.perf_counter()
        moved = 0
        while moved < count:
            outcomes = await recorder.move_due(limit=count)
            if not outcomes:
                raise RuntimeError(f"only {moved} of {count} recordings could be moved")
            moved += sum(1 for o in outcomes if o.result == "stored")
        elapsed = time.perf_counter() - started
    finally:
        await db.dispose()
    report(f"recording_moves_{backend}", count / elapsed, "recordings/s")
    report(f"recording_move_mb_{backend}", count * len(WAV) / elapsed / 1e6, "MB/s")


async def playback(backend: str, settings: RecordingSettings) -> None:
    port = free_port()
    app = create_app(settings.model_copy(update={"http_port": port}))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise RuntimeError("the recording service did not start") from serving.exception()
        await asyncio.sleep(0.05)
    try:
        recorder: Recorder = app.state.recorder
        ids = [row.id for row in await recorder.find(status="stored")]
        rng = random.Random(3)
        latencies: list[float] = []
        token = f"Bearer {TEST_SERVICE_TOKEN}"
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": token}
        ) as client:
            for _ in range(PLAYS):
                link = await client.post(
                    f"/recordings/{rng.choice(ids)}/links", json={"user": "bench"}
                )
                link.raise_for_status()
                start = rng.randrange(len(WAV) - 70_000)
                span = f"bytes={start}-{start + 64_000}"
                sent = time.perf_counter()
                async with client.stream("GET", link.json()["url"], headers={"Range": span}) as r:
                    assert r.status_code == 206, r.status_code
                    first = True
                    async for _chunk in r.aiter_raw():
                        if first:
                            latencies.append(time.perf_counter() - sent)
                            first = False
        report(f"recording_playback_ttfb_p50_{backend}", _p(latencies, 0.5) * 1000, "ms")
        report(f"recording_playback_ttfb_p99_{backend}", _p(latencies, 0.99) * 1000, "ms")
    finally:
        server.should_exit = True
        await serving


async def measure(backend: str, settings: RecordingSettings) -> None:
    await moves(backend, settings)
    await playback(backend, settings)


async def main() -> None:
    database = f"bench_recording_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(DATABASE_URL))
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    folder = Path(tempfile.mkdtemp(prefix="cc-recording-bench-"))
    moto = start_moto()
    kek = base64.b64encode(os.urandom(32)).decode()
    try:
        base: dict[str, Any] = {
            "tenant": "benchfs",
            "database_url": make_url(DATABASE_URL).set(database=database).render_as_string(False),
            "amqp_url": "memory://recording-bench",
            "recording_esl": False,
            "recording_keks": f"k1:{kek}",
            "recording_kek_id": "k1",
            "recording_signing_key": "bench",
            "recording_move_poll": 3600,
            "service_token": TEST_SERVICE_TOKEN,  # the links route is an internal API
        }
        await measure(
            "filesystem",
            RecordingSettings(
                **base,
                recording_switch_dir=str(folder / "switch-fs"),
                recording_storage_dir=str(folder / "store"),
            ),
        )
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        await measure(
            "s3",
            RecordingSettings(
                **{**base, "tenant": "benchs3"},
                recording_switch_dir=str(folder / "switch-s3"),
                recording_storage="s3",
                recording_s3_endpoint=moto.endpoint,
                recording_s3_bucket=bucket,
                recording_s3_access_key="test",
                recording_s3_secret_key="test",
            ),
        )
    finally:
        moto.process.terminate()
        moto.process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
        admin = await asyncpg.connect(_dsn(DATABASE_URL))
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())

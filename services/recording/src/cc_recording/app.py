"""The recording service's FastAPI app: resources opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import Counter

from cc_common.aio import wait_for_wakeup
from cc_common.app import add_readiness_check, create_service_app, open_bus, open_database
from cc_common.db import OutboxRelay
from cc_common.esl import InboundClient
from cc_common.logging import get_logger
from cc_recording.adapters.crypto import Keyring
from cc_recording.adapters.db import SCHEMA, kit
from cc_recording.adapters.qa import QaDesk
from cc_recording.adapters.recorder import Recorder
from cc_recording.adapters.storage import FilesystemStorage, S3Storage, Storage
from cc_recording.adapters.switch import SwitchRecorder
from cc_recording.api import media_router, qa_router, router
from cc_recording.core.policy import Policy, RecordMode
from cc_recording.settings import RecordingSettings

log = get_logger(__name__)

Clock = Callable[[], datetime]
RECONCILE_SECONDS = 60.0
"""How often recordings in progress are checked against the switch's live channels."""


def make_storage(settings: RecordingSettings) -> Storage:
    """Build the configured storage backend."""
    if settings.recording_storage == "s3":
        access = settings.recording_s3_access_key
        secret = settings.recording_s3_secret_key
        return S3Storage(
            settings.recording_s3_bucket,
            endpoint_url=settings.recording_s3_endpoint,
            region=settings.recording_s3_region,
            access_key=access.get_secret_value() if access else None,
            secret_key=secret.get_secret_value() if secret else None,
        )
    return FilesystemStorage(settings.recording_storage_dir)


async def _loop(
    name: str, every: float, work: Callable[[], Awaitable[object]], wake: asyncio.Event
) -> None:
    """Run ``work`` every ``every`` seconds (or when woken) until cancelled; errors are logged."""
    while True:
        try:
            await work()
        except Exception:  # the loop must outlive a database or storage blip
            log.exception(f"{name}.failed")
        wake.clear()
        await wait_for_wakeup(wake, every)


def create_app(settings: RecordingSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the recording app; nothing is opened until the lifespan starts."""
    now = clock or (lambda: datetime.now(UTC))

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        db = await open_database(app, stack, settings, schema=SCHEMA, package="cc_recording")
        storage = make_storage(settings)
        if isinstance(storage, S3Storage):
            await storage.ensure_bucket()
        add_readiness_check(app, "storage", storage.ping)
        signing_key = settings.recording_signing_key.get_secret_value().encode()
        if not signing_key:
            log.warning("recording.ephemeral_signing_key")
            signing_key = secrets.token_bytes(32)
        app.state.signing_key = signing_key
        switch: SwitchRecorder | None = None
        reconcile_box: list[Callable[[InboundClient], Awaitable[None]]] = []

        async def on_reconnect(client: InboundClient, _info: object) -> None:
            for reconcile in reconcile_box:
                await reconcile(client)

        if settings.recording_esl:
            client = InboundClient.from_settings(
                settings, name="recording-esl", on_reconnect=on_reconnect
            )
            stack.push_async_callback(client.close)
            switch = SwitchRecorder(client)
        mover_wake, sweeper_wake = asyncio.Event(), asyncio.Event()
        relay_box: list[OutboxRelay] = []

        def committed() -> None:
            mover_wake.set()
            for relay in relay_box:
                relay.notify()

        recorder = Recorder(
            db=db,
            storage=storage,
            keyring=Keyring(settings.keks(), settings.recording_kek_id),
            switch=switch,
            tenant=settings.tenant,
            switch_dir=settings.recording_switch_dir,
            default_policy=Policy(
                RecordMode(settings.recording_default_mode),
                settings.recording_default_share,
                settings.record_stereo,
            ),
            clock=now,
            first_retry=settings.recording_move_first_retry,
            max_retry=settings.recording_move_max_retry,
            attempts=settings.recording_move_attempts,
            on_commit=committed,
        )
        app.state.recorder = recorder
        app.state.qa = QaDesk(db, tenant=settings.tenant, clock=now, on_commit=committed)
        if switch is not None:

            async def on_stop(uuid: str, path: str) -> None:
                await recorder.on_record_stop(uuid, path)
                mover_wake.set()

            async def on_hangup(uuid: str) -> None:
                await recorder.on_ended(uuid)
                mover_wake.set()

            switch.on_record_stop(on_stop)
            switch.on_hangup(on_hangup)

            async def reconcile(client: InboundClient) -> None:
                live = {row.uuid for row in await client.show_channels()}
                finished = await recorder.reconcile(live)
                if finished:
                    log.info("recording.reconciled", finished=finished)

            reconcile_box.append(reconcile)
            attached = asyncio.Event()
            attaching = asyncio.create_task(
                _attach(switch, reconcile, attached), name="recording-attach"
            )
            stack.push_async_callback(_cancel, attaching)

            async def switch_attached() -> None:
                if not attached.is_set():
                    raise RuntimeError("not yet connected to FreeSWITCH (retrying)")

            add_readiness_check(app, "freeswitch", switch_attached)
        bus = await open_bus(app, stack, settings, service="recording")
        relay = OutboxRelay(db, bus, recorder.outbox)
        relay_box.append(relay)
        relay.start()
        stack.push_async_callback(relay.stop)
        registry = app.state.registry
        moves = Counter(
            "cc_recording_moves",
            "Attempts to move a finished recording to storage, by result.",
            ["result"],
            registry=registry,
        )
        app.state.playbacks = Counter(
            "cc_recording_playbacks",
            "Recordings served through signed links, by action.",
            ["action"],
            registry=registry,
        )
        for result in ("stored", "flagged", "failed", "queued"):
            moves.labels(result)

        async def move_due() -> None:
            for outcome in await recorder.move_due():
                if outcome.result != "skipped":
                    moves.labels(outcome.result).inc()

        tasks = [
            asyncio.create_task(
                _loop("recording.mover", settings.recording_move_poll, move_due, mover_wake),
                name="recording-mover",
            ),
            asyncio.create_task(
                _loop(
                    "recording.sweep",
                    settings.recording_sweep_interval,
                    recorder.sweep,
                    sweeper_wake,
                ),
                name="recording-sweep",
            ),
        ]

        async def stop_tasks() -> None:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        if switch is not None:
            live_switch = switch.client

            async def reconcile_now() -> None:
                for reconcile in reconcile_box:
                    await reconcile(live_switch)

            tasks.append(
                asyncio.create_task(
                    _loop("recording.reconcile", RECONCILE_SECONDS, reconcile_now, asyncio.Event()),
                    name="recording-reconcile",
                )
            )
        stack.push_async_callback(stop_tasks)
        tenant = settings.tenant
        subscription = await bus.consume(
            settings.consumer_queue,
            bindings=[f"{tenant}.call.offered", f"{tenant}.call.answered", f"{tenant}.call.ended"],
            handler=recorder.handle,
        )
        stack.push_async_callback(subscription.cancel)
        app.state.processed_table = kit.processed_events

    return create_service_app(
        settings=settings,
        title="recording",
        startup=startup,
        routers=[router, qa_router],
        open_routers=[media_router],
    )


async def _attach(
    switch: SwitchRecorder,
    reconcile: Callable[[InboundClient], Awaitable[None]],
    attached: asyncio.Event,
) -> None:
    """Connect to FreeSWITCH, subscribe and reconcile, retrying until the switch answers.

    The service starts (and answers /healthz) before the switch is reachable, as it must when
    both start together; recordings are started only once this has succeeded.
    """
    delay = 0.5
    while True:
        try:
            await switch.client.connect()
            await switch.subscribe()
            await reconcile(switch.client)
        except Exception as exc:  # unreachable, refused or lost again: keep trying
            log.warning("recording.freeswitch_unreachable", error=repr(exc), retry_in=delay)
            await switch.client.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        attached.set()
        return


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

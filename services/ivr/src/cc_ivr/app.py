"""The ivr service's FastAPI app: resources opened in the lifespan, the outbound socket served."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from cc_common.app import create_service_app, open_bus, open_database
from cc_common.db import Outbox, OutboxRelay
from cc_common.esl import OutboundServer
from cc_common.logging import get_logger
from cc_ivr.adapters.crm import CrmClient
from cc_ivr.adapters.db import SCHEMA, kit
from cc_ivr.adapters.recording import RecordingPauser
from cc_ivr.adapters.routing import RoutingCallbacks
from cc_ivr.adapters.store import FlowStore
from cc_ivr.api import router
from cc_ivr.core.breaker import CircuitBreaker
from cc_ivr.flows import FlowDirectory, install_flow_dir
from cc_ivr.runner import IvrRunner
from cc_ivr.settings import IvrSettings
from cc_ivr.telemetry import IvrMetrics

log = get_logger(__name__)


def create_app(settings: IvrSettings) -> FastAPI:
    """Build the ivr app; nothing is opened until the lifespan starts."""

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        db = await open_database(app, stack, settings, schema=SCHEMA, package="cc_ivr")
        bus = await open_bus(app, stack, settings, service="ivr")
        outbox = Outbox(kit.outbox)
        relay = OutboxRelay(db, bus, outbox)
        relay.start()
        stack.push_async_callback(relay.stop)
        store = FlowStore(db, outbox, settings.tenant, known_queues=settings.queue_names())
        app.state.flow_files = await load_flow_files(store, settings.flows_dir)
        token = settings.service_token.get_secret_value() if settings.service_token else ""
        crm_token = settings.crm_token.get_secret_value() if settings.crm_token else ""
        breaker = CircuitBreaker(settings.crm_failures_to_open, settings.crm_open_seconds)
        crm = CrmClient(settings.crm_url, token=crm_token, breaker=breaker)
        stack.push_async_callback(crm.close)
        recording = RecordingPauser(settings.recording_url, token=token)
        stack.push_async_callback(recording.close)
        if getattr(app.state, "ivr_metrics", None) is None:  # once per app, not per lifespan
            app.state.ivr_metrics = IvrMetrics(app.state.registry)
        metrics: IvrMetrics = app.state.ivr_metrics
        runner = IvrRunner(
            tenant=settings.tenant,
            store=store,
            crm=crm,
            db=db,
            outbox=outbox,
            relay=relay,
            voicemail_dir=settings.voicemail_dir,
            callbacks=RoutingCallbacks(
                settings.routing_url,
                token=token,
                patience_seconds=settings.callback_patience_seconds,
            ),
            survey_target=settings.survey_target,
            metrics=metrics,
            recording=recording,
        )
        stack.push_async_callback(runner.close)
        server = OutboundServer(runner.handle, settings.ivr_socket_host, settings.ivr_socket_port)
        await server.start()
        stack.push_async_callback(server.close)
        app.state.flows, app.state.relay, app.state.runner = store, relay, runner
        app.state.outbound = server

    return create_service_app(settings=settings, title="ivr", startup=startup, routers=[router])


async def load_flow_files(store: FlowStore, directory: str) -> FlowDirectory:
    """Make the flows of ``CC_FLOWS_DIR`` live; log every file that did not load, and why."""
    if not directory:
        return FlowDirectory()
    found = await install_flow_dir(store, Path(directory))
    for error in found.errors:
        log.error(
            "ivr.flow_file_invalid",
            file=str(error.path),
            line=error.line,
            node=error.node,
            field=error.field,
            message=error.message,
        )
    log.info(
        "ivr.flow_files_loaded",
        directory=directory,
        loaded=[item.flow.name for item in found.flows],
        rejected=[str(path) for path in found.rejected],
    )
    return found

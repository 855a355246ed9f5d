"""The flow runner: FreeSWITCH's ``socket <ivr>:8084 async full`` connects here, once per call.

Each call gets one task (the outbound server's) that resolves the flow bound to the dialled
number, walks it (:class:`~cc_ivr.core.FlowRun`) and carries out each command on the channel
with ``sendmsg``. A caller who hangs up ends the task at the next step and is counted as
abandoned in the IVR. When the flow queues the call, the runner sets ``cc_queue``,
``cc_priority``, ``cc_skills``, ``cc_customer_id`` and closes the socket; the dialplan (which set
``socket_resume=true``) goes on to ``park`` and routing takes the call from there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cc_common.db import Database, Outbox, OutboxRelay
from cc_common.esl import EslError, EslEvent, OutboundSession
from cc_common.logging import get_logger
from cc_ivr.adapters.crm import CrmClient
from cc_ivr.adapters.recording import PauseFailed, RecordingPauser
from cc_ivr.adapters.routing import CallbackOutcome, RoutingCallbacks
from cc_ivr.adapters.store import ActiveFlow, FlowNotFound, FlowStore
from cc_ivr.core import (
    CollectDigits,
    Command,
    Finish,
    Flow,
    FlowRun,
    InputRefused,
    LookupCustomer,
    PlayFiles,
    RecordMessage,
    SayValue,
    SpeakText,
)
from cc_ivr.core.survey import SurveyRun
from cc_ivr.telemetry import IvrMetrics
from cc_proto import make_event
from cc_proto.envelope import EventData
from cc_proto.events import CallIvrCompleted, CallIvrStarted, SurveyCompleted

log = get_logger(__name__)
T = TypeVar("T")

DIGITS_VARIABLE = "cc_ivr_digits"
ANY_DTMF = "^[0-9*#]+$"
INTER_DIGIT_MS = 3000
SAY = {
    "number": ("number", "pronounced"),
    "digits": ("number", "iterated"),
    "money": ("currency", "pronounced"),
    "date": ("current_date", "pronounced"),
}


class CallerGone(Exception):
    """The caller hung up (or the socket closed) while the flow was running."""


@dataclass
class RunnerStats:
    """What one runner has done since it started (for /metrics and the benchmark)."""

    active: int = 0
    started: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    unbound: int = 0
    callbacks: dict[str, int] = field(default_factory=dict)


class IvrRunner:
    """Runs flows on outbound-socket sessions."""

    def __init__(
        self,
        *,
        tenant: str,
        store: FlowStore,
        crm: CrmClient,
        db: Database,
        outbox: Outbox,
        relay: OutboxRelay | None = None,
        voicemail_dir: str = "${recordings_dir}",
        callbacks: RoutingCallbacks | None = None,
        survey_target: str = "cc_survey:XML:contact-center",
        random: Callable[[], float] = _random.random,
        metrics: IvrMetrics | None = None,
        recording: RecordingPauser | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.tenant = tenant
        self.store = store
        self.crm = crm
        self.db = db
        self.outbox = outbox
        self.relay = relay
        self.voicemail_dir = voicemail_dir.rstrip("/")
        self.callbacks = callbacks
        self._requests: set[asyncio.Task[CallbackOutcome]] = set()
        self.clock = clock
        self.survey_target = survey_target
        self.random = random
        self.metrics = metrics
        self.recording = recording or RecordingPauser("")
        self.stats = RunnerStats()

    async def handle(self, session: OutboundSession) -> None:
        """Serve one call from connect to the end of its flow."""
        data = session.channel_data
        call_id = session.unique_id
        caller = data.get("Caller-Caller-ID-Number") or ""
        dialed = data.variable("cc_dialed_number") or data.get("Caller-Destination-Number") or ""
        if data.variable("cc_ivr_mode") == "survey":
            await self._survey(session, call_id)
            return
        active = await self.store.resolve(dialed)
        if active is None:
            self.stats.unbound += 1
            log.warning("ivr.no_flow_for_number", dialed=dialed)
            return  # the dialplan parks the call in the default queue
        self.stats.started += 1
        self.stats.active += 1
        if self.metrics is not None:
            self.metrics.active.inc()
        try:
            await self._run(session, active, call_id, caller, dialed)
        finally:
            self.stats.active -= 1
            if self.metrics is not None:
                self.metrics.active.dec()

    async def _run(
        self, session: OutboundSession, active: ActiveFlow, call_id: str, caller: str, dialed: str
    ) -> None:
        gone = asyncio.Event()
        session.on("CHANNEL_HANGUP", lambda _e: gone.set())
        await session.myevents()
        await session.linger()
        run = FlowRun(
            active.flow,
            call_id=call_id,
            caller=caller,
            dialed=dialed,
            started_at=self.clock(),
            survey_draw=self.random(),
        )
        await self._publish(
            call_id,
            CallIvrStarted(
                flow=active.name,
                flow_version=active.version,
                caller_number=caller or None,
                dialed_number=dialed or None,
            ),
        )
        finish: Finish | None = None
        try:
            await self._guard(session, gone, self._app(session, "answer"))
            command: Command = run.start(self.clock())
            while not isinstance(command, Finish):
                result = await self._guard(session, gone, self._do(session, command, call_id))
                command = run.resume(result, self.clock())
            finish = command
            await self._guard(session, gone, self._leave(session, finish, call_id, active))
        except CallerGone:
            run.abandon(self.clock())
            finish = None
        outcome = run.outcome or "abandoned"
        self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
        if self.metrics is not None:
            self.metrics.completed(active.name, outcome, run.seconds)
        log.info("ivr.completed", flow=active.name, outcome=outcome, path=run.path)
        await self._publish(call_id, _completed(active, run, finish, self.tenant))

    # ----- carrying out commands

    async def _guard(self, session: OutboundSession, gone: asyncio.Event, work: Awaitable[T]) -> T:
        """Run one step, or raise CallerGone as soon as the caller hangs up."""
        if gone.is_set() or not session.is_open:
            _discard(work)
            raise CallerGone
        step = asyncio.ensure_future(work)
        hangup = asyncio.ensure_future(gone.wait())
        try:
            done, _ = await asyncio.wait({step, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
        if step not in done:
            step.cancel()
            raise CallerGone
        try:
            value = step.result()
        except EslError as exc:
            raise CallerGone from exc
        if gone.is_set():
            raise CallerGone
        return value

    async def _app(self, session: OutboundSession, app: str, arg: str | None = None) -> EslEvent:
        done = await session.execute(app, arg, wait=True)
        assert done is not None
        if _hung_up(done):
            raise CallerGone
        return done

    async def _do(self, session: OutboundSession, command: Command, call_id: str) -> object:
        if isinstance(command, PlayFiles):
            await self._app(session, "playback", _file_string(command.files))
            return None
        if isinstance(command, SayValue):
            kind, method = SAY[command.kind]
            value = command.value
            if command.kind == "date":
                day = dt.datetime.fromisoformat(command.value).replace(hour=12, tzinfo=dt.UTC)
                value = str(int(day.timestamp()))
            await self._app(session, "say", f"{command.language} {kind} {method} {value}")
            return None
        if isinstance(command, SpeakText):
            text = command.text.replace("|", " ")
            await self._app(session, "speak", f"flite|kal|{text}")
            return None
        if isinstance(command, CollectDigits):
            if command.sensitive:
                return await self._collect_unrecorded(session, command, call_id)
            return await self._collect(session, command)
        if isinstance(command, LookupCustomer):
            result = await self.crm.lookup(command)
            if self.metrics is not None:
                self.metrics.lookups.labels(result.status).inc()
            return result
        if isinstance(command, RecordMessage):
            await self._app(session, "playback", _file_string(command.files))
            # FreeSWITCH's record does not make directories (it hangs the call up instead), so
            # messages sit flat in a directory that exists, named by tenant and call.
            path = f"{self.voicemail_dir}/{voicemail_name(self.tenant, call_id)}"
            await self._app(session, "set", f"cc_voicemail_file={path}")
            await self._app(session, "record", f"{path} {command.max_seconds} 200 5")
            return None
        raise TypeError(f"unknown command {command!r}")

    async def _collect(self, session: OutboundSession, ask: CollectDigits) -> str:
        await self._app(session, "unset", DIGITS_VARIABLE)
        terminators = ask.terminators or "none"
        arg = (
            f"{ask.min_digits} {ask.max_digits} 1 {ask.timeout_ms} {terminators} "
            f"{_file_string(ask.files)} silence_stream://250 {DIGITS_VARIABLE} {ANY_DTMF} "
            f"{INTER_DIGIT_MS}"
        )
        done = await self._app(session, "play_and_get_digits", arg)
        return done.variable(DIGITS_VARIABLE) or ""

    async def _collect_unrecorded(
        self, session: OutboundSession, ask: CollectDigits, call_id: str
    ) -> str | InputRefused:
        """Collect card data with the call's recording paused, or not at all (PCI DSS)."""
        try:
            paused = await self.recording.pause(call_id)
        except PauseFailed as exc:
            log.warning("ivr.sensitive_input_refused", call_id=call_id, reason=str(exc))
            if self.metrics is not None:
                self.metrics.sensitive.labels("refused").inc()
            return InputRefused(str(exc))
        if self.metrics is not None:
            self.metrics.sensitive.labels("paused" if paused else "unrecorded").inc()
        try:
            digits = await self._collect(session, ask)
            # Off the channel at once: its variables go into every later event and the CDR.
            await self._app(session, "unset", DIGITS_VARIABLE)
            return digits
        finally:
            if paused:  # also when the caller hung up mid-way (the task is cancelled then)
                await asyncio.shield(self.recording.resume(call_id))

    async def _leave(
        self, session: OutboundSession, finish: Finish, call_id: str, active: ActiveFlow
    ) -> None:
        variables = dict(finish.variables)
        variables.update(
            cc_ivr_outcome=finish.outcome,
            cc_ivr_flow=active.name,
            cc_ivr_flow_version=str(active.version),
        )
        if variables.get("cc_survey") == "true":  # the agent's hang-up sends the caller there
            variables["transfer_after_bridge"] = self.survey_target
        for name, value in variables.items():
            await self._app(session, "set", f"{name}={value}")
        if finish.transfer_to is not None:
            number, context = finish.transfer_to
            await session.execute("transfer", f"{number} XML {context}")
        elif finish.hangup:
            await session.hangup("NORMAL_CLEARING")
        if finish.outcome == "callback" and finish.callback_number:
            request = asyncio.get_running_loop().create_task(
                self._request_callback(call_id, finish.callback_number)
            )
            self._requests.add(request)  # held, or the loop may drop it half-way
            request.add_done_callback(self._requests.discard)

    async def _request_callback(self, call_id: str, number: str) -> CallbackOutcome:
        """Ask routing to turn the parked caller into a callback that keeps their place.

        Whatever routing answers, the caller is not lost: they are parked in the callback's
        queue, so a request routing refuses (or never gets) leaves them waiting in their place
        to be answered in turn; the log and ``cc_ivr_callback_requests_total`` say so.
        """
        if self.callbacks is None:
            outcome = CallbackOutcome("not_configured", 0)
        else:
            outcome = await self.callbacks.request(call_id, number)
        self.stats.callbacks[outcome.result] = self.stats.callbacks.get(outcome.result, 0) + 1
        if self.metrics is not None:
            self.metrics.callbacks.labels(outcome.result).inc()
        fields = {"call_id": call_id, "attempts": outcome.attempts, "status": outcome.status_code}
        if outcome.result == "booked":
            log.info("ivr.callback_booked", **fields)
        else:  # the caller stays in the queue as a waiting call
            log.warning(
                "ivr.callback_not_taken", result=outcome.result, detail=outcome.detail, **fields
            )
        return outcome

    async def close(self) -> None:
        """Stop the callback requests still retrying (their callers stay in the queue)."""
        for request in list(self._requests):
            request.cancel()
        await asyncio.gather(*self._requests, return_exceptions=True)

    # ----- the post-call survey

    async def _survey(self, session: OutboundSession, call_id: str) -> None:
        """Ask the survey of the flow the caller came through; publish what was answered."""
        data = session.channel_data
        name = data.variable("cc_ivr_flow") or ""
        version = data.variable("cc_ivr_flow_version") or ""
        try:
            _, document = await self.store.document(name, int(version))
            survey = SurveyRun(Flow.model_validate(document), data.variable("cc_language") or "")
        except (FlowNotFound, ValueError) as exc:
            log.warning("ivr.survey_unavailable", flow=name, version=version, error=str(exc))
            await session.hangup("NORMAL_CLEARING")
            return
        gone = asyncio.Event()
        session.on("CHANNEL_HANGUP", lambda _e: gone.set())
        await session.myevents()
        await session.linger()
        try:
            question = survey.ask()
            while question is not None:
                survey.answer(await self._guard(session, gone, self._collect(session, question)))
                question = survey.ask()
            if survey.thanks():
                await self._guard(
                    session, gone, self._do(session, PlayFiles(survey.thanks()), call_id)
                )
            await self._guard(session, gone, session.hangup("NORMAL_CLEARING"))
        except CallerGone:
            log.info("ivr.survey_left_early", answered=sorted(survey.answers))
        if self.metrics is not None:
            for key in survey.answers:
                self.metrics.surveys.labels(key).inc()
        if survey.answers:  # partial answers count for the questions answered
            completed = SurveyCompleted(
                queue=data.variable("cc_survey_queue") or None,
                csat=survey.csat,
                nps=survey.nps,
                fcr=survey.fcr,
            )
            await self._publish(call_id, completed, agent_id=data.variable("cc_agent"))

    # ----- events

    async def _publish(self, call_id: str, data: EventData, *, agent_id: str | None = None) -> None:
        event = make_event(data, tenant=self.tenant, call_id=call_id, agent_id=agent_id)
        async with self.db.session() as session:
            await self.outbox.add(session, event)
        if self.relay is not None:
            self.relay.notify()


def voicemail_name(tenant: str, call_id: str) -> str:
    """Return the file name of the message left on a call."""
    return f"voicemail-{tenant}-{call_id}.wav"


def _completed(
    active: ActiveFlow, run: FlowRun, finish: Finish | None, tenant: str
) -> CallIvrCompleted:
    variables = dict(finish.variables) if finish is not None else {}
    priority = variables.get("cc_priority", "")
    skills = [s for s in variables.get("cc_skills", "").split(",") if s]
    voicemail = run.variables.get("voicemail") == "true"
    return CallIvrCompleted(
        flow=active.name,
        flow_version=active.version,
        outcome=run.outcome or "abandoned",
        queue=finish.queue if finish is not None else None,
        duration_seconds=run.seconds,
        selections=list(run.choices),
        customer_id=variables.get("cc_customer_id") or run.variables.get("customer_id"),
        path=list(run.path),
        language=run.language,
        priority=int(priority) if priority.isdigit() else None,
        skills=skills,
        voicemail_file=voicemail_name(tenant, run.call_id) if voicemail else None,
    )


def _file_string(files: tuple[str, ...]) -> str:
    return files[0] if len(files) == 1 else "file_string://" + "!".join(files)


def _hung_up(event: EslEvent) -> bool:
    return event.get("Answer-State") == "hangup" or event.get("Channel-State") in (
        "CS_HANGUP",
        "CS_REPORTING",
        "CS_DESTROY",
    )


def _discard(work: Any) -> None:
    if asyncio.iscoroutine(work):
        work.close()

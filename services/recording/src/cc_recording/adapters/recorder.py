"""The recording service's work: start by policy, pause for PCI, move to storage, retain, erase.

State lives in PostgreSQL, so a restart loses nothing: a pause survives it (the switch keeps
masking and the open stretch is in the row), finished recordings wait in the table for their
move, and a storage outage only pushes the next attempt back. Every change that others should
know about is written to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import Row, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, Outbox, claim_event, upsert
from cc_common.logging import get_logger
from cc_proto import Envelope, EventData, make_event
from cc_proto import events as ev
from cc_recording.adapters import crypto
from cc_recording.adapters.db import audit, calls, kit, policies, recordings, retention
from cc_recording.adapters.storage import Storage, StorageError
from cc_recording.core import retention as ret
from cc_recording.core.policy import Policy, RecordMode, decide
from cc_recording.core.recording import (
    Pause,
    Status,
    Transition,
    close_pauses,
    next_retry,
    offset,
)
from cc_recording.core.recording import pause as pause_stretch
from cc_recording.core.recording import resume as resume_stretch

log = get_logger(__name__)

CONSUMER = "recording"
WAV_HEADER = 44


class Switch(Protocol):
    """What the recorder needs from FreeSWITCH."""

    async def start(self, uuid: str, path: str, *, stereo: bool) -> None: ...
    async def mask(self, uuid: str, path: str) -> None: ...
    async def unmask(self, uuid: str, path: str) -> None: ...


class NotFound(Exception):
    """No such recording for this tenant."""


class Held(Exception):
    """The recording is under legal hold and cannot be deleted."""


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    """What one move attempt did: stored, flagged (with reason) or queued (storage away)."""

    recording_id: str
    result: str
    reason: str | None = None


class Recorder:
    """Everything the recording service does to recordings."""

    def __init__(
        self,
        *,
        db: Database,
        storage: Storage,
        keyring: crypto.Keyring,
        switch: Switch | None,
        tenant: str,
        switch_dir: str,
        default_policy: Policy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        first_retry: float = 1.0,
        max_retry: float = 300.0,
        attempts: int = 10,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.keyring = keyring
        self.switch = switch
        self.tenant = tenant
        self.switch_dir = Path(switch_dir).resolve()
        self.default_policy = default_policy
        self.now = clock
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.attempts = attempts
        self.outbox = Outbox(kit.outbox)
        self._notify = on_commit

    # --- events ---------------------------------------------------------------------------------

    async def _event(
        self,
        session: AsyncSession,
        data: EventData,
        *,
        call_id: str | None,
        agent_id: str | None = None,
    ) -> None:
        event = make_event(
            data, tenant=self.tenant, occurred_at=self.now(), call_id=call_id, agent_id=agent_id
        )
        await self.outbox.add(session, event)

    async def _audit(
        self,
        session: AsyncSession,
        action: str,
        actor: str,
        *,
        recording_id: str | None = None,
        call_id: str | None = None,
        **detail: Any,
    ) -> None:
        await session.execute(
            audit.insert().values(
                tenant=self.tenant,
                recording_id=recording_id,
                call_id=call_id,
                action=action,
                actor=actor,
                detail=detail,
                at=self.now(),
            )
        )

    async def handle(self, event: Envelope[EventData]) -> None:
        """Bus handler: the calls' events that matter to recording."""
        if event.tenant != self.tenant:
            return
        data = event.data
        if isinstance(data, ev.CallOffered):
            await self.on_offered(event, data)
        elif isinstance(data, ev.CallAnswered):
            await self.on_answered(event, data)
        elif isinstance(data, ev.CallEnded) and event.call_id:
            await self.on_ended(event.call_id, event.id)

    async def on_offered(self, event: Envelope[EventData], data: ev.CallOffered) -> None:
        """Remember the caller's number for erasure by customer."""
        if not event.call_id:
            return
        async with self.db.session() as session:
            values = {
                "tenant": self.tenant,
                "call_id": event.call_id,
                "caller_number": data.caller_number,
                "customer_id": data.customer_id,
                "queue": data.queue,
                "seen_at": self.now(),
            }
            await upsert(session, calls, values, ["tenant", "call_id"])

    # --- policy ---------------------------------------------------------------------------------

    async def set_policy(self, scope: str, name: str, policy: Policy, actor: str) -> None:
        """Store a queue's or an agent's policy."""
        async with self.db.session() as session:
            values = {
                "tenant": self.tenant,
                "scope": scope,
                "name": name,
                "mode": policy.mode.value,
                "share": policy.share,
                "stereo": policy.stereo,
                "updated_at": self.now(),
            }
            await upsert(session, policies, values, ["tenant", "scope", "name"])
            await self._audit(
                session, "policy_set", actor, scope=scope, name=name, mode=policy.mode.value
            )

    async def get_policy(self, session: AsyncSession, scope: str, name: str) -> Policy | None:
        """Return a stored policy, or None."""
        row = (
            await session.execute(
                select(policies).where(
                    policies.c.tenant == self.tenant,
                    policies.c.scope == scope,
                    policies.c.name == name,
                )
            )
        ).first()
        if row is None:
            return None
        return Policy(RecordMode(row.mode), row.share, row.stereo)

    # --- start, pause, resume, stop -------------------------------------------------------------

    def switch_path(self, recording_id: str, at: datetime) -> str:
        """Where FreeSWITCH writes the file (a folder per tenant and day)."""
        day = at.strftime("%Y/%m/%d")
        return str(self.switch_dir / self.tenant / day / f"{recording_id}.wav")

    async def on_answered(self, event: Envelope[Any], data: ev.CallAnswered) -> str | None:
        """The bridge is confirmed: record the caller's leg if the policies say so."""
        call_id = event.call_id
        if not call_id:
            return None
        async with self.db.session() as session:
            if not await claim_event(
                session, table=kit.processed_events, consumer=CONSUMER, event_id=event.id
            ):
                return None
            active = await session.execute(
                select(recordings.c.id).where(
                    recordings.c.tenant == self.tenant,
                    recordings.c.call_id == call_id,
                    recordings.c.status == Status.RECORDING.value,
                )
            )
            if active.first() is not None:
                return None  # a transfer: the recording on the caller's leg carries on
            queue_policy = await self.get_policy(session, "queue", data.queue)
            agent_policy = (
                await self.get_policy(session, "agent", event.agent_id) if event.agent_id else None
            )
            decision = decide(
                call_id, queue=queue_policy, agent=agent_policy, default=self.default_policy
            )
            if not decision.record:
                return None
            caller = (
                await session.execute(
                    select(calls.c.caller_number).where(
                        calls.c.tenant == self.tenant, calls.c.call_id == call_id
                    )
                )
            ).scalar_one_or_none()
            recording_id = str(uuid.uuid4())
            started = self.now()
            path = self.switch_path(recording_id, started)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            status, reason = Status.RECORDING, None
            if self.switch is not None:
                try:
                    await self.switch.start(call_id, path, stereo=decision.stereo)
                except Exception as exc:  # the channel is gone or the switch refused
                    status, reason = Status.FAILED, f"start_failed: {exc}"[:500]
            await session.execute(
                recordings.insert().values(
                    id=recording_id,
                    tenant=self.tenant,
                    call_id=call_id,
                    agent_id=event.agent_id,
                    agent_leg_uuid=data.agent_leg_uuid,
                    queue=data.queue,
                    caller_number=caller,
                    stereo=decision.stereo,
                    policy_source=decision.source,
                    status=status.value,
                    switch_path=path,
                    started_at=started,
                    pauses=[],
                    legal_hold=False,
                    attempts=0,
                    reason=reason,
                )
            )
            if status is Status.RECORDING:
                await self._event(
                    session,
                    ev.RecordingStarted(recording_id=recording_id, channel_uuid=call_id),
                    call_id=call_id,
                    agent_id=event.agent_id,
                )
            else:
                await self._event(
                    session,
                    ev.RecordingFlagged(
                        recording_id=recording_id, reason="start_failed", attempt=1, final=True
                    ),
                    call_id=call_id,
                    agent_id=event.agent_id,
                )
        self._notify()
        return recording_id

    async def _row(
        self, session: AsyncSession, recording_id: str, *, lock: bool = False
    ) -> Row[Any]:
        query = select(recordings).where(
            recordings.c.tenant == self.tenant, recordings.c.id == recording_id
        )
        if lock and self.db.is_postgres:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        if row is None:
            raise NotFound(recording_id)
        return row

    async def active_for_call(self, call_id: str) -> str:
        """Return the id of the call's recording in progress."""
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(recordings.c.id)
                    .where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.call_id == call_id,
                        recordings.c.status == Status.RECORDING.value,
                    )
                    .order_by(recordings.c.started_at.desc())
                )
            ).first()
        if found is None:
            raise NotFound(call_id)
        return str(found.id)

    async def pause(self, recording_id: str, actor: str, reason: str | None) -> list[Pause]:
        """Mask the recording (PCI): the switch writes silence until resumed."""
        async with self.db.session() as session:
            row = await self._row(session, recording_id, lock=True)
            stretches = [Pause.from_json(p) for p in row.pauses]
            new = pause_stretch(Status(row.status), stretches, row.started_at, self.now(), reason)
            if self.switch is not None:
                await self.switch.mask(row.call_id, row.switch_path)
            await session.execute(
                update(recordings)
                .where(recordings.c.id == recording_id)
                .values(pauses=[p.to_json() for p in new])
            )
            await self._audit(
                session,
                "paused",
                actor,
                recording_id=recording_id,
                call_id=row.call_id,
                reason=reason,
                at_seconds=new[-1].start,
            )
            await self._event(
                session,
                ev.RecordingPaused(recording_id=recording_id, reason=reason),
                call_id=row.call_id,
                agent_id=row.agent_id,
            )
        self._notify()
        return new

    async def resume(self, recording_id: str, actor: str) -> list[Pause]:
        """Unmask the recording: audio is written again."""
        async with self.db.session() as session:
            row = await self._row(session, recording_id, lock=True)
            stretches = [Pause.from_json(p) for p in row.pauses]
            new = resume_stretch(Status(row.status), stretches, row.started_at, self.now())
            if self.switch is not None:
                await self.switch.unmask(row.call_id, row.switch_path)
            await session.execute(
                update(recordings)
                .where(recordings.c.id == recording_id)
                .values(pauses=[p.to_json() for p in new])
            )
            last = new[-1]
            paused = (last.end or last.start) - last.start
            await self._audit(
                session,
                "resumed",
                actor,
                recording_id=recording_id,
                call_id=row.call_id,
                at_seconds=last.end,
            )
            await self._event(
                session,
                ev.RecordingResumed(recording_id=recording_id, paused_seconds=paused),
                call_id=row.call_id,
                agent_id=row.agent_id,
            )
        self._notify()
        return new

    async def on_record_stop(self, channel_uuid: str, path: str) -> None:
        """FreeSWITCH closed the file: it can be moved now."""
        await self._finish(
            and_(recordings.c.call_id == channel_uuid, recordings.c.switch_path == path), 0.0
        )

    async def on_ended(self, call_id: str, event_id: uuid.UUID | None = None) -> None:
        """The call is over: whatever is still recording is finished (if RECORD_STOP was missed)."""
        await self._finish(recordings.c.call_id == call_id, self.first_retry)

    async def reconcile(self, live: set[str]) -> int:
        """Finish recordings whose call the switch no longer has (events missed while away)."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(recordings.c.call_id).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.status == Status.RECORDING.value,
                    )
                )
            ).all()
        gone = {row.call_id for row in rows} - live
        for call_id in gone:
            await self._finish(recordings.c.call_id == call_id, 0.0)
        if gone:
            self._notify()
        return len(gone)

    async def _finish(self, where: Any, delay: float) -> None:
        now = self.now()
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(recordings).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.status == Status.RECORDING.value,
                        where,
                    )
                )
            ).all()
            for row in rows:
                duration = offset(row.started_at, now)
                stretches = close_pauses([Pause.from_json(p) for p in row.pauses], duration)
                await session.execute(
                    update(recordings)
                    .where(recordings.c.id == row.id, recordings.c.status == Status.RECORDING.value)
                    .values(
                        status=Status.FINISHED.value,
                        ended_at=now,
                        duration_seconds=duration,
                        pauses=[p.to_json() for p in stretches],
                        next_attempt_at=now + timedelta(seconds=delay),
                    )
                )

    # --- moving to storage ----------------------------------------------------------------------

    async def move_due(self, limit: int = 50) -> list[MoveOutcome]:
        """Move every finished (or flagged) recording whose next attempt is due."""
        now = self.now()
        async with self.db.session() as session:
            query = (
                select(recordings.c.id)
                .where(
                    recordings.c.tenant == self.tenant,
                    recordings.c.status.in_([Status.FINISHED.value, Status.FLAGGED.value]),
                    recordings.c.next_attempt_at <= now,
                )
                .order_by(recordings.c.next_attempt_at)
                .limit(limit)
            )
            ids = [row.id for row in (await session.execute(query)).all()]
        outcomes = []
        for recording_id in ids:
            outcomes.append(await self.move(recording_id))
        return outcomes

    async def move(self, recording_id: str) -> MoveOutcome:
        """Move one recording to storage, verify it there, then remove the switch's copy."""
        async with self.db.session() as session:
            row = await self._row(session, recording_id, lock=True)
            if row.status not in (Status.FINISHED.value, Status.FLAGGED.value):
                return MoveOutcome(recording_id, "skipped", row.status)
            source = Path(row.switch_path)
            try:
                data = await asyncio.to_thread(source.read_bytes)
            except FileNotFoundError:
                return await self._flag(session, row, "file_missing")
            except OSError as exc:
                return await self._flag(session, row, f"file_unreadable: {exc}")
            if len(data) <= WAV_HEADER:
                return await self._flag(session, row, "file_empty")
            digest = hashlib.sha256(data).hexdigest()
            key = f"{self.tenant}/{row.started_at:%Y/%m/%d}/{recording_id}.wav"
            kek_id, wrapped, sealed = None, None, data
            if self.keyring.enabled:
                data_key, wrapped_key = self.keyring.new_data_key(recording_id)
                kek_id, wrapped = wrapped_key.kek_id, wrapped_key.blob
                sealed = crypto.encrypt(data_key, recording_id, data)
                key += ".enc"
            try:
                await self.storage.put(key, sealed)
                stored = await self.storage.get(key)
            except StorageError as exc:
                return await self._queue(session, row, str(exc))
            back = stored
            if wrapped is not None and kek_id is not None:
                try:
                    back = crypto.decrypt(data_key, recording_id, len(data), stored)
                except crypto.CryptoError:
                    back = b""
            if len(stored) != len(sealed) or hashlib.sha256(back).hexdigest() != digest:
                with contextlib.suppress(StorageError):
                    await self.storage.delete(key)
                return await self._flag(session, row, "checksum_mismatch")
            now = self.now()
            days = await self._retention_days(session, row.queue)
            await session.execute(
                update(recordings)
                .where(recordings.c.id == recording_id)
                .values(
                    status=Status.STORED.value,
                    size_bytes=len(data),
                    sha256=digest,
                    backend=self.storage.backend,
                    storage_key=key,
                    kek_id=kek_id,
                    wrapped_key=wrapped,
                    stored_at=now,
                    expires_at=ret.expires_at(now, days),
                    next_attempt_at=None,
                    reason=None,
                )
            )
            await self._event(
                session,
                ev.RecordingCompleted(
                    recording_id=recording_id,
                    uri=f"{self.storage.backend}:{key}",
                    duration_seconds=row.duration_seconds or 0.0,
                    size_bytes=len(data),
                ),
                call_id=row.call_id,
                agent_id=row.agent_id,
            )
        # Only now, with the verified copy committed, does the switch's copy go.
        await asyncio.to_thread(source.unlink, True)
        self._notify()
        return MoveOutcome(recording_id, "stored")

    async def _flag(self, session: AsyncSession, row: Row[Any], reason: str) -> MoveOutcome:
        retry = next_retry(
            row.attempts, first=self.first_retry, maximum=self.max_retry, limit=self.attempts
        )
        status = Status.FAILED if retry.exhausted else Status.FLAGGED
        await session.execute(
            update(recordings)
            .where(recordings.c.id == row.id)
            .values(
                status=status.value,
                attempts=retry.attempts,
                reason=reason,
                next_attempt_at=None
                if retry.exhausted
                else self.now() + timedelta(seconds=retry.delay_seconds),
            )
        )
        await self._event(
            session,
            ev.RecordingFlagged(
                recording_id=row.id, reason=reason, attempt=retry.attempts, final=retry.exhausted
            ),
            call_id=row.call_id,
            agent_id=row.agent_id,
        )
        await self._audit(
            session,
            "flagged",
            "recording",
            recording_id=row.id,
            call_id=row.call_id,
            reason=reason,
            attempt=retry.attempts,
            final=retry.exhausted,
        )
        log.warning("recording.flagged", recording_id=row.id, reason=reason)
        self._notify()
        return MoveOutcome(row.id, status.value, reason)

    async def _queue(self, session: AsyncSession, row: Row[Any], reason: str) -> MoveOutcome:
        """Storage is away: keep the move queued, back off, never give up on it."""
        waits = min(self.max_retry, self.first_retry * 2 ** min(row.attempts, 16))
        await session.execute(
            update(recordings)
            .where(recordings.c.id == row.id)
            .values(
                next_attempt_at=self.now() + timedelta(seconds=waits),
                reason=f"storage_unavailable: {reason}"[:500],
            )
        )
        log.warning("recording.move_queued", recording_id=row.id, reason=reason)
        return MoveOutcome(row.id, "queued", reason)

    async def retry(self, recording_id: str, actor: str) -> None:
        """Put a flagged or failed recording back in the move queue now."""
        async with self.db.session() as session:
            row = await self._row(session, recording_id, lock=True)
            if row.status not in (Status.FLAGGED.value, Status.FAILED.value):
                raise Transition(f"only a flagged or failed recording is retried ({row.status})")
            await session.execute(
                update(recordings)
                .where(recordings.c.id == recording_id)
                .values(status=Status.FLAGGED.value, attempts=0, next_attempt_at=self.now())
            )
            await self._audit(session, "retry", actor, recording_id=recording_id)

    # --- playback ------------------------------------------------------------------------------

    async def stored(self, recording_id: str) -> Row[Any]:
        """Return a stored recording's row; NotFound for anything else."""
        async with self.db.session() as session:
            row = await self._row(session, recording_id)
        if row.status != Status.STORED.value:
            raise NotFound(recording_id)
        return row

    async def read(self, row: Row[Any], start: int, end: int) -> bytes:
        """Return plaintext bytes start..end (inclusive) of a stored recording."""
        if row.wrapped_key is None:
            return await self.storage.get(row.storage_key, start, end)
        key = self.keyring.unwrap(crypto.WrappedKey(row.kek_id, row.wrapped_key), row.id)
        first, sealed_start, sealed_end = crypto.sealed_span(start, end)
        sealed = await self.storage.get(row.storage_key, sealed_start, sealed_end - 1)
        plain = b"".join(crypto.decrypt_chunks(key, row.id, row.size_bytes, first, sealed))
        skip = start - first * crypto.CHUNK
        return plain[skip : skip + end - start + 1]

    async def log_access(self, row: Row[Any], user: str, action: str, span: str | None) -> None:
        """Write who played or downloaded which call, and when."""
        from cc_recording.adapters.db import access_log

        async with self.db.session() as session:
            await session.execute(
                access_log.insert().values(
                    tenant=self.tenant,
                    recording_id=row.id,
                    call_id=row.call_id,
                    user=user,
                    action=action,
                    byte_range=span,
                    at=self.now(),
                )
            )

    async def rewrap(self, actor: str) -> int:
        """Re-wrap every data key under the active KEK (rotation; files stay as they are)."""
        count = 0
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(recordings.c.id, recordings.c.kek_id, recordings.c.wrapped_key).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.wrapped_key.is_not(None),
                        recordings.c.kek_id != self.keyring.active,
                    )
                )
            ).all()
            for row in rows:
                key = self.keyring.unwrap(crypto.WrappedKey(row.kek_id, row.wrapped_key), row.id)
                new = self.keyring.wrap(key, row.id)
                await session.execute(
                    update(recordings)
                    .where(recordings.c.id == row.id)
                    .values(kek_id=new.kek_id, wrapped_key=new.blob)
                )
                count += 1
            await self._audit(
                session, "keys_rewrapped", actor, count=count, kek=self.keyring.active
            )
        return count

    # --- retention, legal hold, erasure --------------------------------------------------------

    async def _retention_days(self, session: AsyncSession, queue: str | None) -> int | None:
        if queue is None:
            return None
        days = await session.execute(
            select(retention.c.days).where(
                retention.c.tenant == self.tenant, retention.c.queue == queue
            )
        )
        value = days.scalar_one_or_none()
        return None if value is None else int(value)

    async def set_retention(self, queue: str, days: int, actor: str) -> int:
        """Set a queue's retention and re-date its stored recordings; return how many moved."""
        async with self.db.session() as session:
            values = {"tenant": self.tenant, "queue": queue, "days": days, "updated_at": self.now()}
            await upsert(session, retention, values, ["tenant", "queue"])
            rows = (
                await session.execute(
                    select(recordings.c.id, recordings.c.stored_at).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.queue == queue,
                        recordings.c.status == Status.STORED.value,
                    )
                )
            ).all()
            for row in rows:
                await session.execute(
                    update(recordings)
                    .where(recordings.c.id == row.id)
                    .values(expires_at=ret.expires_at(row.stored_at, days))
                )
            await self._audit(session, "retention_set", actor, queue=queue, days=days)
        return len(rows)

    async def set_hold(self, recording_id: str, hold: bool, actor: str, reason: str) -> None:
        """Place or lift a legal hold (it overrides retention and blocks erasure)."""
        async with self.db.session() as session:
            row = await self._row(session, recording_id, lock=True)
            await session.execute(
                update(recordings).where(recordings.c.id == recording_id).values(legal_hold=hold)
            )
            await self._audit(
                session,
                "legal_hold_set" if hold else "legal_hold_lifted",
                actor,
                recording_id=recording_id,
                call_id=row.call_id,
                reason=reason,
            )

    async def _delete(
        self,
        session: AsyncSession,
        row: Row[Any],
        reason: Literal["expired", "erased"],
        actor: str,
        why: str,
    ) -> None:
        """Delete the object from storage (and any switch copy), then tombstone the row."""
        if row.storage_key:
            await self.storage.delete(row.storage_key)
            if await self.storage.size(row.storage_key) is not None:
                raise StorageError(f"{row.storage_key} is still in storage after delete")
        await asyncio.to_thread(Path(row.switch_path).unlink, True)
        await session.execute(
            update(recordings)
            .where(recordings.c.id == row.id)
            .values(
                status=Status.DELETED.value,
                deleted_at=self.now(),
                caller_number=None,
                wrapped_key=None,
                storage_key=None,
                next_attempt_at=None,
                reason=reason,
            )
        )
        await self._audit(session, reason, actor, recording_id=row.id, call_id=row.call_id, why=why)
        await self._event(
            session,
            ev.RecordingDeleted(recording_id=row.id, reason=reason),
            call_id=row.call_id,
            agent_id=row.agent_id,
        )

    async def sweep(self) -> list[str]:
        """Delete every recording past its retention and not held; return their ids."""
        now = self.now()
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(recordings).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.status == Status.STORED.value,
                        recordings.c.legal_hold.is_(False),
                        recordings.c.expires_at <= now,
                    )
                )
            ).all()
            gone = []
            for row in rows:
                if ret.is_expired(row.expires_at, row.legal_hold, now):
                    await self._delete(session, row, "expired", "retention", "retention expired")
                    gone.append(str(row.id))
        self._notify()
        return gone

    async def erase(
        self, *, call_id: str | None, caller_number: str | None, actor: str, why: str
    ) -> tuple[list[str], list[str]]:
        """Erase a call's or a customer's recordings; return (erased, held back by legal hold)."""
        if (call_id is None) == (caller_number is None):
            raise ValueError("give exactly one of call_id or caller_number")
        async with self.db.session() as session:
            if call_id is not None:
                match = recordings.c.call_id == call_id
            else:
                known = select(calls.c.call_id).where(
                    calls.c.tenant == self.tenant, calls.c.caller_number == caller_number
                )
                match = or_(
                    recordings.c.caller_number == caller_number, recordings.c.call_id.in_(known)
                )
            rows = (
                await session.execute(
                    select(recordings).where(
                        recordings.c.tenant == self.tenant,
                        recordings.c.status != Status.DELETED.value,
                        match,
                    )
                )
            ).all()
            erased, held = [], []
            for row in rows:
                if row.legal_hold:
                    held.append(str(row.id))
                    continue
                await self._delete(session, row, "erased", actor, why)
                erased.append(str(row.id))
            if caller_number is not None:
                await session.execute(
                    delete(calls).where(
                        calls.c.tenant == self.tenant, calls.c.caller_number == caller_number
                    )
                )
            await self._audit(
                session,
                "erasure_request",
                actor,
                call_id=call_id,
                why=why,
                erased=erased,
                held=held,
                by_number=caller_number is not None,
            )
        self._notify()
        return erased, held

    async def find(self, **filters: Any) -> Sequence[Row[Any]]:
        """Return recordings matching simple equality filters, newest first."""
        async with self.db.session() as session:
            query = select(recordings).where(recordings.c.tenant == self.tenant)
            for name, value in filters.items():
                if value is not None:
                    query = query.where(recordings.c[name] == value)
            return (await session.execute(query.order_by(recordings.c.started_at.desc()))).all()

"""The dialer's persistence: campaigns, lists, resumable CSV imports, do-not-call, dial claims.

A thin adapter: every decision (validation, retries, windows, do-not-call) is the pure core's
(:mod:`cc_routing.dialer`); this module reads and writes rows around it. An upload is kept as
fixed-size chunks; its import commits each batch of leads together with the byte offset it
reached, so a crashed import resumes there, and its leads stay invisible to dialling (status
``importing``) until the whole list is in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, Outbox, dialect_insert, upsert
from cc_proto import make_event
from cc_proto.events import DialerDispositioned
from cc_routing.adapters import dialer_db as t
from cc_routing.dialer.campaigns import (
    CampaignConfig,
    CampaignState,
    Disposed,
    DispositionEffect,
    Outcome,
    change_state,
    dispose,
    next_attempt_at,
)
from cc_routing.dialer.compliance import check_dial, zone
from cc_routing.dialer.lists import (
    Lead,
    ListLayout,
    Record,
    RecordReader,
    RowProblem,
    normalise_number,
    parse_fields,
    validate_row,
)

CHUNK_BYTES = 1 << 20
BATCH_ROWS = 2000
READY, IMPORTING, DIALING, DONE, DNC, EXHAUSTED = (
    "ready",
    "importing",
    "dialing",
    "done",
    "dnc",
    "exhausted",
)


class NotFound(LookupError):
    """No such campaign, list, lead or import."""


@dataclass(frozen=True, slots=True)
class ListSettings:
    """A call list: the campaign it feeds and how its numbers are read."""

    list_id: str
    campaign: str
    default_region: str
    default_timezone: str | None = None

    def __post_init__(self) -> None:
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {self.default_region!r}: an ISO code like FR")
        if self.default_timezone is not None:
            zone(self.default_timezone)


@dataclass(slots=True)
class ImportReport:
    """Where an import stands: counts and the rows left out, by line."""

    import_id: str
    list_id: str
    status: str
    bytes_total: int
    bytes_done: int
    accepted: int
    rejected: int
    duplicates: int
    encoding: str
    error: str | None
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClaimedLead:
    """A lead handed to the dialer: dial it now (it is marked dialing)."""

    lead_id: str
    list_id: str
    number: str
    attempt: int
    callback_agent: str | None
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DialingLead:
    """A lead being dialled (or left so by an instance that stopped): its current attempt."""

    campaign: str
    lead_id: str
    attempt: int


@dataclass(slots=True)
class ClaimResult:
    """What a claim found: leads to dial and those held back, with why."""

    leads: list[ClaimedLead] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _utc() -> datetime:
    return datetime.now(UTC)


def _after_disposition(disposed: Disposed, callback_agent: str | None) -> dict[str, Any]:
    """The lead's new status (and due time) after the agent's disposition."""
    if disposed.effect is DispositionEffect.DNC:
        return {"status": DNC}
    if disposed.due_at is None:
        closed = disposed.effect is DispositionEffect.CLOSE
        return {"status": DONE if closed else EXHAUSTED}
    agent = callback_agent if disposed.effect is DispositionEffect.CALLBACK else None
    return {"status": READY, "next_attempt_at": disposed.due_at, "callback_agent": agent}


class DialerStore:
    """One tenant's dialer data."""

    def __init__(
        self,
        db: Database,
        tenant: str,
        clock: Callable[[], float] = time.time,
        *,
        outbox: Outbox | None = None,
        staged: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.tenant = tenant
        self.clock = clock
        self.outbox = outbox
        """Where ``dialer.dispositioned`` is staged, in the transaction that applies it."""
        self.staged = staged
        """Called after a commit that staged an event (wakes the outbox relay)."""

    # --- campaigns ----------------------------------------------------------------------------

    async def put_campaign(self, config: CampaignConfig) -> CampaignState:
        """Create or change a campaign; a new one starts stopped, a changed one keeps its state."""
        async with self.db.session() as session:
            existing = await self._campaign_row(session, config.name)
            state = CampaignState(existing.state) if existing else CampaignState.STOPPED
            document = config.model_dump(mode="json")
            values = {
                "tenant": self.tenant,
                "name": config.name,
                "config": document,
                "state": state.value,
                "updated_at": _utc(),
            }
            await upsert(session, t.campaigns, values, ["tenant", "name"])
        return state

    async def get_campaign(self, name: str) -> tuple[CampaignConfig, CampaignState]:
        """A campaign and its state; NotFound when there is none."""
        async with self.db.session() as session:
            row = await self._campaign_row(session, name)
        if row is None:
            raise NotFound(f"no campaign {name!r}")
        return CampaignConfig.model_validate(row.config), CampaignState(row.state)

    async def list_campaigns(self) -> list[tuple[CampaignConfig, CampaignState]]:
        """Every campaign of the tenant."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(t.campaigns).where(t.campaigns.c.tenant == self.tenant)
            )
            found = rows.all()
        return [(CampaignConfig.model_validate(r.config), CampaignState(r.state)) for r in found]

    async def change_campaign(self, name: str, action: str) -> CampaignState:
        """Start, pause or stop (CampaignError for a move that makes no sense now)."""
        async with self.db.session() as session:
            row = await self._campaign_row(session, name, lock=True)
            if row is None:
                raise NotFound(f"no campaign {name!r}")
            state = change_state(CampaignState(row.state), action)
            await session.execute(
                update(t.campaigns)
                .where(t.campaigns.c.tenant == self.tenant, t.campaigns.c.name == name)
                .values(state=state.value, updated_at=_utc())
            )
        return state

    async def _campaign_row(self, session: AsyncSession, name: str, lock: bool = False) -> Any:
        query = select(t.campaigns).where(
            t.campaigns.c.tenant == self.tenant, t.campaigns.c.name == name
        )
        if lock and self.db.is_postgres:
            query = query.with_for_update()
        return (await session.execute(query)).first()

    # --- lists --------------------------------------------------------------------------------

    async def put_list(self, settings: ListSettings) -> None:
        """Create or change a list (its campaign must exist)."""
        await self.get_campaign(settings.campaign)
        async with self.db.session() as session:
            values = {
                "tenant": self.tenant,
                "list_id": settings.list_id,
                "campaign": settings.campaign,
                "default_region": settings.default_region,
                "default_timezone": settings.default_timezone,
                "created_at": _utc(),
            }
            await upsert(session, t.lead_lists, values, ["tenant", "list_id"])

    async def get_list(self, list_id: str) -> ListSettings:
        """A list's settings; NotFound when there is none."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(t.lead_lists).where(
                        t.lead_lists.c.tenant == self.tenant, t.lead_lists.c.list_id == list_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"no list {list_id!r}")
        return ListSettings(row.list_id, row.campaign, row.default_region, row.default_timezone)

    # --- imports ------------------------------------------------------------------------------

    async def upload(
        self, list_id: str, body: AsyncIterable[bytes], chunk_bytes: int = CHUNK_BYTES
    ) -> str:
        """Keep an upload as chunks, streamed (never whole in memory); return its import id."""
        await self.get_list(list_id)
        import_id = uuid.uuid4().hex
        async with self.db.session() as session:
            await session.execute(
                t.imports.insert().values(
                    tenant=self.tenant,
                    import_id=import_id,
                    list_id=list_id,
                    status="uploading",
                    bytes_total=0,
                    bytes_done=0,
                    lines_done=0,
                    accepted=0,
                    rejected=0,
                    duplicates=0,
                    encoding="utf-8",
                    updated_at=_utc(),
                )
            )
        buffer, seq, total = bytearray(), 0, 0
        async for piece in body:
            buffer += piece
            total += len(piece)
            while len(buffer) >= chunk_bytes:
                await self._store_chunk(import_id, seq, bytes(buffer[:chunk_bytes]))
                del buffer[:chunk_bytes]
                seq += 1
        if buffer:
            await self._store_chunk(import_id, seq, bytes(buffer))
        async with self.db.session() as session:
            await session.execute(
                self._import_where(update(t.imports), import_id).values(
                    status=IMPORTING, bytes_total=total, updated_at=_utc()
                )
            )
        return import_id

    async def _store_chunk(self, import_id: str, seq: int, data: bytes) -> None:
        async with self.db.session() as session:
            await session.execute(
                t.import_chunks.insert().values(
                    tenant=self.tenant, import_id=import_id, seq=seq, data=data
                )
            )

    def _import_where(self, statement: Any, import_id: str) -> Any:
        return statement.where(
            t.imports.c.tenant == self.tenant, t.imports.c.import_id == import_id
        )

    async def _chunks_from(
        self, import_id: str, offset: int, chunk_bytes: int
    ) -> AsyncIterator[bytes]:
        """The upload's bytes from ``offset`` on, one chunk at a time."""
        seq, skip = divmod(offset, chunk_bytes)
        while True:
            async with self.db.session() as session:
                data = (
                    await session.execute(
                        select(t.import_chunks.c.data).where(
                            t.import_chunks.c.tenant == self.tenant,
                            t.import_chunks.c.import_id == import_id,
                            t.import_chunks.c.seq == seq,
                        )
                    )
                ).scalar()
            if data is None:
                return
            yield bytes(data[skip:])
            seq, skip = seq + 1, 0

    async def _lines_from(
        self, import_id: str, offset: int, chunk_bytes: int
    ) -> AsyncIterator[bytes]:
        rest = b""
        async for chunk in self._chunks_from(import_id, offset, chunk_bytes):
            data = rest + chunk
            start = 0
            while (end := data.find(b"\n", start)) >= 0:
                yield data[start : end + 1]
                start = end + 1
            rest = data[start:]
        if rest:
            yield rest

    async def run_import(
        self,
        import_id: str,
        *,
        batch_rows: int = BATCH_ROWS,
        chunk_bytes: int = CHUNK_BYTES,
        stop_after_batches: int | None = None,
    ) -> ImportReport:
        """Import (or resume importing) an upload; returns the report when it is done.

        ``stop_after_batches`` ends the run early as a crash would (after that many committed
        batches), so the resumption can be shown.
        """
        report = await self.import_report(import_id, problems=0)
        if report.status != IMPORTING:
            return await self.import_report(import_id)
        settings = await self.get_list(report.list_id)
        layout, header_end, header_lines, encoding = await self._header(import_id, chunk_bytes)
        if layout is None:
            await self._fail_import(import_id, encoding)
            return await self.import_report(import_id)
        async with self.db.session() as session:
            row = (await session.execute(self._import_where(select(t.imports), import_id))).one()
        offset = max(row.bytes_done, header_end)
        reader = RecordReader(
            offset=offset, line=max(row.lines_done, header_lines), encoding=row.encoding
        )
        batch: list[Record] = []
        batches = 0
        async for raw in self._lines_from(import_id, offset, chunk_bytes):
            record = reader.feed(raw)
            if record is not None and record.text.strip():
                batch.append(record)
            if len(batch) >= batch_rows:
                await self._commit_batch(import_id, settings, layout, batch, reader)
                batch = []
                batches += 1
                if stop_after_batches is not None and batches >= stop_after_batches:
                    return await self.import_report(import_id)
        record = reader.finish()
        if record is not None and record.text.strip():
            batch.append(record)
        await self._commit_batch(import_id, settings, layout, batch, reader)
        await self._finish_import(import_id)
        return await self.import_report(import_id)

    async def _header(
        self, import_id: str, chunk_bytes: int
    ) -> tuple[ListLayout | None, int, int, str]:
        """The list's layout from its first record (or the reason it has none, as encoding)."""
        reader = RecordReader()
        async for raw in self._lines_from(import_id, 0, chunk_bytes):
            record = reader.feed(raw)
            if record is None:
                continue
            if not record.text.strip():
                continue
            try:
                layout = ListLayout.from_header(parse_fields(record))
            except ValueError as exc:
                return None, 0, 0, str(exc)
            return layout, record.end_offset, reader.line, reader.encoding
        return None, 0, 0, "missing header: the file is empty"

    async def _fail_import(self, import_id: str, reason: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                self._import_where(update(t.imports), import_id).values(
                    status="failed", error=reason[:500], updated_at=_utc()
                )
            )
            await self._drop_chunks(session, import_id)

    async def _drop_chunks(self, session: AsyncSession, import_id: str) -> None:
        await session.execute(
            delete(t.import_chunks).where(
                t.import_chunks.c.tenant == self.tenant, t.import_chunks.c.import_id == import_id
            )
        )

    async def _commit_batch(
        self,
        import_id: str,
        settings: ListSettings,
        layout: ListLayout,
        batch: Sequence[Record],
        reader: RecordReader,
    ) -> None:
        """Store one batch of rows and the offset reached, in one transaction."""
        problems = [RowProblem(line, reason) for line, reason in reader.problems]
        bad_lines = {p.line for p in problems}
        reader.problems.clear()
        good: dict[str, Lead] = {}
        folded = 0
        for record in batch:
            if record.line in bad_lines:
                continue
            try:
                fields = parse_fields(record)
            except ValueError as exc:
                problems.append(RowProblem(record.line, str(exc)))
                continue
            checked = validate_row(
                layout, record.line, fields, settings.default_region, settings.default_timezone
            )
            if isinstance(checked, RowProblem):
                problems.append(checked)
            elif checked.number in good:
                folded += 1
            else:
                good[checked.number] = checked
        async with self.db.session() as session:
            added = await self._insert_leads(session, import_id, settings, good)
            folded += len(good) - added
            if problems:
                statement = dialect_insert(session, t.import_problems).on_conflict_do_nothing()
                await session.execute(
                    statement,
                    [
                        {
                            "tenant": self.tenant,
                            "import_id": import_id,
                            "line": p.line,
                            "reason": p.reason[:500],
                        }
                        for p in problems
                    ],
                )
            await session.execute(
                self._import_where(update(t.imports), import_id).values(
                    bytes_done=reader.offset,
                    lines_done=reader.line,
                    encoding=reader.encoding,
                    accepted=t.imports.c.accepted + added,
                    rejected=t.imports.c.rejected + len(problems),
                    duplicates=t.imports.c.duplicates + folded,
                    updated_at=_utc(),
                )
            )

    async def _insert_leads(
        self, session: AsyncSession, import_id: str, settings: ListSettings, good: dict[str, Lead]
    ) -> int:
        """Insert the leads whose number the list does not have yet; return how many went in.

        The database decides what is already there (``ON CONFLICT DO NOTHING``), so two imports
        into one list at once fold each other's numbers instead of one failing on the key; rows go
        in number order, so two such inserts take their locks in the same order (no deadlock).
        """
        if not good:
            return 0
        statement = (
            dialect_insert(session, t.leads)
            .on_conflict_do_nothing(index_elements=["tenant", "list_id", "number"])
            .returning(t.leads.c.number)
        )
        rows = [self._lead_row(import_id, settings, good[number]) for number in sorted(good)]
        return len((await session.execute(statement, rows)).all())

    def _lead_row(self, import_id: str, settings: ListSettings, lead: Lead) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "list_id": settings.list_id,
            "number": lead.number,
            "lead_id": uuid.uuid4().hex,
            "external_id": lead.external_id,
            "region": lead.region,
            "timezones": ",".join(lead.zones),
            "fields": lead.fields,
            "import_id": import_id,
            "line": lead.line,
            "status": IMPORTING,
            "attempts": 0,
            "next_attempt_at": 0.0,
            "last_outcome": None,
            "callback_agent": None,
        }

    async def _finish_import(self, import_id: str) -> None:
        """Make the imported leads dialable and drop the upload, all at once."""
        async with self.db.session() as session:
            await session.execute(
                update(t.leads)
                .where(
                    t.leads.c.tenant == self.tenant,
                    t.leads.c.import_id == import_id,
                    t.leads.c.status == IMPORTING,
                )
                .values(status=READY)
            )
            await session.execute(
                self._import_where(update(t.imports), import_id).values(
                    status=DONE, updated_at=_utc()
                )
            )
            await self._drop_chunks(session, import_id)

    async def import_report(self, import_id: str, problems: int = 1000) -> ImportReport:
        """An import's counts and its first ``problems`` rows left out, by line."""
        async with self.db.session() as session:
            row = (await session.execute(self._import_where(select(t.imports), import_id))).first()
            if row is None:
                raise NotFound(f"no import {import_id!r}")
            found = await session.execute(
                select(t.import_problems.c.line, t.import_problems.c.reason)
                .where(
                    t.import_problems.c.tenant == self.tenant,
                    t.import_problems.c.import_id == import_id,
                )
                .order_by(t.import_problems.c.line)
                .limit(problems)
            )
            listed = [{"line": line, "reason": reason} for line, reason in found]
        return ImportReport(
            import_id=import_id,
            list_id=row.list_id,
            status=row.status,
            bytes_total=row.bytes_total,
            bytes_done=row.bytes_done,
            accepted=row.accepted,
            rejected=row.rejected,
            duplicates=row.duplicates,
            encoding=row.encoding,
            error=row.error,
            problems=listed,
        )

    async def lead_counts(self, list_id: str) -> dict[str, int]:
        """How many leads of a list are in each status."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(t.leads.c.status, func.count())
                .where(t.leads.c.tenant == self.tenant, t.leads.c.list_id == list_id)
                .group_by(t.leads.c.status)
            )
            return {str(row[0]): int(row[1]) for row in rows}

    # --- do not call --------------------------------------------------------------------------

    async def add_do_not_call(self, numbers: Sequence[str], region: str, source: str) -> list[str]:
        """Put numbers on the tenant's do-not-call list; returns them in E.164."""
        normalised = [normalise_number(number, region)[0] for number in numbers]
        if not normalised:
            return []
        async with self.db.session() as session:
            statement = dialect_insert(session, t.do_not_call).on_conflict_do_nothing()
            now = _utc()
            await session.execute(
                statement,
                [
                    {"tenant": self.tenant, "number": n, "source": source, "added_at": now}
                    for n in dict.fromkeys(normalised)
                ],
            )
        return normalised

    async def remove_do_not_call(self, number: str, region: str) -> None:
        """Take a number off the do-not-call list."""
        e164 = normalise_number(number, region)[0]
        async with self.db.session() as session:
            await session.execute(
                delete(t.do_not_call).where(
                    t.do_not_call.c.tenant == self.tenant, t.do_not_call.c.number == e164
                )
            )

    # --- dialling -----------------------------------------------------------------------------

    async def claim_dials(
        self, campaign: str, count: int, free_agents: Collection[str] = ()
    ) -> ClaimResult:
        """Hand out up to ``count`` due leads, checked now against do-not-call and windows.

        Callbacks come first; one booked for an agent goes out only while that agent is free.
        A lead on the do-not-call list is closed; one outside its calling window waits for the
        window to open. Claimed leads are marked dialling in the same transaction.
        """
        config, state = await self.get_campaign(campaign)
        result = ClaimResult()
        if state is not CampaignState.RUNNING or count <= 0:
            return result
        now = self.clock()
        async with self.db.session() as session:
            lists = select(t.lead_lists.c.list_id).where(
                t.lead_lists.c.tenant == self.tenant, t.lead_lists.c.campaign == campaign
            )
            query = (
                select(t.leads)
                .where(
                    t.leads.c.tenant == self.tenant,
                    t.leads.c.status == READY,
                    t.leads.c.next_attempt_at <= now,
                    t.leads.c.list_id.in_(lists),
                )
                .order_by(t.leads.c.callback_agent.is_(None), t.leads.c.next_attempt_at)
                .limit(count * 4 + 10)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            blocked = {
                number
                for (number,) in await session.execute(
                    select(t.do_not_call.c.number).where(
                        t.do_not_call.c.tenant == self.tenant,
                        t.do_not_call.c.number.in_([row.number for row in rows]),
                    )
                )
            }
            for row in rows:
                if len(result.leads) >= count:
                    break
                if row.callback_agent is not None and row.callback_agent not in free_agents:
                    continue
                zones = row.timezones.split(",")
                check = check_dial(row.number, zones, config.window_for(row.region), now, blocked)
                key = and_(t.leads.c.tenant == self.tenant, t.leads.c.lead_id == row.lead_id)
                if not check.allowed:
                    result.skipped.append((row.lead_id, check.reason or ""))
                    values: dict[str, Any] = (
                        {"status": DNC, "last_outcome": "dnc"}
                        if check.final
                        else {"next_attempt_at": check.retry_at or now + 86400.0}
                    )
                    await session.execute(update(t.leads).where(key).values(**values))
                    continue
                await session.execute(
                    update(t.leads).where(key).values(status=DIALING, attempts=row.attempts + 1)
                )
                result.leads.append(
                    ClaimedLead(
                        row.lead_id,
                        row.list_id,
                        row.number,
                        row.attempts + 1,
                        row.callback_agent,
                        dict(row.fields),
                    )
                )
        return result

    async def record_outcome(
        self,
        campaign: str,
        lead_id: str,
        outcome: Outcome,
        disposition: str | None = None,
        *,
        callback_at: float | None = None,
        callback_agent: str | None = None,
        agent_id: str | None = None,
    ) -> str:
        """Close or reschedule a lead after an attempt; returns the new status.

        Without a disposition the campaign's retry rules for the outcome decide. The agent's
        disposition decides when there is one (:func:`~cc_routing.dialer.campaigns.dispose`):
        it closes the lead, retries it by its rule, books a callback at ``callback_at`` (for
        ``callback_agent`` if named), or puts the number on the do-not-call list; and
        ``dialer.dispositioned`` (by ``agent_id`` if given) is staged in the same transaction,
        so the right-party contact is counted exactly when the lead changed.
        """
        config, _state = await self.get_campaign(campaign)
        now = self.clock()
        async with self.db.session() as session:
            row = await self._lead(session, lead_id)
            values: dict[str, Any] = {"last_outcome": outcome.value, "callback_agent": None}
            if disposition is not None:
                disposed = dispose(config, disposition, row.attempts, now, callback_at)
                values.update(_after_disposition(disposed, callback_agent))
                if disposed.effect is DispositionEffect.DNC:
                    await self._block(session, row.number, "disposition")
                if self.outbox is not None:
                    data = DialerDispositioned.model_validate(
                        {
                            "campaign": campaign,
                            "lead_id": lead_id,
                            "attempt": max(1, row.attempts),
                            "disposition": disposition,
                            "right_party": config.is_right_party(disposition),
                            "outcome": outcome.value,
                        }
                    )
                    when = datetime.fromtimestamp(now, UTC)
                    event = make_event(
                        data, tenant=self.tenant, occurred_at=when, agent_id=agent_id
                    )
                    await self.outbox.add(session, event)
            elif outcome is Outcome.CONNECTED:
                values["status"] = DONE
            else:
                rule_outcome = Outcome.NO_ANSWER if outcome is Outcome.ABANDONED else outcome
                at = next_attempt_at(config, rule_outcome, row.attempts, now)
                values.update(
                    {"status": EXHAUSTED}
                    if at is None
                    else {"status": READY, "next_attempt_at": at}
                )
            await session.execute(
                update(t.leads)
                .where(t.leads.c.tenant == self.tenant, t.leads.c.lead_id == lead_id)
                .values(**values)
            )
        if disposition is not None and self.staged is not None:
            self.staged()
        return str(values["status"])

    async def _block(self, session: AsyncSession, number: str, source: str) -> None:
        """Put one number on the tenant's do-not-call list (in the caller's transaction)."""
        statement = dialect_insert(session, t.do_not_call).on_conflict_do_nothing()
        await session.execute(
            statement,
            [{"tenant": self.tenant, "number": number, "source": source, "added_at": _utc()}],
        )

    async def dialing_leads(self) -> list[DialingLead]:
        """Leads marked dialling: after a restart, the attempts whose end nobody has recorded."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(t.leads.c.lead_id, t.leads.c.attempts, t.lead_lists.c.campaign)
                .join(
                    t.lead_lists,
                    and_(
                        t.lead_lists.c.tenant == t.leads.c.tenant,
                        t.lead_lists.c.list_id == t.leads.c.list_id,
                    ),
                )
                .where(t.leads.c.tenant == self.tenant, t.leads.c.status == DIALING)
            )
            return [DialingLead(row.campaign, row.lead_id, row.attempts) for row in rows]

    async def schedule_callback(self, lead_id: str, at: float, agent_id: str | None) -> None:
        """Book a callback: the lead is due at ``at``, for that agent only if one is named."""
        async with self.db.session() as session:
            await self._lead(session, lead_id)
            await session.execute(
                update(t.leads)
                .where(t.leads.c.tenant == self.tenant, t.leads.c.lead_id == lead_id)
                .values(status=READY, next_attempt_at=at, callback_agent=agent_id)
            )

    async def _lead(self, session: AsyncSession, lead_id: str) -> Any:
        row = (
            await session.execute(
                select(t.leads).where(t.leads.c.tenant == self.tenant, t.leads.c.lead_id == lead_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"no lead {lead_id!r}")
        return row

    async def lead(self, lead_id: str) -> dict[str, Any]:
        """One lead as a plain document."""
        async with self.db.session() as session:
            row = await self._lead(session, lead_id)
        return dict(row._mapping)

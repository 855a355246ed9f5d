"""Flow versions in PostgreSQL: create, activate, roll back, bind numbers, resolve a call's flow.

Every change publishes ``config.changed`` through the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, Outbox, upsert
from cc_ivr.adapters import db as tables
from cc_ivr.core import Flow, parse_flow
from cc_proto import make_event
from cc_proto.events import ConfigChanged


class FlowNotFound(LookupError):
    """No such flow, version or number."""


class FlowConflict(ValueError):
    """The change does not fit the flow's history (e.g. nothing to roll back to)."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One stored version of a flow."""

    name: str
    version: int
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ActiveFlow:
    """The flow a call runs: its name, the version it started on, the parsed flow."""

    name: str
    version: int
    flow: Flow


class FlowStore:
    """The tenant's flows; every method is one transaction."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        tenant: str,
        *,
        known_queues: Iterable[str] | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.tenant = tenant
        self.known_queues = None if known_queues is None else frozenset(known_queues)

    def check(self, document: Mapping[str, Any]) -> Flow:
        """Validate a document against the tenant's queues; raise InvalidFlow."""
        return parse_flow(document, known_queues=self.known_queues)

    async def create(self, document: Mapping[str, Any]) -> VersionInfo:
        """Store a validated document as the flow's next version (not yet active)."""
        flow = self.check(document)
        now = datetime.now(UTC)
        async with self.db.session() as session:
            t = tables.flow_versions
            latest = await session.scalar(
                select(func.max(t.c.version)).where(
                    t.c.tenant == self.tenant, t.c.name == flow.name
                )
            )
            version = (latest or 0) + 1
            await session.execute(
                t.insert().values(
                    tenant=self.tenant,
                    name=flow.name,
                    version=version,
                    document=flow.model_dump(mode="json"),
                    created_at=now,
                )
            )
            row = {"tenant": self.tenant, "name": flow.name, "updated_at": now}
            if latest is None:
                await session.execute(tables.flows.insert().values(active_version=None, **row))
            await self._changed(session, flow.name, "created" if latest is None else "updated")
        return VersionInfo(flow.name, version, False, now)

    async def publish(self, flow: Flow, numbers: Iterable[str] = ()) -> VersionInfo | None:
        """Make ``flow`` the live version of its name unless it already is, and bind ``numbers``
        to it; return the new version, or None when the live one was this very flow (so loading
        the same files at every start adds no versions)."""
        document = flow.model_dump(mode="json")
        try:
            _, live = await self.document(flow.name)
        except FlowNotFound:
            live = None
        info = None
        if live != document:
            info = await self.create(document)
            await self.activate(info.name, info.version)
        for number in numbers:
            await self.bind(number, flow.name)
        return info

    async def versions(self, name: str) -> list[VersionInfo]:
        """List a flow's versions, newest first."""
        async with self.db.session() as session:
            active = await self._active_version(session, name)
            t = tables.flow_versions
            rows = await session.execute(
                select(t.c.version, t.c.created_at)
                .where(t.c.tenant == self.tenant, t.c.name == name)
                .order_by(t.c.version.desc())
            )
            found = [VersionInfo(name, r.version, r.version == active, r.created_at) for r in rows]
        if not found:
            raise FlowNotFound(f"no flow {name!r}")
        return found

    async def document(self, name: str, version: int | None = None) -> tuple[int, dict[str, Any]]:
        """Return a version's document (the active one when no version is given)."""
        async with self.db.session() as session:
            if version is None:
                version = await self._active_version(session, name)
                if version is None:
                    raise FlowNotFound(f"flow {name!r} has no active version")
            document = await self._document(session, name, version)
        return version, document

    async def activate(self, name: str, version: int) -> None:
        """Make a stored version live; calls already running keep theirs."""
        async with self.db.session() as session:
            document = await self._document(session, name, version)
            self.check(document)  # the queues may have changed since it was stored
            await self._activate(session, name, version)

    async def rollback(self, name: str) -> int:
        """Re-activate the version that was live before the current one; return it."""
        async with self.db.session() as session:
            current = await self._active_version(session, name)
            a = tables.flow_activations
            history = await session.execute(
                select(a.c.version)
                .where(a.c.tenant == self.tenant, a.c.name == name)
                .order_by(a.c.seq.desc())
            )
            earlier = [int(v) for (v,) in history if v != current]
            if current is None or not earlier:
                raise FlowConflict(f"flow {name!r} has no earlier live version to roll back to")
            await self._activate(session, name, earlier[0])
        return earlier[0]

    async def bind(self, number: str, name: str) -> None:
        """Route a dialled number to a flow."""
        async with self.db.session() as session:
            exists = await session.scalar(
                select(tables.flows.c.name).where(
                    tables.flows.c.tenant == self.tenant, tables.flows.c.name == name
                )
            )
            if exists is None:
                raise FlowNotFound(f"no flow {name!r}")
            values = {
                "tenant": self.tenant,
                "number": number,
                "flow": name,
                "updated_at": datetime.now(UTC),
            }
            await upsert(session, tables.numbers, values, ["tenant", "number"])
            await self._changed(session, name, "updated")

    async def resolve(self, number: str) -> ActiveFlow | None:
        """Return the live flow for a dialled number, or None (unbound or nothing active)."""
        n, f, v = tables.numbers, tables.flows, tables.flow_versions
        query = (
            select(f.c.name, f.c.active_version, v.c.document)
            .select_from(n)
            .join(f, (f.c.tenant == n.c.tenant) & (f.c.name == n.c.flow))
            .join(
                v,
                (v.c.tenant == f.c.tenant)
                & (v.c.name == f.c.name)
                & (v.c.version == f.c.active_version),
            )
            .where(n.c.tenant == self.tenant, n.c.number == number)
        )
        async with self.db.session() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None
        return ActiveFlow(row.name, row.active_version, Flow.model_validate(row.document))

    # ----- inside a transaction

    async def _active_version(self, session: AsyncSession, name: str) -> int | None:
        f = tables.flows
        value: int | None = await session.scalar(
            select(f.c.active_version).where(f.c.tenant == self.tenant, f.c.name == name)
        )
        return value

    async def _document(self, session: AsyncSession, name: str, version: int) -> dict[str, Any]:
        t = tables.flow_versions
        document: dict[str, Any] | None = await session.scalar(
            select(t.c.document).where(
                t.c.tenant == self.tenant, t.c.name == name, t.c.version == version
            )
        )
        if document is None:
            raise FlowNotFound(f"flow {name!r} has no version {version}")
        return document

    async def _activate(self, session: AsyncSession, name: str, version: int) -> None:
        now = datetime.now(UTC)
        f, a = tables.flows, tables.flow_activations
        await session.execute(
            update(f)
            .where(f.c.tenant == self.tenant, f.c.name == name)
            .values(active_version=version, updated_at=now)
        )
        seq = await session.scalar(
            select(func.max(a.c.seq)).where(a.c.tenant == self.tenant, a.c.name == name)
        )
        await session.execute(
            a.insert().values(
                tenant=self.tenant, name=name, seq=(seq or 0) + 1, version=version, activated_at=now
            )
        )
        await self._changed(session, name, "updated")

    async def _changed(
        self, session: AsyncSession, name: str, action: Literal["created", "updated", "deleted"]
    ) -> None:
        event = make_event(
            ConfigChanged(entity="flow", entity_id=name, action=action), tenant=self.tenant
        )
        await self.outbox.add(session, event)

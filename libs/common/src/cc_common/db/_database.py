"""The engine and session factory, and SQLite's stand-in for schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool


def is_postgres(url: str | URL) -> bool:
    """Return True for a PostgreSQL URL."""
    return make_url(url).get_backend_name() == "postgresql"


def _sqlite_schema_file(url: URL, schema: str) -> str:
    """Return the file that holds ``schema`` next to the main SQLite file (or memory)."""
    database = url.database or ""
    if database in ("", ":memory:"):
        return ":memory:"
    path = Path(database)
    return str(path.with_name(f"{path.stem}-{schema}{path.suffix or '.sqlite3'}"))


class Database:
    """One engine for a service, with sessions that commit on success and roll back on error."""

    def __init__(
        self, url: str, *, schemas: Sequence[str] = (), echo: bool = False, **engine_args: Any
    ) -> None:
        self.url = make_url(url)
        self.schemas = tuple(schemas)
        self.engine: AsyncEngine = self._make_engine(echo, engine_args)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        """Return True on PostgreSQL (SKIP LOCKED, real schemas), False on SQLite."""
        return is_postgres(self.url)

    def _make_engine(self, echo: bool, engine_args: dict[str, Any]) -> AsyncEngine:
        if self.is_postgres:
            engine_args.setdefault("pool_pre_ping", True)
            return create_async_engine(self.url, echo=echo, **engine_args)
        if self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            engine_args.setdefault("poolclass", StaticPool)
        engine = create_async_engine(self.url, echo=echo, **engine_args)
        event.listen(engine.sync_engine, "connect", self._on_sqlite_connect)
        return engine

    def _on_sqlite_connect(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        for schema in self.schemas:
            cursor.execute(
                f'ATTACH DATABASE ? AS "{schema}"', (_sqlite_schema_file(self.url, schema),)
            )
        cursor.close()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session in a transaction: committed when the block ends, rolled back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query; used by ``/readyz``."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

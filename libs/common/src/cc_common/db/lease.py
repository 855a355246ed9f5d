"""Leadership by PostgreSQL advisory lock: one active instance per key, standbys wait.

The lock lives on a connection held for as long as the instance leads; if that connection dies,
PostgreSQL releases the lock and a standby takes over, so the old leader must stop acting: the
``on_lost`` callback fires and the service should shut down (Kubernetes restarts it as a
standby). On SQLite (one machine, one process) the lease is granted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cc_common.db._database import Database
from cc_common.logging import get_logger

log = get_logger(__name__)


def lease_key(name: str) -> int:
    """Return the advisory-lock number for a lease name (stable across processes)."""
    return zlib.crc32(f"cc-lease:{name}".encode())


class AdvisoryLease:
    """Try to become the leader for ``name``; hold it until closed or the connection drops."""

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        retry_seconds: float = 2.0,
        check_seconds: float = 2.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._key = lease_key(name)
        self._name = name
        self._retry = retry_seconds
        self._check = check_seconds
        self._on_lost = on_lost
        self._conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.held = asyncio.Event()

    async def acquire(self) -> None:
        """Wait until this instance leads (returns at once on SQLite)."""
        if not self._db.is_postgres:
            self.held.set()
            return
        while not self.held.is_set():
            if await self._try():
                break
            log.info("lease.standby", lease=self._name)
            await asyncio.sleep(self._retry)
        if self._conn is not None:
            self._task = asyncio.create_task(self._watch(self._conn), name=f"lease:{self._name}")

    async def _try(self) -> bool:
        conn = await self._db.engine.connect()
        try:
            got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(self._key)))).scalar()
            await conn.commit()
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        self.held.set()
        log.info("lease.acquired", lease=self._name)
        return True

    async def _watch(self, conn: AsyncConnection) -> None:
        """Check the lock's connection; if it is gone, leadership is gone with it."""
        while True:
            await asyncio.sleep(self._check)
            try:
                await conn.execute(sa.text("SELECT 1"))
                await conn.commit()
            except Exception:
                log.error("lease.lost", lease=self._name)
                self.held.clear()
                if self._on_lost is not None:
                    self._on_lost()
                return

    async def check(self) -> None:
        """Raise unless this instance holds the lease (a readiness check)."""
        if not self.held.is_set():
            raise RuntimeError(f"standby: another instance holds lease {self._name!r}")

    async def release(self) -> None:
        """Give up leadership (closing the connection releases the lock)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
        self.held.clear()

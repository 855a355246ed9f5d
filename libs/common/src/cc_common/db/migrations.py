"""Alembic, run programmatically on the service's async engine, one schema per service.

A service keeps its migrations in ``<package>/migrations`` (``env.py`` calls :func:`run_env`);
:func:`upgrade` and :func:`downgrade` run them. On PostgreSQL the run holds an advisory lock so
replicas starting together do not race, and the schema is created first.
"""

from __future__ import annotations

import asyncio
import weakref
import zlib
from collections.abc import Callable

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateSchema

from cc_common.db._database import Database
from cc_common.db._kit_tables import kit_tables


def alembic_config(package: str) -> Config:
    """Return an Alembic config for ``<package>/migrations`` with no ini file."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    return config


def run_env(metadata: MetaData, schema: str) -> None:
    """Body of a service's ``env.py``: migrate ``schema`` on the connection we were handed."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through cc_common.db.migrations.upgrade/downgrade")
    if connection.dialect.name == "postgresql":
        connection.execute(CreateSchema(schema, if_not_exists=True))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection, package: str, action: str, revision: str) -> None:
    config = alembic_config(package)
    config.attributes["connection"] = connection
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(package.encode()))))
    getattr(command, action)(config, revision)


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _process_lock() -> asyncio.Lock:
    """Return this event loop's migration lock.

    Alembic keeps its ``context`` in module globals, so two migrations at once in one process
    (every service starting together in ``make run``) would trample each other.
    """
    loop = asyncio.get_running_loop()
    return _LOCKS.setdefault(loop, asyncio.Lock())


async def upgrade(db: Database, package: str, revision: str = "head") -> None:
    """Bring ``package``'s schema up to ``revision``."""
    async with _process_lock(), db.engine.begin() as conn:
        await conn.run_sync(_run, package, "upgrade", revision)


async def downgrade(db: Database, package: str, revision: str = "base") -> None:
    """Take ``package``'s schema down to ``revision`` (``base`` removes every table)."""
    async with _process_lock(), db.engine.begin() as conn:
        await conn.run_sync(_run, package, "downgrade", revision)


def current_revision(connection: Connection, schema: str) -> str | None:
    """Return the schema's applied revision, or None when it has never been migrated."""
    table = sa.Table(
        "alembic_version", sa.MetaData(), sa.Column("version_num", sa.String), schema=schema
    )
    try:
        return connection.execute(sa.select(table.c.version_num)).scalar_one_or_none()
    except sa.exc.DBAPIError:
        return None


def create_kit_tables(schema: str) -> None:
    """Create the outbox and processed-event tables in a migration (call from ``upgrade()``).

    The tables are built from :func:`kit_tables`, their one definition. Changing them later
    means a new kit revision function here, never an edit that old migrations would pick up.
    """
    tables = kit_tables(sa.MetaData(), schema)
    bind = op.get_bind()
    tables.outbox.create(bind)
    tables.processed_events.create(bind)


def drop_kit_tables(schema: str) -> None:
    """Drop what :func:`create_kit_tables` made (call from ``downgrade()``)."""
    tables = kit_tables(sa.MetaData(), schema)
    bind = op.get_bind()
    tables.processed_events.drop(bind)
    tables.outbox.drop(bind)


def kit_tables_migration(schema: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """Return ``(upgrade, downgrade)`` for a service's first migration: the kit's tables."""
    return (lambda: create_kit_tables(schema)), (lambda: drop_kit_tables(schema))

"""Every service's migrations upgrade and downgrade cleanly, and match its models.

Run on the real PostgreSQL and on SQLite (the embedded default), for each service that owns a
schema. After ``upgrade head`` the database must equal the service's SQLAlchemy metadata (an
autogenerate comparison finds nothing); after ``downgrade base`` no table is left; and
upgrading again works, so a rollback can be rolled forward.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cc_common.db import Database
from cc_common.db.migrations import current_revision, downgrade, upgrade

pytestmark = pytest.mark.integration

SERVICE_PACKAGES = ["cc_routing", "cc_ivr", "cc_recording", "cc_metrics", "cc_crm_api"]


def services_with_migrations() -> list[str]:
    """Return the service packages that ship a migrations directory."""
    found = []
    for name in SERVICE_PACKAGES:
        package = importlib.import_module(name)
        if (Path(package.__path__[0]) / "migrations" / "env.py").exists():
            found.append(name)
    return found


def db_module(package: str) -> ModuleType:
    return importlib.import_module(f"{package}.adapters.db")


def test_the_services_that_own_data_all_have_migrations() -> None:
    assert {"cc_routing", "cc_ivr", "cc_recording", "cc_crm_api"} <= set(services_with_migrations())


def _tables(connection: sa.Connection, schema: str) -> set[str]:
    return set(sa.inspect(connection).get_table_names(schema=schema)) - {"alembic_version"}


def _differences(connection: sa.Connection, metadata: sa.MetaData, schema: str) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "version_table_schema": schema,
            "include_name": lambda name, type_, _parent: type_ != "schema" or name == schema,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("package", services_with_migrations())
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_migrations_go_up_down_and_up_again(
    package: str, backend: str, make_pg_url: Any, sqlite_url: str
) -> None:
    module = db_module(package)
    schema, metadata = module.SCHEMA, module.metadata
    url = await make_pg_url() if backend == "postgresql" else sqlite_url
    db = Database(url, schemas=[schema])
    try:
        await upgrade(db, package)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables, schema) == {t.name for t in metadata.sorted_tables}
            assert await conn.run_sync(_differences, metadata, schema) == []
            head = await conn.run_sync(current_revision, schema)
            assert head is not None
        await downgrade(db, package)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables, schema) == set()
            assert await conn.run_sync(current_revision, schema) is None
        await upgrade(db, package)
        await upgrade(db, package)  # a second upgrade at head changes nothing
        async with db.engine.connect() as conn:
            assert await conn.run_sync(current_revision, schema) == head
    finally:
        await db.dispose()

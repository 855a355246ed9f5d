"""Run a service process: read settings (exit 2 naming bad variables), log as JSON, serve HTTP.

``python -m cc_<service>`` serves; ``python -m cc_<service> migrate`` only migrates the schema
(for a Kubernetes Job or init container) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from cc_common.db import Database, migrations
from cc_common.logging import configure_logging
from cc_common.settings import ServiceSettings, load_settings

S = TypeVar("S", bound=ServiceSettings)


def serve_main(
    settings_cls: type[S],
    create_app: Callable[[S], FastAPI],
    *,
    schema: str | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """Entry point shared by every service's ``__main__`` (migrations live in its package)."""
    migrations_package = create_app.__module__.split(".")[0]
    parser = argparse.ArgumentParser(prog=f"python -m cc_{settings_cls.service_name}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = load_settings(settings_cls)
    configure_logging(settings.log_level)
    if args.command == "migrate":
        if schema is None:
            parser.error("this service has no database schema to migrate")
        asyncio.run(_migrate(settings, migrations_package, schema))
        return
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.port, log_config=None, access_log=False
    )
    uvicorn.Server(config).run()


async def _migrate(settings: ServiceSettings, package: str, schema: str) -> None:
    async with Database(settings.database_url.get_secret_value(), schemas=[schema]) as db:
        await migrations.upgrade(db, package)

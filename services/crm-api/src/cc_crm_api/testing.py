"""Test helpers for the crm-api: a running app with an admin key (used by tests and benches)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from cc_common.bus import Bus
from cc_common.db import Database
from cc_crm_api.settings import CrmApiSettings


@dataclass
class Crm:
    """A running crm-api app, a client holding the bootstrap admin key, and its exchange."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: CrmApiSettings
    admin_token: str
    publisher: Bus
    stack: AsyncExitStack

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    def auth(self, token: str | None = None) -> dict[str, str]:
        """Return the Authorization header for a token (the admin key by default)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    async def key(self, *scopes: str, name: str = "test key", **extra: Any) -> str:
        """Create a key with ``scopes`` and return its token."""
        reply = await self.client.post(
            "/v1/api-keys",
            json={"name": name, "scopes": list(scopes), **extra},
            headers=self.auth(),
        )
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token

    async def stop(self) -> None:
        """End the app's lifespan."""
        await self.stack.aclose()


CrmFactory = Callable[..., Awaitable[Crm]]

"""The crm-api's copy of agent and queue configuration, the document routing was given."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import upsert
from cc_crm_api.adapters.db import agent_teams, agents, queues

Kind = Literal["agent", "queue"]


def _table(kind: Kind) -> tuple[Table, str]:
    return (agents, "agent_id") if kind == "agent" else (queues, "name")


async def load(session: AsyncSession, tenant: str, kind: Kind, key: str) -> dict[str, Any] | None:
    """Return one stored document."""
    table, column = _table(kind)
    query = select(table.c.config).where(table.c.tenant == tenant, table.c[column] == key)
    config = (await session.execute(query)).scalar_one_or_none()
    return dict(config) if config is not None else None


async def load_all(
    session: AsyncSession, tenant: str, kind: Kind, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Return stored documents in key order, a page at a time."""
    table, column = _table(kind)
    query = select(table.c.config).where(table.c.tenant == tenant)
    if after is not None:
        query = query.where(table.c[column] > after)
    rows = await session.execute(query.order_by(table.c[column]).limit(limit))
    return [dict(config) for config in rows.scalars()]


async def save(
    session: AsyncSession, tenant: str, kind: Kind, key: str, doc: dict[str, Any], now: datetime
) -> None:
    """Store a document (and an agent's team, which per-team event streams use)."""
    table, column = _table(kind)
    if await load(session, tenant, kind, key) is None:
        values = {"tenant": tenant, column: key, "config": doc, "created_at": now}
        await session.execute(table.insert().values(**values, updated_at=now))
    else:
        await session.execute(
            table.update()
            .where(table.c.tenant == tenant, table.c[column] == key)
            .values(config=doc, updated_at=now)
        )
    if kind == "agent":
        await remember_team(session, tenant, key, doc.get("team"))


async def remove(session: AsyncSession, tenant: str, kind: Kind, key: str) -> None:
    """Forget a document."""
    table, column = _table(kind)
    await session.execute(delete(table).where(table.c.tenant == tenant, table.c[column] == key))


async def remember_team(
    session: AsyncSession, tenant: str, agent_id: str, team: str | None
) -> None:
    """Record which team an agent is in."""
    values = {"tenant": tenant, "agent_id": agent_id, "team": team}
    await upsert(session, agent_teams, values, ["tenant", "agent_id"])


async def team_of(session: AsyncSession, tenant: str, agent_id: str) -> str | None:
    """Return the team an agent was last known in."""
    query = select(agent_teams.c.team).where(
        agent_teams.c.tenant == tenant, agent_teams.c.agent_id == agent_id
    )
    team: str | None = (await session.execute(query)).scalar_one_or_none()
    return team

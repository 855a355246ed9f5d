"""Webhook delivery from PostgreSQL: claimed under a lease, signed (Standard Webhooks), retried.

A delivery row is the durable promise: the sender claims due rows with SKIP LOCKED and pushes
their next attempt a lease ahead before sending, so a crash mid-send only delays a delivery. A
clean stop lets the attempts in flight finish (up to the HTTP timeout) and hands back the lease of
any it had to cut short, so the next sender retries them at once rather than after the lease.
Every attempt is logged; failures back off exponentially with jitter; after the last allowed
attempt the delivery fails, and a subscription whose attempts keep failing is disabled with the
reason. The target address is checked again before each send (DNS may have changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from cc_common.aio import wait_for_wakeup
from cc_common.db import Database
from cc_common.logging import get_logger
from cc_crm_api.adapters.db import attempts, deliveries, webhooks
from cc_crm_api.adapters.sealing import SealError, SecretBox, bound_to, is_sealed
from cc_crm_api.core.webhooks import Network, backoff_seconds, refused_address

log = get_logger(__name__)

LEASE = timedelta(seconds=120)
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Return every address a host name resolves to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class UnsafeUrl(ValueError):
    """A webhook URL that may not be used; the message says why."""


async def check_url(url: str, allowed: list[Network], resolver: Resolver = resolve) -> None:
    """Refuse URLs that are not http(s) or that reach private, loopback or reserved addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise UnsafeUrl("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("the URL's port is not valid") from None
    try:
        addresses = await resolver(parts.hostname, port)
    except OSError:
        raise UnsafeUrl(f"{parts.hostname} does not resolve") from None
    for address in addresses:
        why = refused_address(address, allowed)
        if why is not None:
            raise UnsafeUrl(f"{parts.hostname}: {why}")


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """How hard the sender tries."""

    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    disable_after: int
    timeout_seconds: float
    concurrency: int
    poll_seconds: float
    allowed: list[Network]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt gave."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookSender:
    """Sends due deliveries until stopped."""

    def __init__(
        self,
        db: Database,
        tenant: str,
        policy: SenderPolicy,
        *,
        box: SecretBox,
        clock: Callable[[], datetime],
        resolver: Resolver = resolve,
    ) -> None:
        self._db = db
        self._box = box
        self._tenant = tenant
        self._policy = policy
        self._clock = clock
        self._resolver = resolver
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unsettled: set[str] = set()
        """Deliveries claimed under this sender's lease and not yet settled."""
        self._client = httpx.AsyncClient(timeout=policy.timeout_seconds, follow_redirects=False)

    def notify(self) -> None:
        """New deliveries may be due."""
        self._wake.set()

    def start(self) -> None:
        """Send in the background."""
        self._task = asyncio.create_task(self._run(), name="crm-webhook-sender")

    async def stop(self) -> None:
        """Finish the attempts in flight, then stop; hand back the lease of any cut short."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), self._policy.timeout_seconds + 1)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._release_unsettled()
        await self._client.aclose()

    async def _release_unsettled(self) -> None:
        """Make deliveries this sender claimed but never settled due again now."""
        if not self._unsettled:
            return
        d = deliveries.c
        async with self._db.session() as session:
            await session.execute(
                update(deliveries)
                .where(d.delivery_id.in_(sorted(self._unsettled)), d.status == "pending")
                .values(next_attempt_at=self._clock())
            )
        log.info("webhooks.leases_released", deliveries=len(self._unsettled))
        self._unsettled.clear()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.send_due()
            except Exception:  # the sender must outlive a database blip
                log.exception("webhooks.send_failed")
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self._policy.concurrency and not self._stopping:
                self._wake.clear()
                await wait_for_wakeup(self._wake, self._policy.poll_seconds)

    async def send_due(self) -> int:
        """Claim and send one batch of due deliveries; return how many were attempted."""
        claimed = await self._claim()
        await asyncio.gather(*(self._send(row) for row in claimed))
        return len(claimed)

    async def _claim(self) -> list[Any]:
        now = self._clock()
        d, w = deliveries.c, webhooks.c
        query = (
            select(
                d.delivery_id, d.webhook_id, d.message_id, d.payload, d.attempts, w.url, w.secret
            )
            .join(webhooks, (w.tenant == d.tenant) & (w.webhook_id == d.webhook_id))
            .where(
                d.tenant == self._tenant,
                d.status == "pending",
                d.next_attempt_at <= now,
                w.enabled.is_(True),
            )
            .order_by(d.next_attempt_at)
            .limit(self._policy.concurrency)
        )
        if self._db.is_postgres:
            query = query.with_for_update(of=deliveries, skip_locked=True)
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
            if rows:
                await session.execute(
                    update(deliveries)
                    .where(d.delivery_id.in_([r.delivery_id for r in rows]))
                    .values(next_attempt_at=now + LEASE)
                )
        self._unsettled.update(r.delivery_id for r in rows)
        return list(rows)

    async def _send(self, row: Any) -> None:
        outcome = await self._attempt(row)
        await self._settle(row, outcome)
        self._unsettled.discard(row.delivery_id)

    async def _attempt(self, row: Any) -> Outcome:
        started = time.monotonic()
        try:
            await check_url(row.url, self._policy.allowed, self._resolver)
            when = self._clock()
            secret = self._box.open(row.secret, bound_to(self._tenant, row.webhook_id))
            signature = Webhook(secret).sign(row.message_id, when, row.payload)
            headers = {
                "content-type": "application/json",
                "webhook-id": row.message_id,
                "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": signature,
                "user-agent": "cc-crm-api-webhooks/1",
            }
            reply = await self._client.post(row.url, content=row.payload, headers=headers)
        except (UnsafeUrl, SealError, httpx.HTTPError) as exc:
            spent = int((time.monotonic() - started) * 1000)
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], spent)
        spent = int((time.monotonic() - started) * 1000)
        if reply.is_success:
            return Outcome(True, reply.status_code, None, spent)
        return Outcome(False, reply.status_code, f"HTTP {reply.status_code}", spent)

    async def _settle(self, row: Any, outcome: Outcome) -> None:
        now = self._clock()
        attempt = row.attempts + 1
        policy = self._policy
        values: dict[str, Any] = {
            "attempts": attempt,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        if outcome.ok:
            values.update(status="succeeded", completed_at=now, next_attempt_at=None)
        elif attempt >= policy.max_attempts:
            values.update(status="failed", completed_at=now, next_attempt_at=None)
        else:
            wait = backoff_seconds(
                attempt, base=policy.backoff_seconds, cap=policy.backoff_max_seconds
            )
            values["next_attempt_at"] = now + timedelta(seconds=wait)
        w = webhooks.c
        which = (w.tenant == self._tenant) & (w.webhook_id == row.webhook_id)
        async with self._db.session() as session:
            await session.execute(
                update(deliveries).where(deliveries.c.delivery_id == row.delivery_id).values(values)
            )
            await session.execute(
                attempts.insert().values(
                    delivery_id=row.delivery_id,
                    attempt=attempt,
                    at=now,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                )
            )
            if outcome.ok:
                await session.execute(update(webhooks).where(which).values(consecutive_failures=0))
                return
            failures = (
                await session.execute(
                    update(webhooks)
                    .where(which)
                    .values(consecutive_failures=w.consecutive_failures + 1)
                    .returning(w.consecutive_failures)
                )
            ).scalar_one()
            if failures >= policy.disable_after:
                reason = (
                    f"disabled after {failures} consecutive failed deliveries; "
                    f"last: {outcome.error}"
                )[:500]
                await session.execute(
                    update(webhooks)
                    .where(which, w.enabled.is_(True))
                    .values(enabled=False, disabled_reason=reason, updated_at=now)
                )
                log.warning("webhooks.disabled", webhook=row.webhook_id, reason=reason)


async def reseal_secrets(db: Database, tenant: str, box: SecretBox) -> int:
    """Seal plaintext secrets (rows from before sealing) and re-seal those under an older key.

    Run at start, so a new first key, or a first key at all, takes effect for every
    subscription; rows are locked while rewritten, so replicas starting together do not trip
    over each other. Without a key nothing can be sealed: plaintext rows are left (and still
    used) with a warning. A row whose key is not configured is left as it is and logged; its
    deliveries fail with that reason until the key is configured again.
    """
    w = webhooks.c
    query = select(w.webhook_id, w.secret).where(w.tenant == tenant)
    if db.is_postgres:
        query = query.with_for_update()
    resealed, plaintext = 0, 0
    async with db.session() as session:
        for row in (await session.execute(query)).all():
            if not box.enabled:
                plaintext += not is_sealed(row.secret)
                continue
            if not box.needs_reseal(row.secret):
                continue
            where = bound_to(tenant, row.webhook_id)
            try:
                sealed = box.seal(box.open(row.secret, where), where)
            except SealError as exc:
                log.warning("webhooks.secret_unopenable", webhook=row.webhook_id, error=str(exc))
                continue
            await session.execute(
                update(webhooks)
                .where(w.tenant == tenant, w.webhook_id == row.webhook_id)
                .values(secret=sealed)
            )
            resealed += 1
    if resealed:
        log.info("webhooks.secrets_resealed", subscriptions=resealed, key=box.active)
    if plaintext:
        log.warning("webhooks.secrets_in_plaintext", subscriptions=plaintext)
    return resealed

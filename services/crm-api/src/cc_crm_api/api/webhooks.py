"""``/v1/webhooks``: subscriptions with event filters, signed deliveries, their log, replay.

Payloads are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`, HMAC-SHA256 with the subscription's `whsec_` secret, shown once). The
secret is stored sealed (AES-256-GCM under `CC_CRM_WEBHOOK_KEYS`), never in plaintext.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, insert, select, update

from cc_crm_api.adapters.db import attempts, deliveries, webhooks
from cc_crm_api.adapters.sealing import bound_to
from cc_crm_api.adapters.webhooks import UnsafeUrl, check_url
from cc_crm_api.api.deps import Admin, DbDep, Runtime, RuntimeDep
from cc_crm_api.api.docs import IdempotencyKey, errors, example
from cc_crm_api.core.events import STREAMED_AGGREGATES
from cc_crm_api.core.webhooks import delivery_id as new_delivery_id
from cc_proto import event_types

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[
    str,
    Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$", examples=["wh_5f2b9c0d1e3a4b6c"]),
]
DeliveryId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]

KNOWN = sorted(t for t, _ in event_types() if t.split(".")[0] in STREAMED_AGGREGATES)
PATTERNS = {"*", *(f"{a}.*" for a in STREAMED_AGGREGATES), *KNOWN}


def _check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in PATTERNS]
    if unknown:
        raise ValueError(
            f"unknown event types {unknown}; use '*', 'call.*', 'agent.*' or one of {KNOWN}"
        )
    return sorted(set(events))


class WebhookChange(BaseModel):
    """Fields to change; `enabled: true` re-enables a disabled subscription."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = Field(default=None, description="Where to POST events.")
    events: list[str] | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_events(value)


class WebhookIn(BaseModel):
    """A subscription to create."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where to POST events (http or https, a public host).")
    events: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Event types, `call.*`-style families, or `*` for every event.",
    )
    description: str | None = Field(default=None, max_length=200)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _check_events(value)


class WebhookOut(BaseModel):
    """A subscription (never its secret)."""

    webhook_id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    """A new subscription with its signing secret, shown this one time."""

    secret: str = Field(
        description="`whsec_...`: verify signatures with a Standard Webhooks library. Kept "
        "only sealed (encrypted) by the service: it cannot be shown again."
    )


class Attempt(BaseModel):
    """One try at delivering."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    """One event for one subscription, and every attempt at it."""

    delivery_id: str
    message_id: str = Field(description="The `webhook-id` header: the same on a replay.")
    event_type: str
    event_seq: int | None
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    history: list[Attempt]


class DeliveryPage(BaseModel):
    """Deliveries, newest first."""

    items: list[Delivery]
    next_cursor: str | None


_HOOK = {
    "webhook_id": "wh_5f2b9c0d1e3a4b6c",
    "url": "https://crm.example.com/hooks/contact-center",
    "events": ["agent.state_changed", "call.ended"],
    "description": "Log calls in the CRM",
    "enabled": True,
    "disabled_reason": None,
    "consecutive_failures": 0,
    "created_at": "2025-03-01T09:00:00Z",
    "updated_at": "2025-03-01T09:00:00Z",
}
_DELIVERY = {
    "delivery_id": "dlv_9a8b7c6d5e4f30211203a4b5c6d7e8f9",
    "message_id": "msg_5b0c8c3e3c1a4d598f3e0d5b0c8c3e3c",
    "event_type": "call.ended",
    "event_seq": 1042,
    "status": "succeeded",
    "attempts": 2,
    "next_attempt_at": None,
    "last_status_code": 200,
    "last_error": None,
    "created_at": "2025-03-01T09:03:40Z",
    "completed_at": "2025-03-01T09:03:47Z",
    "history": [
        {
            "attempt": 1,
            "at": "2025-03-01T09:03:40Z",
            "status_code": 503,
            "error": "HTTP 503",
            "duration_ms": 41,
        },
        {
            "attempt": 2,
            "at": "2025-03-01T09:03:47Z",
            "status_code": 200,
            "error": None,
            "duration_ms": 38,
        },
    ],
}
example(WebhookIn, {k: _HOOK[k] for k in ("url", "events", "description")})
example(WebhookChange, {"enabled": True, "events": ["call.*"]})
example(WebhookOut, _HOOK)
example(WebhookCreated, {**_HOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
example(Delivery, _DELIVERY)
example(DeliveryPage, {"items": [_DELIVERY], "next_cursor": None})


async def _safe(runtime: Runtime, url: str) -> None:
    try:
        await check_url(url, runtime.settings.allowed_networks())
    except UnsafeUrl as exc:
        raise HTTPException(422, f"webhook URL refused: {exc}") from None


def _out(row: Any) -> WebhookOut:
    return WebhookOut.model_validate(row, from_attributes=True)


async def _row(runtime: Runtime, db: Any, webhook_id: str) -> Any:
    query = select(webhooks).where(
        webhooks.c.tenant == runtime.tenant, webhooks.c.webhook_id == webhook_id
    )
    async with db.session() as session:
        row = (await session.execute(query)).first()
    if row is None:
        raise HTTPException(404, f"no webhook {webhook_id!r}")
    return row


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated, responses=errors()
)
async def create_webhook(
    body: WebhookIn,
    runtime: RuntimeDep,
    db: DbDep,
    _: Admin,
    idempotency_key: IdempotencyKey = None,
) -> WebhookCreated:
    """Subscribe a URL to events; the signing secret is in this response only."""
    if not runtime.box.enabled:
        raise HTTPException(
            503, "webhooks are not available: the operator has not configured CC_CRM_WEBHOOK_KEYS"
        )
    await _safe(runtime, str(body.url))
    now = runtime.clock()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    webhook_id = f"wh_{uuid.uuid4().hex[:16]}"
    row = {
        "tenant": runtime.tenant,
        "webhook_id": webhook_id,
        "url": str(body.url),
        "description": body.description,
        "events": body.events,
        "secret": runtime.box.seal(secret, bound_to(runtime.tenant, webhook_id)),
        "enabled": True,
        "disabled_reason": None,
        "consecutive_failures": 0,
        "created_at": now,
        "updated_at": now,
    }
    async with db.session() as session:
        await session.execute(insert(webhooks).values(row))
    return WebhookCreated.model_validate({**row, "secret": secret})


@router.get("", response_model=list[WebhookOut], responses=errors())
async def list_webhooks(runtime: RuntimeDep, db: DbDep, _: Admin) -> list[WebhookOut]:
    """Every subscription, disabled ones with the reason."""
    query = (
        select(webhooks)
        .where(webhooks.c.tenant == runtime.tenant)
        .order_by(webhooks.c.created_at, webhooks.c.webhook_id)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [_out(r) for r in rows]


@router.get("/{webhook_id}", response_model=WebhookOut, responses=errors(404))
async def get_webhook(
    webhook_id: WebhookId, runtime: RuntimeDep, db: DbDep, _: Admin
) -> WebhookOut:
    """One subscription."""
    return _out(await _row(runtime, db, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut, responses=errors(404))
async def change_webhook(
    webhook_id: WebhookId, body: WebhookChange, runtime: RuntimeDep, db: DbDep, _: Admin
) -> WebhookOut:
    """Change the URL, events or description; `enabled: true` resumes a disabled one.

    Deliveries the disabling cut off go out on resuming. Events that happened while it was
    disabled were not queued for it: replay a failed delivery to send one again.
    """
    await _row(runtime, db, webhook_id)
    values: dict[str, Any] = {"updated_at": runtime.clock()}
    if body.url is not None:
        await _safe(runtime, str(body.url))
        values["url"] = str(body.url)
    if body.events is not None:
        values["events"] = body.events
    if "description" in body.model_fields_set:
        values["description"] = body.description
    if body.enabled is not None:
        values["enabled"] = body.enabled
        if body.enabled:
            values.update(disabled_reason=None, consecutive_failures=0)
        else:
            values["disabled_reason"] = "disabled through the API"
    where = (webhooks.c.tenant == runtime.tenant, webhooks.c.webhook_id == webhook_id)
    async with db.session() as session:
        await session.execute(update(webhooks).where(*where).values(values))
    return _out(await _row(runtime, db, webhook_id))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_webhook(
    webhook_id: WebhookId, runtime: RuntimeDep, db: DbDep, _: Admin
) -> Response:
    """Unsubscribe; pending deliveries are dropped."""
    await _row(runtime, db, webhook_id)
    async with db.session() as session:
        await session.execute(
            delete(deliveries).where(
                deliveries.c.tenant == runtime.tenant,
                deliveries.c.webhook_id == webhook_id,
                deliveries.c.status == "pending",
            )
        )
        await session.execute(
            delete(webhooks).where(
                webhooks.c.tenant == runtime.tenant, webhooks.c.webhook_id == webhook_id
            )
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _deliveries(db: Any, rows: list[Any]) -> list[Delivery]:
    ids = [r.delivery_id for r in rows]
    history: dict[str, list[Attempt]] = {i: [] for i in ids}
    if ids:
        query = select(attempts).where(attempts.c.delivery_id.in_(ids)).order_by(attempts.c.id)
        async with db.session() as session:
            for a in (await session.execute(query)).all():
                history[a.delivery_id].append(Attempt.model_validate(a, from_attributes=True))
    return [
        Delivery.model_validate(
            {
                **{k: getattr(r, k) for k in Delivery.model_fields if k != "history"},
                "history": history[r.delivery_id],
            }
        )
        for r in rows
    ]


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage, responses=errors(404))
async def list_deliveries(
    webhook_id: WebhookId,
    runtime: RuntimeDep,
    db: DbDep,
    _: Admin,
    status_: Annotated[
        Literal["pending", "succeeded", "failed"] | None, Query(alias="status")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """The delivery log: each event sent to this subscription, with every attempt."""
    await _row(runtime, db, webhook_id)
    d = deliveries.c
    query = select(deliveries).where(d.tenant == runtime.tenant, d.webhook_id == webhook_id)
    if status_ is not None:
        query = query.where(d.status == status_)
    if cursor is not None:
        query = query.where(d.delivery_id < cursor)
    query = query.order_by(d.delivery_id.desc()).limit(limit + 1)
    async with db.session() as session:
        rows = list((await session.execute(query)).all())
    page = rows[:limit]
    return DeliveryPage(
        items=await _deliveries(db, page),
        next_cursor=page[-1].delivery_id if len(rows) > limit else None,
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Delivery,
    responses=errors(404),
)
async def replay_delivery(
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    runtime: RuntimeDep,
    db: DbDep,
    _: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Delivery:
    """Send one delivery again (same payload and `webhook-id`), as a new delivery."""
    await _row(runtime, db, webhook_id)
    d = deliveries.c
    query = select(deliveries).where(
        d.tenant == runtime.tenant, d.webhook_id == webhook_id, d.delivery_id == delivery_id
    )
    now = runtime.clock()
    async with db.session() as session:
        old = (await session.execute(query)).first()
        if old is None:
            raise HTTPException(404, f"no delivery {delivery_id!r} for webhook {webhook_id!r}")
        new_id = new_delivery_id(int(now.timestamp() * 1_000_000), uuid.uuid4().hex)
        await session.execute(
            insert(deliveries).values(
                delivery_id=new_id,
                tenant=runtime.tenant,
                webhook_id=webhook_id,
                message_id=old.message_id,
                event_type=old.event_type,
                event_seq=old.event_seq,
                payload=old.payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        new = (await session.execute(select(deliveries).where(d.delivery_id == new_id))).one()
    sender = runtime.extras.get("sender")
    if sender is not None:
        sender.notify()
    return (await _deliveries(db, [new]))[0]

"""API keys: hashed at rest, scoped, shown once, expiring, revocable, last-used; the bootstrap
key; every endpoint authenticated; rate limits; Idempotency-Key; body limit."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
from sqlalchemy import select

from cc_common.problems import PROBLEM_MEDIA_TYPE, Problem
from cc_crm_api.adapters.db import api_keys, idempotency, rate_buckets
from cc_crm_api.testing import Crm, CrmFactory

pytestmark = pytest.mark.integration


async def test_a_key_is_shown_once_stored_hashed_and_scoped(start_crm: CrmFactory) -> None:
    crm = await start_crm()
    made = await crm.client.post(
        "/v1/api-keys", json={"name": "reader", "scopes": ["read"]}, headers=crm.auth()
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    key_id = made.json()["key_id"]
    assert token.startswith(f"cck_{key_id}_")
    async with crm.db.session() as session:
        rows = (await session.execute(select(api_keys))).all()
    stored = next(r for r in rows if r.key_id == key_id)
    secret = token.split("_", 2)[2]
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(token not in str(tuple(r)) and secret not in str(tuple(r)) for r in rows)
    listed = (await crm.client.get("/v1/api-keys", headers=crm.auth())).json()
    assert {k["key_id"] for k in listed} == {key_id, "bootstrap"}
    assert all("token" not in k for k in listed)
    # A read key reads but may not create keys (403), a wrong secret is 401.
    assert (await crm.client.get("/v1/agents", headers=crm.auth(token))).status_code != 401
    forbidden = await crm.client.get("/v1/api-keys", headers=crm.auth(token))
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["detail"]
    wrong = f"cck_{key_id}_{'x' * 43}"
    assert (await crm.client.get("/v1/api-keys", headers=crm.auth(wrong))).status_code == 401
    missing = await crm.client.get("/v1/api-keys")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_revoked_and_expired_keys_stop_working_and_use_is_recorded(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm()
    token = await crm.key("admin")
    key_id = token.split("_")[1]
    assert (await crm.client.get("/v1/api-keys", headers=crm.auth(token))).status_code == 200
    seen = (await crm.client.get(f"/v1/api-keys/{key_id}", headers=crm.auth())).json()
    assert seen["last_used_at"] is not None
    revoked = await crm.client.delete(f"/v1/api-keys/{key_id}", headers=crm.auth())
    assert revoked.json()["revoked_at"] is not None
    refused = await crm.client.get("/v1/api-keys", headers=crm.auth(token))
    assert (refused.status_code, refused.json()["detail"]) == (401, "API key revoked")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    short = await crm.key("read", expires_at=soon.isoformat())
    assert (await crm.client.get("/v1/api-keys/x", headers=crm.auth(short))).status_code == 403
    await asyncio.sleep(1.2)
    expired = await crm.client.get("/v1/api-keys/x", headers=crm.auth(short))
    assert (expired.status_code, expired.json()["detail"]) == (401, "API key expired")
    past = await crm.client.post(
        "/v1/api-keys",
        json={"name": "old", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"},
        headers=crm.auth(),
    )
    assert past.status_code == 422


async def test_the_bootstrap_key_comes_from_the_setting_and_goes_with_it(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm()
    assert (await crm.client.get("/v1/api-keys", headers=crm.auth())).status_code == 200
    await crm.stop()
    without = await start_crm(crm_bootstrap_key=None)
    old = await without.client.get("/v1/api-keys", headers=crm.auth())
    assert old.status_code == 401


async def test_every_operation_needs_a_key(start_crm: CrmFactory) -> None:
    crm = await start_crm()
    schema = crm.app.openapi()
    open_paths = {"/healthz", "/readyz", "/metrics"}
    for path, operations in schema["paths"].items():
        if path in open_paths:
            continue
        for method in operations:
            url = path.replace("{", "").replace("}", "")
            reply = await crm.client.request(method, url)
            assert reply.status_code == 401, (method, path, reply.status_code)


async def test_a_key_over_its_rate_gets_429_with_retry_after(start_crm: CrmFactory) -> None:
    crm = await start_crm(crm_rate_limit_per_second=0.2, crm_rate_limit_burst=3)
    token = await crm.key("admin")
    codes = [
        (await crm.client.get("/v1/api-keys", headers=crm.auth(token))).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    limited = await crm.client.get("/v1/api-keys", headers=crm.auth(token))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    # Another key has its own bucket.
    assert (await crm.client.get("/v1/api-keys", headers=crm.auth())).status_code == 200


async def test_no_free_database_connection_gets_503_with_retry_after_then_the_api_recovers(
    start_crm: CrmFactory,
) -> None:
    # 500 requests a second on two cores once ran the pool dry and answered unhandled 500s.
    crm = await start_crm(db_pool_size=2, db_pool_max_overflow=0, db_pool_timeout_seconds=0.5)
    body = {"name": "made when busy", "scopes": ["read"]}
    create = {**crm.auth(), "Idempotency-Key": "busy-create-1"}
    async with AsyncExitStack() as held:  # every pooled connection taken, as by slow requests
        for _ in range(crm.settings.db_pool_size):
            await held.enter_async_context(crm.db.engine.connect())
        listed = await crm.client.get("/v1/api-keys", headers=crm.auth())
        created = await crm.client.post("/v1/api-keys", json=body, headers=create)
    for busy in (listed, created):  # a route's answer, and the idempotency middleware's
        assert busy.status_code == 503, busy.text
        assert busy.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert int(busy.headers["retry-after"]) >= 1
        problem = Problem.model_validate(busy.json())
        assert (problem.status, problem.title) == (503, "Service Unavailable")
        assert "Traceback" not in busy.text
        assert "QueuePool" not in busy.text
    assert (await crm.client.get("/v1/api-keys", headers=crm.auth())).status_code == 200
    retried = await crm.client.post("/v1/api-keys", json=body, headers=create)
    assert retried.status_code == 201, retried.text  # the busy attempt claimed nothing
    assert "idempotent-replayed" not in retried.headers


async def test_a_retried_create_with_the_same_idempotency_key_acts_once(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm()
    body = {"name": "once", "scopes": ["read"]}
    headers = {**crm.auth(), "Idempotency-Key": "create-once-1"}
    first = await crm.client.post("/v1/api-keys", json=body, headers=headers)
    again = await crm.client.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    async with crm.db.session() as session:
        names = (await session.execute(select(api_keys.c.name))).scalars().all()
    assert names.count("once") == 1
    other = await crm.client.post("/v1/api-keys", json={**body, "name": "twice"}, headers=headers)
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    # The same Idempotency-Key from another API key is a different request.
    token = await crm.key("admin")
    mine = await crm.client.post(
        "/v1/api-keys", json=body, headers={**crm.auth(token), "Idempotency-Key": "create-once-1"}
    )
    assert mine.status_code == 201
    assert mine.json()["key_id"] != first.json()["key_id"]
    # A refused request is not kept: the retry runs again.
    reader = await crm.key("read")
    denied = {**crm.auth(reader), "Idempotency-Key": "k2"}
    assert (await crm.client.post("/v1/api-keys", json=body, headers=denied)).status_code == 403
    async with crm.db.session() as session:
        kept = (await session.execute(select(idempotency.c.idempotency_key))).scalars().all()
    assert "k2" not in kept


async def test_an_oversized_body_is_refused(start_crm: CrmFactory) -> None:
    crm = await start_crm(http_max_body_bytes=2048)
    big = {"name": "x" * 4000, "scopes": ["read"]}
    reply = await crm.client.post("/v1/api-keys", json=big, headers=crm.auth())
    assert reply.status_code == 413
    assert reply.headers["content-type"] == "application/problem+json"


async def test_the_idempotency_middleware_answers_with_the_shared_problem_model(
    start_crm: CrmFactory,
) -> None:
    crm = await start_crm(http_max_body_bytes=2048)
    route = await crm.client.get("/v1/webhooks/wh_none", headers=crm.auth())
    assert route.status_code == 404
    refused = [
        await crm.client.post(
            "/v1/api-keys", json={"name": "x" * 4000, "scopes": ["read"]}, headers=crm.auth()
        ),
        await crm.client.post(
            "/v1/api-keys",
            json={"name": "long", "scopes": ["read"]},
            headers={**crm.auth(), "Idempotency-Key": "k" * 256},
        ),
    ]
    assert [reply.status_code for reply in refused] == [413, 422]
    for reply in refused:
        assert reply.headers["content-type"] == PROBLEM_MEDIA_TYPE
        body = reply.json()
        assert Problem.model_validate(body).model_dump(exclude_none=True) == body
        assert body.keys() == route.json().keys()  # the same fields as a route's own error
        assert body["title"] == HTTPStatus(reply.status_code).phrase
        assert body["instance"] == "/v1/api-keys"


async def test_replicas_share_one_rate_limit_per_key(start_crm: CrmFactory) -> None:
    """Two apps on one database: a key's requests on either spend from the same bucket, and
    concurrent requests do not each see it full."""
    limits = {"crm_rate_limit_per_second": 0.01, "crm_rate_limit_burst": 6}
    first = await start_crm(**limits)
    second = await start_crm(**limits)
    token = await first.key("read")
    headers = first.auth(token)

    async def one(crm: Crm) -> int:
        return (await crm.client.get("/v1/webhooks/wh_none", headers=headers)).status_code

    codes = [await one(first), await one(second), await one(first)]
    assert codes == [403, 403, 403]  # admitted (then refused the admin-only route): 3 spent
    burst = await asyncio.gather(*(one(crm) for crm in [first, second] * 4))
    assert sorted(burst) == [403] * 3 + [429] * 5  # 3 left, whichever replica asks
    limited = await second.client.get("/v1/webhooks/wh_none", headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    async with first.db.session() as session:
        buckets = (await session.execute(select(rate_buckets.c.key_id))).scalars().all()
    assert token.split("_")[1] in buckets


async def test_keys_work_on_the_embedded_sqlite_database(
    start_crm: CrmFactory, tmp_path: Path
) -> None:
    """SQLite (`make run`) gives stored times back without a zone: a used key still works."""
    crm = await start_crm(database_url=f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3")
    codes = [(await crm.client.get("/v1/api-keys", headers=crm.auth())).status_code for _ in "abc"]
    assert codes == [200, 200, 200]
    issued = await crm.client.post("/v1/events/tickets", json={}, headers=crm.auth())
    assert issued.status_code == 201

"""What every app gets from the factory: the service token on internal routes, a body cap, and
RFC 9457 problem details for every error, in the responses and in the OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel, Field

from cc_common.app import create_service_app
from cc_common.settings import ServiceSettings, load_settings

TOKEN = "s3cret-service-token-0123456789"


class Order(BaseModel):
    name: str = Field(max_length=20)
    size: int = Field(ge=1)


def build(token: str | None = TOKEN, *, max_body: int = 4096) -> FastAPI:
    internal = APIRouter(prefix="/v1")

    @internal.post("/orders", responses={409: {"description": "Exists already."}})
    async def order(body: Order) -> dict[str, str]:
        if body.name == "taken":
            raise HTTPException(409, "an order named 'taken' exists")
        return {"name": body.name}

    @internal.get("/crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("boom")

    board = APIRouter(prefix="/wallboard")

    @board.get("")
    async def wallboard() -> dict[str, str]:
        return {"board": "open"}

    settings = ServiceSettings(service_token=token, http_max_body_bytes=max_body)
    return create_service_app(
        settings=settings, title="demo", routers=[internal], open_routers=[board]
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def is_problem(reply: httpx.Response, status: int) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = reply.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["type"] == "about:blank"
    return body


async def test_internal_routes_need_the_service_token(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/orders", json={"name": "a", "size": 1})
    body = is_problem(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="cc-demo"'
    assert "Bearer" in str(body["detail"])
    assert body["instance"] == "/v1/orders"
    wrong = await client.post(
        "/v1/orders", json={"name": "a", "size": 1}, headers={"Authorization": "Bearer nope"}
    )
    assert is_problem(wrong, 401)["detail"] == "the service token is wrong"
    basic = await client.post(
        "/v1/orders", json={"name": "a", "size": 1}, headers={"Authorization": f"Basic {TOKEN}"}
    )
    is_problem(basic, 401)
    right = await client.post(
        "/v1/orders", json={"name": "a", "size": 1}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert right.status_code == 200
    assert right.json() == {"name": "a"}


async def test_health_metrics_docs_and_open_routers_need_no_token(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/wallboard"):
        assert (await client.get(path)).status_code == 200, path


async def test_without_a_configured_token_nobody_gets_in() -> None:
    app = build(token=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        reply = await c.post(
            "/v1/orders", json={"name": "a", "size": 1}, headers={"Authorization": "Bearer x"}
        )
        assert "admits no one" in str(is_problem(reply, 401)["detail"])
        assert (await c.get("/healthz")).status_code == 200


async def test_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    invalid = await client.post("/v1/orders", json={"name": "x" * 50, "size": 0}, headers=auth)
    body = is_problem(invalid, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert sorted(e["loc"][-1] for e in errors) == ["name", "size"]
    assert "x" * 50 not in invalid.text  # the bad input is not echoed back
    conflict = await client.post("/v1/orders", json={"name": "taken", "size": 1}, headers=auth)
    assert is_problem(conflict, 409)["detail"] == "an order named 'taken' exists"
    is_problem(await client.get("/v1/nowhere", headers=auth), 404)
    is_problem(await client.delete("/v1/orders", headers=auth), 405)
    crash = await client.get("/v1/crash", headers=auth)
    assert "boom" not in is_problem(crash, 500)["detail"]  # type: ignore[operator]
    broken = await client.post(
        "/v1/orders", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    is_problem(broken, 422)


async def test_request_bodies_are_capped(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = b'{"name": "' + b"a" * 10_000 + b'", "size": 1}'
    declared = await client.post(
        "/v1/orders", content=big, headers={**auth, "content-type": "application/json"}
    )
    assert "4096 bytes" in str(is_problem(declared, 413)["detail"])

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = await client.post(
        "/v1/orders", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    is_problem(streamed, 413)
    # Even a caller without the token is refused before its body is read.
    is_problem(await client.post("/v1/orders", content=big), 413)


async def test_the_openapi_documents_the_token_and_the_problems(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["serviceToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["serviceToken"]["description"],
    }
    order = doc["paths"]["/v1/orders"]["post"]
    assert order["security"] == [{"serviceToken": []}]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for status in ("401", "409", "413", "422"):
        assert order["responses"][status]["content"] == problem, status
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert "security" not in doc["paths"]["/wallboard"]["get"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(
        doc["components"]["schemas"]["Problem"]["properties"]
    )
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_the_token_comes_from_the_secrets_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "CC_SERVICE_TOKEN").write_text(TOKEN + "\n")
    monkeypatch.delenv("CC_SERVICE_TOKEN", raising=False)
    monkeypatch.setenv("CC_SECRETS_DIR", str(tmp_path))
    settings = load_settings(ServiceSettings)
    assert settings.service_token is not None
    assert settings.service_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)

"""The dialer's API, mounted in the routing service, on the real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from cc_common.db import Database
from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_routing.app import create_app
from cc_routing.dialer_store import DialerStore
from cc_routing.settings import RoutingSettings
from cc_sim.config import SimConfig
from cc_sim.simulator import Simulator

pytestmark = pytest.mark.integration

CAMPAIGN = {
    "name": "renewals",
    "mode": "predictive",
    "teams": ["outbound"],
    "caller_id": "+33100000000",
    "calling_window": {"start": "00:00", "end": "23:59:59"},  # the tests run at any hour
    "country_windows": {"US": {"start": "08:00", "end": "20:00"}},
    "retries": {"busy": {"delay_seconds": 300, "max_attempts": 2}},
    "dispositions": ["renewed", "declined", "dnc"],
}


@pytest.fixture
async def client(pg_url: str, unique_name: object) -> AsyncIterator[httpx.AsyncClient]:
    async with Simulator(SimConfig(esl_port=0, seed=3)) as sim:
        settings = RoutingSettings(
            tenant="dialer",
            database_url=pg_url,
            amqp_url="memory://dialer-api",
            esl_port=sim.esl_port,
            service_token=TEST_SERVICE_TOKEN,
        )
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app), api_client(app, "http://r") as client:
            await eventually(lambda: app.state.routing.live.is_set(), within=20)
            yield client


async def test_campaign_list_import_and_claims_through_the_api(client: httpx.AsyncClient) -> None:
    put = await client.put("/v1/campaigns/renewals", json=CAMPAIGN)
    assert put.status_code == 200, put.text
    assert put.json()["state"] == "stopped"
    assert (await client.post("/v1/campaigns/renewals/pause")).status_code == 409
    assert (await client.post("/v1/campaigns/renewals/start")).json()["state"] == "running"
    assert (await client.post("/v1/campaigns/nope/start")).status_code == 404

    put_list = await client.put(
        "/v1/lists/l1", json={"campaign": "renewals", "default_region": "fr"}
    )
    assert put_list.status_code == 200, put_list.text
    bad_region = await client.put(
        "/v1/lists/l2", json={"campaign": "renewals", "default_region": "XX"}
    )
    assert bad_region.status_code == 422
    assert "unknown region" in bad_region.text

    csv = "phone,name\n01 42 68 53 00,Alice\nbad,Bob\n+33 6 12 34 56 78,Carol\n"
    imported = await client.post("/v1/lists/l1/imports", content=csv.encode("gb18030"))
    assert imported.status_code == 201, imported.text
    report = imported.json()
    assert (report["status"], report["accepted"], report["rejected"]) == ("done", 2, 1)
    assert report["problems"][0]["line"] == 3
    again = await client.get(f"/v1/imports/{report['import_id']}")
    assert again.json()["accepted"] == 2
    assert (await client.get("/v1/imports/missing")).status_code == 404

    no_header = await client.post("/v1/lists/l1/imports", content=b"0142685300,Alice\n")
    assert no_header.json()["status"] == "failed"
    assert "missing header" in no_header.json()["error"]

    dnc = await client.post("/v1/do-not-call", json={"numbers": ["0612345678"], "region": "FR"})
    assert dnc.json() == {"numbers": ["+33612345678"]}
    bad_dnc = await client.post("/v1/do-not-call", json={"numbers": ["nope"], "region": "FR"})
    assert bad_dnc.status_code == 422

    claims = await client.post("/v1/campaigns/renewals/claims", json={"count": 5})
    assert claims.status_code == 200
    body = claims.json()
    skipped = [s["reason"] for s in body["skipped"]]
    assert "number is on the do-not-call list" in skipped
    dialled = [lead["number"] for lead in body["leads"]]
    assert "+33612345678" not in dialled
    for lead in body["leads"]:
        outcome = await client.post(
            f"/v1/leads/{lead['lead_id']}/outcome",
            json={"campaign": "renewals", "outcome": "busy"},
        )
        assert outcome.json()["status"] == "ready"
        callback = await client.post(
            f"/v1/leads/{lead['lead_id']}/callback",
            json={"at": "2030-01-01T10:00:00+01:00", "agent_id": "a1"},
        )
        assert callback.status_code == 200
        naive = await client.post(
            f"/v1/leads/{lead['lead_id']}/callback", json={"at": "2030-01-01T10:00:00"}
        )
        assert naive.status_code == 422
    listed = await client.get("/v1/lists/l1")
    assert listed.json()["leads"] == {"dnc": 1, "ready": len(dialled)}


def assert_problem(response: httpx.Response, status: int = 422) -> dict[str, object]:
    """The answer is the shared problem model with the status, not a crash."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = response.json()
    assert problem["status"] == status
    return problem


async def test_a_calling_window_with_a_utc_offset_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    """Calling windows are in the callee's local time; an offset used to crash the validator."""
    for window, where in (
        ({"calling_window": {"start": "09:00:00+06:20"}}, ["body", "calling_window", "start"]),
        ({"country_windows": {"US": {"end": "20:00Z"}}}, ["body", "country_windows", "US", "end"]),
    ):
        response = await client.put("/v1/campaigns/renewals", json={**CAMPAIGN, **window})
        problem = assert_problem(response)
        errors = problem["errors"]
        assert isinstance(errors, list)
        assert [e["loc"] for e in errors] == [where]
        assert "calling window times are local" in errors[0]["msg"]
    newline = await client.put("/v1/campaigns/renewals", json={**CAMPAIGN, "caller_id": "+331\n"})
    assert "caller id must be digits" in str(assert_problem(newline)["detail"])
    assert (await client.get("/v1/campaigns/renewals")).status_code == 404
    assert (await client.put("/v1/campaigns/renewals", json=CAMPAIGN)).status_code == 200


NUL = "a%00b"
"""A NUL byte in a path: PostgreSQL text cannot hold it."""
LONG_LIST = "l" * 201
"""One character more than a list id's column holds."""


async def test_names_and_ids_postgresql_cannot_hold_are_422_problems(
    client: httpx.AsyncClient,
) -> None:
    """Each of these reached a query (or an insert) and PostgreSQL's refusal was a 500."""
    assert (await client.put("/v1/campaigns/renewals", json=CAMPAIGN)).status_code == 200
    put_list = await client.put(
        "/v1/lists/l1", json={"campaign": "renewals", "default_region": "FR"}
    )
    assert put_list.status_code == 200
    imported = await client.post("/v1/lists/l1/imports", content=b"phone\n0142685300\n")
    assert imported.json()["accepted"] == 1
    await client.post("/v1/campaigns/renewals/start")
    claimed = await client.post("/v1/campaigns/renewals/claims", json={"count": 1})
    lead = claimed.json()["leads"][0]["lead_id"]
    a_list = {"campaign": "renewals", "default_region": "FR"}
    refused: list[tuple[str, str, object]] = [
        ("GET", f"/v1/campaigns/{NUL}", None),
        ("POST", f"/v1/campaigns/{NUL}/start", None),
        ("POST", f"/v1/campaigns/{NUL}/claims", {"count": 1}),
        ("POST", "/v1/campaigns/renewals/claims", {"count": 1, "free_agents": ["a\u0000"]}),
        ("PUT", f"/v1/lists/{NUL}", a_list),
        ("PUT", f"/v1/lists/{LONG_LIST}", a_list),
        ("PUT", "/v1/lists/l2", {**a_list, "campaign": "renewals\u0000"}),
        ("GET", f"/v1/lists/{NUL}", None),
        ("POST", f"/v1/lists/{NUL}/imports", b"phone\n0142685300\n"),
        ("GET", f"/v1/imports/{NUL}", None),
        ("POST", f"/v1/imports/{NUL}/resume", None),
        ("POST", f"/v1/leads/{NUL}/outcome", {"campaign": "renewals", "outcome": "busy"}),
        ("POST", f"/v1/leads/{lead}/outcome", {"campaign": "re\u0000", "outcome": "busy"}),
        ("POST", f"/v1/leads/{NUL}/callback", {"at": "2030-01-01T10:00:00Z"}),
        (
            "POST",
            f"/v1/leads/{lead}/callback",
            {"at": "2030-01-01T10:00:00Z", "agent_id": "a\u0000"},
        ),
        ("DELETE", "/v1/do-not-call/0612345678?region=%00%00", None),
    ]
    for method, path, body in refused:
        sent = {"content": body} if isinstance(body, bytes) else {"json": body}
        problem = assert_problem(await client.request(method, path, **sent))
        assert problem["errors"], (method, path, problem)
    assert (await client.get("/v1/lists/l1")).json()["leads"] == {"dialing": 1}
    assert (await client.get(f"/v1/lists/{'l' * 200}")).status_code == 404


async def test_an_imported_row_whose_id_postgresql_cannot_hold_is_left_out(
    client: httpx.AsyncClient,
) -> None:
    """A NUL or a 300-character id in one row used to fail the whole batch's insert (a 500, and
    the import stuck in ``importing``); now that row is left out with why, the rest goes in."""
    assert (await client.put("/v1/campaigns/renewals", json=CAMPAIGN)).status_code == 200
    put_list = await client.put(
        "/v1/lists/l1", json={"campaign": "renewals", "default_region": "FR"}
    )
    assert put_list.status_code == 200
    csv = "phone,id,name\n0142685300,crm-1,Alice\n0142685301,crm\x002,Bob\n0142685302,{},Carol\n"
    imported = await client.post("/v1/lists/l1/imports", content=csv.format("x" * 300).encode())
    assert imported.status_code == 201, imported.text
    report = imported.json()
    assert (report["status"], report["accepted"], report["rejected"]) == ("done", 1, 2)
    assert report["problems"] == [
        {"line": 3, "reason": "the row's id contains a control character or line break"},
        {"line": 4, "reason": "the row's id is 300 characters long; at most 200"},
    ]
    assert (await client.get("/v1/lists/l1")).json()["leads"] == {"ready": 1}


async def test_the_agents_disposition_decides_what_becomes_of_the_lead(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    campaign = {
        **CAMPAIGN,
        "name": "collect",
        "dispositions": ["paid", "no_interest", "wrong_party", "callback", "dnc", "try_later"],
        "disposition_rules": {
            "try_later": {"effect": "retry", "retry": {"delay_seconds": 600, "max_attempts": 3}}
        },
        "wrap_up_seconds": 20,
    }
    assert (await client.put("/v1/campaigns/collect", json=campaign)).status_code == 200
    bad_rule = {**campaign, "disposition_rules": {"unknown": {"effect": "close"}}}
    problem = assert_problem(await client.put("/v1/campaigns/collect", json=bad_rule))
    assert "not in the set" in str(problem["detail"])
    await client.put("/v1/lists/c1", json={"campaign": "collect", "default_region": "FR"})
    numbers = [f"01426853{n:02d}" for n in range(6)]
    csv = "phone\n" + "\n".join(numbers) + "\n"
    assert (await client.post("/v1/lists/c1/imports", content=csv.encode())).status_code == 201
    await client.post("/v1/campaigns/collect/start")
    claims = await client.post("/v1/campaigns/collect/claims", json={"count": 6})
    leads = [lead["lead_id"] for lead in claims.json()["leads"]]
    assert len(leads) == 6

    async def dispose(lead_id: str, **body: object) -> httpx.Response:
        body = {"campaign": "collect", "outcome": "connected", **body}
        return await client.post(f"/v1/leads/{lead_id}/outcome", json=body)

    unknown = assert_problem(await dispose(leads[0], disposition="maybe"))
    assert "'maybe' is not a disposition of 'collect'" in str(unknown["detail"])
    no_time = assert_problem(await dispose(leads[0], disposition="callback"))
    assert "give callback_at" in str(no_time["detail"])
    naive = await dispose(leads[0], disposition="callback", callback_at="2030-01-01T10:00:00")
    assert_problem(naive)
    assert (await client.get("/v1/lists/c1")).json()["leads"] == {"dialing": 6}  # untouched

    at = "2030-01-01T10:00:00+01:00"
    booked = await dispose(leads[0], disposition="callback", callback_at=at, callback_agent="a7")
    assert booked.json()["status"] == "ready"
    for lead_id, code in zip(leads[1:4], ("paid", "no_interest", "wrong_party"), strict=True):
        assert (await dispose(lead_id, disposition=code)).json()["status"] == "done"
    assert (await dispose(leads[4], disposition="dnc")).json()["status"] == "dnc"
    assert (await dispose(leads[5], disposition="try_later")).json()["status"] == "ready"
    assert (await client.get("/v1/lists/c1")).json()["leads"] == {"ready": 2, "done": 3, "dnc": 1}
    assert (await client.get("/v1/campaigns/collect")).json()["config"]["wrap_up_seconds"] == 20
    store = DialerStore(Database(pg_url, schemas=["routing"]), "dialer")
    try:
        callback = await store.lead(leads[0])
        expected = datetime.fromisoformat(at).timestamp()
        assert (callback["next_attempt_at"], callback["callback_agent"]) == (expected, "a7")
        retry = await store.lead(leads[5])
        assert 0 < retry["next_attempt_at"] - time.time() <= 600
    finally:
        await store.db.dispose()

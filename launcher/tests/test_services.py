"""make run wires the services to each other: each is given the URLs of the APIs it calls."""

from __future__ import annotations

import pytest

from cc_platform.__main__ import build_servers


def settings_of(port_offset: int, name: str) -> object:
    running = {r.spec.name: r for r in build_servers(port_offset, esl_port=None)}
    return running[name].app.state.settings


@pytest.mark.parametrize("offset", [0, 3000])
def test_the_ivr_and_crm_api_are_given_the_apis_they_call(offset: int) -> None:
    ivr = settings_of(offset, "ivr")
    assert ivr.routing_url == f"http://127.0.0.1:{8101 + offset}"  # type: ignore[attr-defined]
    assert ivr.recording_url == f"http://127.0.0.1:{8103 + offset}"  # type: ignore[attr-defined]
    crm = settings_of(offset, "crm-api")
    assert crm.crm_routing_url == f"http://127.0.0.1:{8101 + offset}"  # type: ignore[attr-defined]
    assert crm.crm_metrics_url == f"http://127.0.0.1:{8104 + offset}"  # type: ignore[attr-defined]
    assert crm.crm_recording_url == f"http://127.0.0.1:{8103 + offset}"  # type: ignore[attr-defined]


def test_a_url_set_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_ROUTING_URL", "http://routing.example:9000")
    ivr = settings_of(0, "ivr")
    assert ivr.routing_url == "http://routing.example:9000"  # type: ignore[attr-defined]
    assert ivr.recording_url == "http://127.0.0.1:8103"  # type: ignore[attr-defined]

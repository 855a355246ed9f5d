"""The services the platform runs, each with its settings class and app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from cc_common.settings import ServiceSettings
from cc_crm_api.app import create_app as create_crm_api
from cc_crm_api.settings import CrmApiSettings
from cc_ivr.app import create_app as create_ivr
from cc_ivr.settings import IvrSettings
from cc_metrics.app import create_app as create_metrics
from cc_metrics.settings import MetricsSettings
from cc_recording.app import create_app as create_recording
from cc_recording.settings import RecordingSettings
from cc_routing.app import create_app as create_routing
from cc_routing.settings import RoutingSettings


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to build one service: its settings class and its ``create_app``."""

    settings_cls: type[ServiceSettings]
    create_app: Callable[[Any], FastAPI]

    @property
    def name(self) -> str:
        """Return the service's name (``routing``, ``crm-api`` ...)."""
        return self.settings_cls.service_name


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(CrmApiSettings, create_crm_api),
    ServiceSpec(RoutingSettings, create_routing),
    ServiceSpec(IvrSettings, create_ivr),
    ServiceSpec(RecordingSettings, create_recording),
    ServiceSpec(MetricsSettings, create_metrics),
)


PEERS: dict[str, dict[str, type[ServiceSettings]]] = {
    "ivr": {"routing_url": RoutingSettings, "recording_url": RecordingSettings},
    "crm-api": {
        "crm_routing_url": RoutingSettings,
        "crm_metrics_url": MetricsSettings,
        "crm_recording_url": RecordingSettings,
    },
}
"""The other services' APIs each service calls, by the setting that holds the URL."""


def peer_urls(name: str, port_offset: int, environ: dict[str, str]) -> dict[str, str]:
    """Return the URLs of the services ``name`` calls, as this machine serves them (ports moved
    by ``port_offset``); a URL set in the environment (``CC_ROUTING_URL`` ...) wins."""
    return {
        setting: f"http://127.0.0.1:{peer.default_http_port + port_offset}"
        for setting, peer in PEERS.get(name, {}).items()
        if f"CC_{setting.upper()}" not in environ
    }

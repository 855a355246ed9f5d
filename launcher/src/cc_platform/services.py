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

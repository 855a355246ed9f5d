"""Settings of the routing service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar

from cc_common.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """What the routing service reads from its environment."""

    service_name: ClassVar[str] = "routing"
    default_http_port: ClassVar[int] = 8101

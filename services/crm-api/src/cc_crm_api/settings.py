"""Settings of the crm-api service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar

from cc_common.settings import ServiceSettings


class CrmApiSettings(ServiceSettings):
    """What the crm-api service reads from its environment."""

    service_name: ClassVar[str] = "crm-api"
    default_http_port: ClassVar[int] = 8100

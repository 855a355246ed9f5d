"""Settings of the ivr service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar

from cc_common.settings import ServiceSettings


class IvrSettings(ServiceSettings):
    """What the ivr service reads from its environment."""

    service_name: ClassVar[str] = "ivr"
    default_http_port: ClassVar[int] = 8102

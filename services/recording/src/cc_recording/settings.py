"""Settings of the recording service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar

from cc_common.settings import ServiceSettings


class RecordingSettings(ServiceSettings):
    """What the recording service reads from its environment."""

    service_name: ClassVar[str] = "recording"
    default_http_port: ClassVar[int] = 8103

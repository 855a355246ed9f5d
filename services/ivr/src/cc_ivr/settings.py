"""Settings of the ivr service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from cc_common.settings import ServiceSettings


class IvrSettings(ServiceSettings):
    """What the ivr service reads from its environment."""

    service_name: ClassVar[str] = "ivr"
    default_http_port: ClassVar[int] = 8102

    ivr_socket_host: str = Field(
        default="127.0.0.1", description="Where the outbound-socket server listens."
    )
    ivr_socket_port: int = Field(
        default=8084, ge=0, le=65535, description="The dialplan's `socket <ivr>:<port>`."
    )
    crm_url: str = Field(
        default="", description="Base URL of the CRM lookup API; empty: every dip is an error."
    )
    crm_failures_to_open: int = Field(
        default=5, ge=1, le=1000, description="Failed dips in a row that open the circuit."
    )
    crm_open_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How long an open circuit refuses dips."
    )
    routing_url: str = Field(
        default="", description="Routing's internal API, for callback requests; empty: none."
    )
    recording_url: str = Field(
        default="",
        description="The recording service's internal API, paused while sensitive digits are "
        "entered; empty: sensitive collect nodes are refused (take on_failure).",
    )
    callback_patience_seconds: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="How long a callback request is retried while routing cannot take it (the "
        "caller waits in the queue meanwhile, and stays there if it never does).",
    )
    crm_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the CRM's lookup endpoint wants (a secret); unset: none sent.",
    )
    flows_dir: str = Field(
        default="",
        description="A directory of flow files (one flow per *.yaml/*.yml, with optional "
        "`numbers`) made live at start; a bad file is logged and skipped. Empty: none.",
    )
    known_queues: str = Field(
        default="", description="Comma-separated queues flows may name; empty: not checked."
    )
    voicemail_dir: str = Field(
        default="${recordings_dir}",
        description="An existing directory on the switch for voicemail (FreeSWITCH expands it).",
    )

    survey_target: str = Field(
        default="cc_survey:XML:contact-center",
        pattern=r"^[a-z_][a-z0-9_]*:XML:[a-z][a-z0-9_-]*$",
        description="Where a surveyed caller goes when the agent hangs up (transfer_after_bridge).",
    )

    def queue_names(self) -> list[str] | None:
        """Return the queues flows may use, or None when they are not checked."""
        names = [q.strip() for q in self.known_queues.split(",") if q.strip()]
        return names or None

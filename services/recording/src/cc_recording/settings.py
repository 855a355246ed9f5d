"""Settings of the recording service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from cc_common.keys import parse_keys
from cc_common.settings import ServiceSettings


class RecordingSettings(ServiceSettings):
    """What the recording service reads from its environment."""

    service_name: ClassVar[str] = "recording"
    default_http_port: ClassVar[int] = 8103

    recording_queue: str = Field(
        default="", description="The service's bus queue; empty means <exchange>.recording."
    )
    recording_esl: bool = Field(
        default=True, description="Connect to FreeSWITCH to start, mask and see recordings stop."
    )
    record_stereo: bool = Field(
        default=True, description="Caller and agent on separate channels unless a policy says mono."
    )
    recording_default_mode: Literal["all", "sampled", "none"] = Field(
        default="all", description="Policy for queues and agents without one."
    )
    recording_default_share: float = Field(default=1.0, ge=0, le=1)
    recording_switch_dir: str = Field(
        default="var/recordings/switch",
        description="Where FreeSWITCH writes recordings (a volume this service also mounts).",
    )
    recording_storage: Literal["filesystem", "s3"] = Field(default="filesystem")
    recording_storage_dir: str = Field(default="var/recordings/store")
    recording_s3_bucket: str = Field(default="recordings")
    recording_s3_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint URL; unset means AWS."
    )
    recording_s3_region: str = Field(default="us-east-1")
    recording_s3_access_key: SecretStr | None = None
    recording_s3_secret_key: SecretStr | None = None
    recording_keks: SecretStr = Field(
        default=SecretStr(""),
        description="Key-encryption keys, id:base64(32 bytes) comma-separated (a secret).",
    )
    recording_kek_id: str = Field(default="", description="The KEK new recordings are wrapped by.")
    recording_signing_key: SecretStr = Field(
        default=SecretStr(""), description="HMAC key for playback links (a secret)."
    )
    recording_link_seconds: int = Field(default=300, ge=5, le=86400)
    recording_public_url: str = Field(
        default="", description="Base URL playback links point at; empty gives relative links."
    )
    recording_move_first_retry: float = Field(default=1.0, gt=0)
    recording_move_max_retry: float = Field(default=300.0, gt=0)
    recording_move_attempts: int = Field(default=10, ge=1)
    recording_move_poll: float = Field(default=1.0, gt=0)
    recording_sweep_interval: float = Field(
        default=86400.0, gt=0, description="Seconds between retention sweeps (daily)."
    )

    @field_validator("recording_keks")
    @classmethod
    def _keks(cls, value: SecretStr) -> SecretStr:
        parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _active_kek(self) -> RecordingSettings:
        keys = parse_keys(self.recording_keks.get_secret_value())
        if keys and self.recording_kek_id not in keys:
            raise ValueError(f"recording_kek_id {self.recording_kek_id!r} is not in recording_keks")
        return self

    def keks(self) -> dict[str, bytes]:
        """Return the key-encryption keys by id."""
        return parse_keys(self.recording_keks.get_secret_value())

    @property
    def consumer_queue(self) -> str:
        """Return the bus queue name (named after the exchange so two platforms never clash)."""
        return self.recording_queue or f"{self.bus_exchange}.recording"

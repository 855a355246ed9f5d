"""Settings come from CC_* variables or secret files; a bad one stops start-up and is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cc_common.settings import ServiceSettings, SettingsError, load_settings


def test_defaults_are_the_embedded_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CC_"):
            monkeypatch.delenv(name)
    settings = load_settings(ServiceSettings)
    assert settings.amqp_url.get_secret_value() == "memory://local"
    assert settings.database_url.get_secret_value().startswith("sqlite+aiosqlite://")
    assert (settings.esl_host, settings.esl_port) == ("127.0.0.1", 8021)
    assert settings.http_host == "127.0.0.1"


def test_environment_variables_use_the_cc_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_TENANT", "acme")
    monkeypatch.setenv("CC_HTTP_PORT", "9999")
    monkeypatch.setenv("CC_AMQP_URL", "amqp://u:p@mq:5672/")
    settings = load_settings(ServiceSettings)
    assert (settings.tenant, settings.port) == ("acme", 9999)
    assert "p@mq" not in repr(settings)  # secrets never show in logs or reprs


def test_secrets_can_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "CC_DATABASE_URL").write_text("postgresql+asyncpg://cc:s3cret@db/cc")
    monkeypatch.setenv("CC_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CC_DATABASE_URL", raising=False)
    settings = load_settings(ServiceSettings)
    assert settings.database_url.get_secret_value() == "postgresql+asyncpg://cc:s3cret@db/cc"


def test_a_bad_setting_exits_2_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CC_HTTP_PORT", "eighty")
    monkeypatch.setenv("CC_TENANT", "Not.Valid")
    with pytest.raises(SettingsError) as exited:
        load_settings(ServiceSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "CC_HTTP_PORT:" in err
    assert "CC_TENANT:" in err


@pytest.mark.parametrize(
    "package", ["cc_routing", "cc_ivr", "cc_recording", "cc_crm_api", "cc_metrics"]
)
def test_every_service_refuses_to_start_on_a_bad_setting(package: str) -> None:
    env = {**os.environ, "CC_BUS_DELIVERY_LIMIT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", package], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "CC_BUS_DELIVERY_LIMIT" in done.stderr

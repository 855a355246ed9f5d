"""Settings: thresholds are checked before anything starts, with every bad variable named."""

from __future__ import annotations

import pytest

from cc_common.settings import SettingsError, load_settings
from cc_metrics.settings import MetricsSettings


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_SERVICE_LEVEL_SECONDS", "30")
    monkeypatch.setenv("CC_SHORT_ABANDON_SECONDS", "10")
    monkeypatch.setenv("CC_METRICS_QUEUES", '["sales", "support"]')
    settings = load_settings(MetricsSettings)
    t = settings.thresholds()
    assert (t.service_level_seconds, t.short_abandon_seconds) == (30, 10)
    assert settings.metrics_queues == ["sales", "support"]
    assert settings.port == 8104


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CC_SERVICE_LEVEL_SECONDS", "25"), ("CC_SHORT_ABANDON_SECONDS", "3"),
     ("CC_REPORT_TIME_ZONE", "Mars/Base"), ("CC_SERVICE_LEVEL_TARGET", "1.5")],
)  # fmt: skip
def test_bad_settings_stop_the_service_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError):
        load_settings(MetricsSettings)
    assert variable in capsys.readouterr().err

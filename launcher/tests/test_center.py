"""The demo center file: the shipped one is valid; a bad one is refused with line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from cc_common.settings import load_settings
from cc_metrics.settings import MetricsSettings
from cc_platform.__main__ import metrics_settings_from
from cc_platform.center import DEMO_CENTER, CenterError, load_center
from cc_platform.clock import plan_day, read_last_instant, save_last_instant

DEMO = DEMO_CENTER.read_text()
SERVICE_LEVEL = "{threshold_seconds: 20, target: 0.8}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "center.yaml"
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(CenterError) as caught:
        load_center(write(tmp_path, text))
    return str(caught.value)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_demo_center_is_valid_and_complete() -> None:
    center = load_center(DEMO_CENTER)
    assert {q.name for q in center.queue_configs()} == {"sales", "support-en", "support-zh", "vip"}
    priorities = {name: q.priority for name, q in center.spec.queues.items()}
    assert priorities["vip"] > priorities["sales"] > priorities["support-en"]
    assert center.spec.queues["support-zh"].max_length is not None
    assert len(center.agent_configs()) == len(center.spec.agents) >= 10
    assert {a.team for a in center.agent_configs()} == set(center.spec.teams)
    reasons = {b.reason for s in center.shifts() for b in s.breaks}
    assert {"break", "lunch"} <= reasons
    for queue in center.spec.traffic.queues:
        profile = center.profile(queue)
        assert sum(profile.calls) == pytest.approx(center.spec.traffic.queues[queue].calls_per_day)
        peak = max(range(96), key=lambda i: profile.calls[i])
        assert 9 * 4 <= peak <= 12 * 4  # the morning peak, by 15-minute interval
    assert ("default", "8004", "answer;set:cc_queue=vip;set:cc_priority=50;park") in center.routes()


def test_an_unknown_field_is_refused_with_its_line(tmp_path: Path) -> None:
    text = DEMO.replace("    wrap_up_seconds: 30\n", "    wrap_up_seconds: 30\n    wrapup: 3\n", 1)
    message = refused(tmp_path, text)
    assert f"center.yaml:{line_of(text, 'wrapup: 3')}: queues.sales.wrapup: Extra inputs" in message


def test_a_bad_value_is_refused_with_its_line_and_field(tmp_path: Path) -> None:
    text = DEMO.replace('  closes: "20:00"', '  closes: "25:00"')
    message = refused(tmp_path, text)
    assert f"center.yaml:{line_of(text, '25:00')}: center.closes:" in message
    assert "HH:MM" in message


def test_references_between_sections_are_checked(tmp_path: Path) -> None:
    text = DEMO.replace("queues: {sales: 1}}", "queues: {sale: 1}}", 1)
    message = refused(tmp_path, text)
    assert f":{line_of(text, 'sale: 1')}: agents." in message
    assert "no queue 'sale'" in message


def test_a_skill_expression_routing_cannot_read_is_refused(tmp_path: Path) -> None:
    text = DEMO.replace("    requires: sales\n", "    requires: sales and (\n", 1)
    message = refused(tmp_path, text)
    assert f"center.yaml:{line_of(text, 'sales:')}: queues.sales:" in message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    message = refused(tmp_path, "center:\n  name: [unclosed\nqueues: {}\n")
    assert "center.yaml:3: not valid YAML" in message


def test_each_run_plays_a_new_day(tmp_path: Path) -> None:
    state = tmp_path / "demo-clock.json"
    now = 1_796_644_000.0  # 2026-12-07 11:46 UTC
    first = plan_day(state, opens_minute=480, closes_minute=1200, day_minutes=8, now=now)
    assert first.start_epoch == first.midnight + 7.75 * 3600
    assert first.compression == 90
    save_last_instant(state, first.start_epoch + 3600)
    assert read_last_instant(state) == first.start_epoch + 3600
    second = plan_day(state, opens_minute=480, closes_minute=1200, day_minutes=8, now=now)
    assert second.midnight == first.midnight + 86_400


def test_a_service_level_threshold_metrics_keeps_no_count_at_is_refused(tmp_path: Path) -> None:
    text = DEMO.replace(
        "{threshold_seconds: 20, target: 0.8}", "{threshold_seconds: 25, target: 0.8}"
    )
    message = refused(tmp_path, text)
    assert f"center.yaml:{line_of(text, 'threshold_seconds: 25')}: queues.sales." in message
    assert "threshold_seconds: must be one of" in message


def test_queues_with_different_service_level_targets_are_refused(tmp_path: Path) -> None:
    """Metrics computes one service level for all queues: a vip target of its own would be
    silently ignored on the wallboard, so the file is refused instead."""
    text = DEMO.replace(
        "strategy: top-down\n    wrap_up_seconds: 60\n"
        "    service_level: {threshold_seconds: 20, target: 0.8}",
        "strategy: top-down\n    wrap_up_seconds: 60\n"
        "    service_level: {threshold_seconds: 20, target: 0.9}",
    )
    assert "target: 0.9" in text
    message = refused(tmp_path, text)
    assert f"center.yaml:{line_of(text, 'target: 0.9')}: queues.vip.service_level: differs" in (
        message
    )


def test_the_metrics_service_computes_with_the_files_service_level(tmp_path: Path) -> None:
    text = DEMO.replace(
        "{threshold_seconds: 20, target: 0.8}", "{threshold_seconds: 30, target: 0.9}"
    )
    center = load_center(write(tmp_path, text))
    settings = load_settings(MetricsSettings, **metrics_settings_from(center))
    assert settings.thresholds().service_level_seconds == 30
    assert settings.thresholds().service_level_target == 0.9
    assert settings.metrics_queues == ["sales", "support-en", "support-zh", "vip"]

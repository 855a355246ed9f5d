"""Rules and dashboards as code: no drift, promtool-clean, every alert unit-tested."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cc_metrics.core.thresholds import WAIT_BOUNDS, Thresholds
from cc_metrics.monitoring.__main__ import main
from cc_metrics.monitoring.dashboards import dashboards, panel_queries, render
from cc_metrics.monitoring.files import RULE_TESTS_FILE, RULES_FILE, drift, generated_files
from cc_metrics.monitoring.rules import alert_rules, recording_rules

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "deploy" / "k8s" / "monitoring"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install -y prometheus (Debian's package)"
    return path


def test_checked_in_files_match_the_generator() -> None:
    stale = drift(MONITORING)
    assert stale == [], f"regenerate with `python -m cc_metrics.monitoring`: {stale}"


def test_the_check_command_fails_on_drift(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "dashboards" / "cc-queue.json").write_text("{}\n", encoding="utf-8")
    assert main(["--check", str(tmp_path)]) == 1


@pytest.mark.integration
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(MONITORING / RULES_FILE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(recording_rules(Thresholds())) + len(alert_rules(Thresholds()))} rules found" in (
        result.stdout + result.stderr
    )


@pytest.mark.integration
def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(MONITORING / RULE_TESTS_FILE)],
        capture_output=True, text=True, check=False, cwd=MONITORING,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load((MONITORING / RULE_TESTS_FILE).read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for group in tests["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for group in tests["tests"]
        for case in group.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    names = {rule.alert for rule in alert_rules(Thresholds())}
    assert names <= fired
    assert names <= quiet  # and a case where it must stay quiet


def test_the_rule_configmap_and_prometheus_rule_carry_the_same_rules() -> None:
    files = generated_files()
    rules = yaml.safe_load(files[RULES_FILE])
    configmap = yaml.safe_load(files["prometheus-rules-configmap.yaml"])
    assert yaml.safe_load(configmap["data"]["cc-metrics.rules.yml"]) == rules
    assert yaml.safe_load(files["prometheus-rule.yaml"])["spec"] == rules


def test_dashboards_are_well_formed() -> None:
    files = generated_files()
    configmap = yaml.safe_load(files["grafana-dashboards-configmap.yaml"])
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    for board in dashboards(Thresholds()):
        rendered = json.loads(files[f"dashboards/{board.uid}.json"])
        assert rendered == json.loads(configmap["data"][f"{board.uid}.json"])
        ids = [panel["id"] for panel in rendered["panels"]]
        assert len(ids) == len(set(ids))
        for panel in rendered["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]


def test_bucket_bounds_in_queries_are_written_as_floats() -> None:
    exprs = [rule.expr for rule in recording_rules(Thresholds())]
    for board in dashboards(Thresholds()):
        exprs += [expr for _, expr in panel_queries(render(board))]
    bounds = [b for expr in exprs for b in re.findall(r'le="([^"]+)"', expr)]
    assert bounds
    assert all(re.fullmatch(r"\d+\.\d+", b) for b in bounds), bounds


@pytest.mark.parametrize("seconds", [s for s in WAIT_BOUNDS if s != 20])
def test_another_service_level_threshold_gives_its_own_rule(seconds: int) -> None:
    t = Thresholds(service_level_seconds=seconds)
    names = [rule.record for rule in recording_rules(t)]
    assert f"queue:cc_service_level_{seconds}s:ratio_rate5m" in names
    exprs = [rule.expr for rule in recording_rules(t)]
    assert any(f'le="{float(seconds)}"' in expr for expr in exprs)

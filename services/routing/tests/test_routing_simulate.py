"""The virtual-time simulation agrees with Erlang C and Erlang A, and its events replay its KPIs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from cc_proto import parse_event
from cc_proto.events import CallAnswered, CallEnded, CallOffered
from cc_routing.simulate import DEFAULT_START, SimulationParams, main, simulate

# KPIs.md reference points, computed by hand: agents -> (service level, ASA, occupancy)
REFERENCE = {14: (0.888, 7.8, 0.714), 13: (0.796, 17.1, 0.769)}
PATIENCE = 120.0
CASES = [(agents, patience) for agents in (14, 13) for patience in (None, PATIENCE)]


def reference_run(agents: int, patience: float | None) -> SimulationParams:
    """The reference run: 200 calls/h, AHT 180 s, T = 20 s, 100,000 calls after 2,000 warm-up,
    one FIFO queue of 13 or 14 agents, the KPIs.md reference points above.

    Decision explanations are off: they never change a decision (checked below), and the
    four runs stay a few seconds each.
    """
    return SimulationParams(
        arrivals_per_hour=200,
        aht_seconds=180,
        agents=agents,
        threshold_seconds=20,
        calls=100_000,
        warmup=2000,
        seed=1,
        patience_seconds=patience,
        explain=False,
    )


@pytest.fixture(scope="module")
def runs() -> dict[tuple[int, float | None], dict[str, Any]]:
    """Run the four reference simulations, two at a time."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = pool.map(simulate, [reference_run(*case) for case in CASES])
        return dict(zip(CASES, results, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("agents", [14, 13])
def test_without_patience_it_agrees_with_erlang_c(
    runs: dict[tuple[int, float | None], dict[str, Any]], agents: int
) -> None:
    result = runs[(agents, None)]
    theory = result["theory"]
    level, asa, occupancy = REFERENCE[agents]
    assert theory["model"] == "erlang_c"
    # the formulas in cc_common.erlang give KPIs.md's hand-computed figures
    assert round(theory["service_level"], 3) == level
    assert round(theory["asa_seconds"], 1) == asa
    assert round(theory["occupancy"], 3) == occupancy
    assert result["offered"] == result["answered"] == 100_000
    assert result["abandoned"] == 0
    assert abs(result["service_level"] - theory["service_level"]) <= 0.01
    assert abs(result["asa_seconds"] / theory["asa_seconds"] - 1) <= 0.10
    assert abs(result["occupancy"] - theory["occupancy"]) <= 0.01


@pytest.mark.slow
@pytest.mark.parametrize("agents", [14, 13])
def test_with_patience_it_agrees_with_erlang_a(
    runs: dict[tuple[int, float | None], dict[str, Any]], agents: int
) -> None:
    result = runs[(agents, PATIENCE)]
    theory = result["theory"]
    assert theory["model"] == "erlang_a"
    assert result["answered"] + result["abandoned"] == result["offered"] == 100_000
    assert abs(result["service_level"] - theory["service_level"]) <= 0.01
    assert abs(result["asa_seconds"] / theory["asa_seconds"] - 1) <= 0.10
    assert abs(result["abandon_rate"] - theory["abandon_rate"]) <= 0.005
    assert abs(result["occupancy"] - theory["occupancy"]) <= 0.01


@pytest.mark.slow
def test_the_tolerances_tell_the_two_staffing_levels_apart(
    runs: dict[tuple[int, float | None], dict[str, Any]],
) -> None:
    """One agent fewer is visible: the check is not too loose to fail."""
    thirteen, fourteen = runs[(13, None)], runs[(14, None)]
    assert abs(thirteen["service_level"] - fourteen["theory"]["service_level"]) > 0.01
    assert abs(thirteen["asa_seconds"] / fourteen["theory"]["asa_seconds"] - 1) > 0.10
    patient = runs[(13, PATIENCE)]
    assert abs(patient["service_level"] - thirteen["theory"]["service_level"]) > 0.01


def small(**changes: Any) -> SimulationParams:
    base: dict[str, Any] = {
        "arrivals_per_hour": 200,
        "aht_seconds": 180,
        "agents": 13,
        "threshold_seconds": 20,
        "calls": 3000,
        "warmup": 100,
        "seed": 5,
        "patience_seconds": 120.0,
    }
    base.update(changes)
    return SimulationParams(**base)


def test_explanations_never_change_a_decision() -> None:
    assert simulate(small(explain=True)) == simulate(small(explain=False))


def test_a_run_is_reproducible_from_its_seed() -> None:
    assert simulate(small()) == simulate(small())
    assert simulate(small()) != simulate(small(seed=6))


def test_events_out_replays_the_same_figures_on_the_virtual_clock() -> None:
    params = small(calls=1500)
    sink = io.StringIO()
    result = simulate(params, sink)
    lines = sink.getvalue().splitlines()
    assert len(lines) == result["events_published"]
    envelopes = [parse_event(line) for line in lines]
    assert len({e.id for e in envelopes}) == len(envelopes)
    start = datetime.fromtimestamp(DEFAULT_START, UTC)
    end = datetime.fromtimestamp(DEFAULT_START + result["simulated_seconds"], UTC)
    assert all(start <= e.occurred_at <= end for e in envelopes)
    assert [e.occurred_at for e in envelopes] == sorted(e.occurred_at for e in envelopes)
    ended = Counter(e.call_id for e in envelopes if isinstance(e.data, CallEnded))
    offered = {e.call_id for e in envelopes if isinstance(e.data, CallOffered)}
    assert set(ended) == offered
    assert set(ended.values()) == {1}
    measured = {f"call-{n:07d}" for n in range(params.warmup, params.warmup + params.calls)}
    waits = [
        e.data.wait_seconds
        for e in envelopes
        if isinstance(e.data, CallAnswered) and e.call_id in measured
    ]
    assert len(waits) == result["answered"]
    assert sum(w <= 20 for w in waits) / len(measured) == result["service_level"]
    assert sum(waits) / len(waits) == pytest.approx(result["asa_seconds"])
    assert {e.tenant for e in envelopes} == {"sim"}
    again = io.StringIO()
    simulate(params, again)
    assert again.getvalue() == sink.getvalue()  # event ids come from the seed too


def test_the_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--arrivals-per-hour", "200", "--aht", "180", "--agents", "14", "--threshold", "20",
            "--calls", "500", "--warmup", "50", "--seed", "1",
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for field in ("service_level", "asa_seconds", "occupancy", "abandon_rate", "answered",
                  "abandoned"):  # fmt: skip
        assert field in result
    assert result["parameters"]["patience_seconds"] is None


def test_the_cli_refuses_impossible_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--arrivals-per-hour", "200", "--aht", "180", "--agents", "0"]) == 2
    assert "at least one" in capsys.readouterr().err
    assert main(["--arrivals-per-hour", "-1", "--aht", "180", "--agents", "3"]) == 2
    assert (
        main(["--arrivals-per-hour", "1", "--aht", "180", "--agents", "3", "--patience", "0"]) == 2
    )


def test_the_module_runs_as_a_program(tmp_path: Any) -> None:
    events = tmp_path / "run.jsonl"
    done = subprocess.run(
        [
            sys.executable, "-m", "cc_routing.simulate", "--arrivals-per-hour", "200",
            "--aht", "180", "--agents", "14", "--calls", "200", "--warmup", "10",
            "--patience", "120", "--events-out", str(events),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert result["offered"] == 200
    assert len(events.read_text().splitlines()) == result["events_published"]

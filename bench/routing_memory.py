"""Resident memory of the routing state: 5,000 agents over 200 queues and 50 skills, logged in but
on break, with 1,000 parked callers queued for them.

A fresh interpreter (a child process, so nothing else lives in it) imports the ACD core, reads
its VmRSS from /proc/self/status, builds the contact center that bench/routing_select.py builds
(same seed: skills, skill expressions with a relaxation step, tiers), sends every agent on break,
parks 1,000 callers spread over the queues, and reads VmRSS again. The core is configured as the
service configures it (explanations kept for the last 1,000 decisions).

Figures: ``routing_rss_5000_agents_1000_calls`` (the whole process, MiB) and
``routing_rss_delta_5000_agents_1000_calls`` (what the state added, MiB).

    .tools/bin/uv run python bench/routing_memory.py
"""

from __future__ import annotations

import gc
import importlib.util
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
QUEUED_CALLS = 1000
BREAK_REASON = "training"
NOW = 1_700_000_000.0


def rss_kib() -> int:
    """Return this process's resident set size (VmRSS) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure_here() -> dict[str, Any]:
    """Build the state in this process; return the RSS before and after, and what was built."""
    from cc_routing.core import ParkedCall

    select = _load_bench("routing_select")
    gc.collect()
    before = rss_kib()
    rng = random.Random(2024)
    acd = select.build(rng)  # 5,000 agents logged in, available
    now = NOW + 60
    for agent_id in acd.agent_ids():
        acd.set_break(agent_id, BREAK_REASON, now)
    gc.collect()
    staffed = rss_kib()
    queues = acd.queue_names()
    ids = random.Random(7)
    for number in range(QUEUED_CALLS):
        now += 0.05
        call = ParkedCall(
            str(uuid.UUID(int=ids.getrandbits(128), version=4)),
            queues[number % len(queues)],
            priority=ids.choice((0, 0, 0, 5)),
            caller_number=f"+4930{ids.randrange(10**8):08d}",
            dialed_number="8000",
        )
        acd.call_arrived(call, now)
    gc.collect()
    after = rss_kib()
    statuses = [acd.queue_status(name, now) for name in queues]
    return {
        "before_kib": before,
        "staffed_kib": staffed,
        "after_kib": after,
        "agents": len(acd.agent_ids()),
        "on_break": sum(acd.agent_view(a).state == "break" for a in acd.agent_ids()),
        "queues": len(queues),
        "waiting": sum(s.waiting for s in statuses),
    }


def _load_bench(name: str) -> Any:
    """Import a sibling benchmark script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load bench/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(built: dict[str, Any]) -> None:
    """The state measured is the one asked for: every agent away, every caller waiting."""
    expected = {"agents": 5000, "on_break": 5000, "queues": 200, "waiting": QUEUED_CALLS}
    wrong = {k: built[k] for k, v in expected.items() if built[k] != v}
    if wrong:
        raise RuntimeError(f"built the wrong contact center: {built}")


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 1), "unit": unit}), flush=True)


def main() -> None:
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(measure_here()))
        return
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise SystemExit(f"the measuring process failed (exit {child.returncode})")
    built = json.loads(child.stdout.strip().splitlines()[-1])
    check(built)
    report("routing_rss_5000_agents_1000_calls", built["after_kib"] / 1024, "MiB")
    report(
        "routing_rss_delta_5000_agents_1000_calls",
        (built["after_kib"] - built["before_kib"]) / 1024,
        "MiB",
    )
    agents = (built["staffed_kib"] - built["before_kib"]) / 1024
    calls = (built["after_kib"] - built["staffed_kib"]) / 1024
    print(
        f"of which queues and agents {agents:.1f} MiB, the queued calls with the explanations "
        f"of their routing decisions {calls:.1f} MiB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

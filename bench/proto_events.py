"""Event envelope cost: building an event (make_event) and parsing one from the wire (parse_event).

Both run for every event every service publishes or consumes. Prints one JSON line per figure,
in events/s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from cc_proto import make_event, parse_event
from cc_proto.events import CallOffered

SECONDS = 2.0


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 1), "unit": unit}), flush=True)


def rate(work: Callable[[], object]) -> float:
    """Return how many times per second ``work`` runs, over about SECONDS."""
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS:
        for _ in range(500):
            work()
        done += 500
    return done / elapsed


def main() -> None:
    data = CallOffered(queue="sales")
    body = make_event(data, tenant="acme", call_id="c1").to_json()
    report(
        "proto_make_event", rate(lambda: make_event(data, tenant="acme", call_id="c1")), "events/s"
    )
    report("proto_parse_event", rate(lambda: parse_event(body)), "events/s")


if __name__ == "__main__":
    main()

"""Outbound pacing figures from the virtual-time dialer simulation (seeded, 8-hour shifts).

Predictive pacing at 10, 25, 50 and 100 agents (answer probability 0.2, handle time 120 s
exponential, ring before an answer 3-15 s) and progressive pacing at 25 for comparison: the
occupancy reached and the abandon rate (abandons over live answers; the rule allows 3 %).

Prints one JSON line per figure: {"bench": ..., "value": ..., "unit": ...}.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

from cc_routing.dialer import DialMode
from cc_routing.dialer_simulate import DialerParams, DialerReport, simulate_dialer

RUNS = [
    DialerParams(mode=DialMode.PREDICTIVE, agents=10),
    DialerParams(mode=DialMode.PREDICTIVE, agents=25),
    DialerParams(mode=DialMode.PREDICTIVE, agents=50),
    DialerParams(mode=DialMode.PREDICTIVE, agents=100),
    DialerParams(mode=DialMode.PROGRESSIVE, agents=25),
]


def main() -> None:
    """Run the shifts two at a time and print their figures."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        reports: list[DialerReport] = list(pool.map(simulate_dialer, RUNS))
    for report in reports:
        name = f"dialer_{report.mode}_{report.agents}_agents"
        figures = [
            ("occupancy", report.occupancy, "ratio"),
            ("abandon_rate", report.abandon_rate, "ratio"),
            ("dials_per_live_answer", report.dials_per_live_answer, "dials"),
        ]
        for figure, value, unit in figures:
            print(json.dumps({"bench": f"{name}_{figure}", "value": value, "unit": unit}))


if __name__ == "__main__":
    main()

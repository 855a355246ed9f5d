"""A demo day on the simulator's clock: arrivals by 15-minute interval, callbacks, shifts."""

from __future__ import annotations

import random

import pytest

from cc_sim.core.dialplan import Action, default_dialplan
from cc_sim.testing import SwitchBench
from cc_sim.traffic import (
    DAY_SECONDS,
    BreakPlan,
    DayProfile,
    Distribution,
    NumberTraffic,
    ShiftPlan,
    TrafficGenerator,
    Workforce,
    plan_day,
)

MORNING = [(8 * 60.0, 0.2), (10 * 60.0 + 30, 1.0), (13 * 60.0, 0.4), (18 * 60.0, 0.1)]


def test_a_profile_spreads_the_days_calls_by_interval() -> None:
    profile = DayProfile.from_points(MORNING, calls_per_day=400)
    assert sum(profile.calls) == pytest.approx(400)
    assert profile.calls[: 8 * 4] == (0.0,) * 32  # nothing before the first point
    assert profile.calls[18 * 4 :] == (0.0,) * 24  # nor after the last
    assert max(range(96), key=lambda i: profile.calls[i]) in (41, 42)  # around 10:30
    with pytest.raises(ValueError, match="two points"):
        DayProfile.from_points([(480.0, 1.0)], 10)


def test_arrivals_follow_the_profile_interval_by_interval() -> None:
    profile = DayProfile.from_points(MORNING, calls_per_day=4000)
    rng = random.Random(3)
    counts = [0] * 96
    t = 0.0
    while (t := profile.next_arrival(t, 0.0, rng) or DAY_SECONDS) < DAY_SECONDS:
        counts[int(t // 900)] += 1
    assert sum(counts) == pytest.approx(4000, rel=0.05)
    assert counts[:32] == [0] * 32
    peak = sum(counts[40:44])  # 10:00-11:00
    evening = sum(counts[68:72])  # 17:00-18:00
    assert peak > 3 * evening > 0
    assert DayProfile((0.0,) * 96).next_arrival(0.0, 0.0, rng) is None


class Desk:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, str | None]] = []

    def login(self, agent_id: str) -> None:
        self.log.append(("login", agent_id, None))

    def logout(self, agent_id: str) -> None:
        self.log.append(("logout", agent_id, None))

    def take_break(self, agent_id: str, reason: str) -> None:
        self.log.append(("break", agent_id, reason))

    def back(self, agent_id: str) -> None:
        self.log.append(("back", agent_id, None))


def test_agents_work_their_shifts_with_breaks_every_day() -> None:
    bench = SwitchBench()
    midnight = bench.switch.now_us() / 1_000_000 // DAY_SECONDS * DAY_SECONDS
    shift = ShiftPlan(
        "anna", 8 * 60, 16 * 60, (BreakPlan(12 * 60, 30, "lunch"), BreakPlan(10 * 60, 15, "break"))
    )
    desk = Desk()
    workforce = Workforce(bench.switch, [shift], desk, midnight=midnight, seed=1)
    workforce.start()
    bench.advance(2 * DAY_SECONDS)
    actions = [(kind, reason) for kind, _, reason in desk.log]
    day = [("login", None), ("break", "break"), ("back", None)]
    day += [("break", "lunch"), ("back", None), ("logout", None)]
    assert actions[:6] == day
    assert actions[6:12] == day  # and again the next day
    times = [a.at for a in workforce.done[:6]]
    assert times == sorted(times)
    assert abs(times[0] - (midnight + 8 * 3600)) <= 3 * 60  # a few minutes early or late
    assert abs(workforce.done[6].at - (midnight + DAY_SECONDS + 8 * 3600)) <= 3 * 60


def test_plan_day_keeps_breaks_inside_the_shift() -> None:
    shift = ShiftPlan("ben", 600, 1110, (BreakPlan(1100, 30, "lunch"),))
    actions = plan_day([shift], 0.0, random.Random(1))
    assert [a.action for a in actions] == ["login", "logout"]  # no room for it before the end
    with pytest.raises(ValueError, match="outside"):
        ShiftPlan("ben", 600, 700, (BreakPlan(800, 10, "lunch"),))


def test_waiting_callers_ask_for_a_callback_and_the_rest_abandon() -> None:
    plan = default_dialplan()
    plan.set_extension("default", "8001", [Action("answer"), Action("park")])
    bench = SwitchBench(dialplan=plan)
    asked: list[tuple[str, str]] = []
    traffic = TrafficGenerator(
        bench.switch,
        bench.callers,
        numbers=[
            NumberTraffic(
                "8001",
                calls_per_hour=0,
                profile=DayProfile.from_points([(0.0, 1.0), (1440.0, 1.0)], 2400),
                patience=Distribution("fixed", 300.0),
                callback_share=0.5,
                callback_after=Distribution("fixed", 60.0),
            )
        ],
        seed=4,
        on_callback=lambda uuid, number: asked.append((uuid, number)),
    )
    traffic.start()
    bench.advance(3600)
    traffic.stop()
    bench.advance(600)
    stats = traffic.stats["8001"]
    assert 60 <= stats.offered <= 140  # 100 an hour expected
    assert stats.callbacks == len(asked)
    assert 0.3 * stats.offered <= len(asked) <= 0.7 * stats.offered
    assert all(number.startswith("555") for _, number in asked)
    # nobody answers here: callers who did not ask (nobody acted on those who did) give up
    assert stats.abandoned == stats.offered

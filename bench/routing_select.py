"""Agent selection latency in the ACD core with 5,000 agents, 200 queues and 50 skills.

A seeded contact center: every agent holds 6-10 of 50 skills (one of them a language) at
proficiency 1-5 and serves 5 of 200 queues on two tier levels; every queue asks for a skill
expression with a relaxation step. Calls are brought in and answered until about 70 % of the
agents are talking. Then, on that live state:

- ``routing_select``: choosing the agent(s) for a call (the strategy's ordered index walked
  until the call's requirement is met), as the engine does on every arrival;
- ``routing_decision``: a whole arrival through the public API (selection, offer, events,
  explanation record), the caller then hanging up (not timed) to keep the state steady.

Prints one JSON line per figure: {"bench": ..., "value": ..., "unit": "us"}.
"""

from __future__ import annotations

import json
import random
import statistics
import time

from cc_routing.core import (
    Acd,
    AgentConfig,
    OfferCall,
    ParkedCall,
    QueueConfig,
    RelaxationStep,
    Strategy,
    Tier,
)
from cc_routing.core.strategies import pick_agents
from cc_routing.core.testing import answer

AGENTS, QUEUES, SKILLS = 5000, 200, 50
LANGUAGES = ("en", "fr", "de", "es", "it")
GENERIC = [f"skill_{n:02d}" for n in range(SKILLS - len(LANGUAGES))]
QUEUES_PER_AGENT = 5
BUSY_SHARE = 0.7
SAMPLES = 20_000
NOW = 1_700_000_000.0


def build(rng: random.Random) -> Acd:
    """Configure the queues and agents and log everyone in."""
    acd = Acd(rng=random.Random(1), explain=True)
    strategies = [Strategy.LONGEST_IDLE_AGENT] * 6 + [
        Strategy.ROUND_ROBIN,
        Strategy.AGENT_WITH_LEAST_TALK_TIME,
        Strategy.AGENT_WITH_FEWEST_CALLS,
        Strategy.TOP_DOWN,
        Strategy.RANDOM,
    ]
    needs: list[tuple[str, tuple[str, str]]] = []
    for number in range(QUEUES):
        skill = rng.choice(GENERIC)
        first, second = rng.sample(LANGUAGES, 2)
        languages = (first, second)
        needs.append((skill, languages))
        strict = (
            f"{skill} >= {rng.randint(2, 4)} and "
            f'(language == "{languages[0]}" or language == "{languages[1]}")'
        )
        relaxed = f'{skill} and language in ["{languages[0]}", "{languages[1]}"]'
        acd.configure_queue(
            QueueConfig(
                f"queue-{number:03d}",
                strategy=rng.choice(strategies),
                requirements=(RelaxationStep(0, strict), RelaxationStep(30, relaxed)),
            ),
            NOW,
        )
    for number in range(AGENTS):
        queues = rng.sample(range(QUEUES), QUEUES_PER_AGENT)
        skills = {s: rng.randint(1, 5) for s in rng.sample(GENERIC, rng.randint(3, 6))}
        for queue in queues:  # members mostly hold what their queues ask for
            skill, languages = needs[queue]
            skills[skill] = rng.randint(1, 5)
            if rng.random() < 0.8:
                skills[f"language.{rng.choice(languages)}"] = rng.randint(3, 5)
        tiers = {f"queue-{q:03d}": Tier(level=rng.randint(1, 2), position=number) for q in queues}
        agent_id = f"agent-{number:05d}"
        acd.upsert_agent(AgentConfig(agent_id, f"user/{number + 10000}", skills, tiers), NOW)
        acd.login(agent_id, NOW + number * 0.001)
    return acd


def make_busy(acd: Acd, rng: random.Random) -> float:
    """Bring calls in and answer them until about 70 % of the agents talk; return the time."""
    now = NOW + 10
    number = 0
    talking = 0
    misses = 0
    while talking < AGENTS * BUSY_SHARE and misses < 20_000:
        number += 1
        now += 0.01
        call_id = f"busy-{number}"
        out = acd.call_arrived(ParkedCall(call_id, f"queue-{rng.randrange(QUEUES):03d}"), now)
        offers = [c for c in out if isinstance(c, OfferCall)]
        if offers:
            answer(acd, offers[0].offer_id, now)
            talking += 1
        else:
            misses += 1
            acd.caller_hung_up(call_id, now)
    return now


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def emit(name: str, value: float, unit: str = "us") -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def main() -> None:
    rng = random.Random(2024)
    started = time.perf_counter()
    acd = build(rng)
    now = make_busy(acd, rng)
    emit("routing_select_setup", time.perf_counter() - started, "s")
    on_call = sum(acd.agent_view(a).state == "on_call" for a in acd.agent_ids())
    emit("routing_select_agents_on_call", on_call, "agents")
    queues = [acd._floor.queues[name] for name in acd.queue_names()]  # the engine's live queues

    select: list[float] = []
    for _ in range(SAMPLES):
        queue = rng.choice(queues)
        requirement = queue.compiled.steps[rng.randrange(2)][1]
        t0 = time.perf_counter_ns()
        pick_agents(
            queue.config.strategy, queue.index, requirement, start_after=queue.rr_last, rng=rng
        )
        select.append((time.perf_counter_ns() - t0) / 1000)
    emit("routing_select_p50", statistics.median(select))
    emit("routing_select_p99", percentile(select, 0.99))

    decision: list[float] = []
    for number in range(SAMPLES // 4):
        now += 0.01
        call_id = f"bench-{number}"
        parked = ParkedCall(call_id, f"queue-{rng.randrange(QUEUES):03d}")
        t0 = time.perf_counter_ns()
        acd.call_arrived(parked, now)
        decision.append((time.perf_counter_ns() - t0) / 1000)
        acd.caller_hung_up(call_id, now)
    emit("routing_decision_p50", statistics.median(decision))
    emit("routing_decision_p99", percentile(decision, 0.99))
    status = [acd.queue_status(name) for name in acd.queue_names()]
    offerable = statistics.mean(s.offerable for s in status)
    emit("routing_select_offerable_per_queue", offerable, "agents")


if __name__ == "__main__":
    main()

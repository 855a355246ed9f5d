"""Queueing formulas a contact center is planned by: Erlang B, C and A.

Traffic ``A = λ·AHT`` in Erlangs; ``c`` agents (or trunks). All rates are per second. These are
the definitions written in KPIs.md; the routing simulation and the staffing API both lean on them,
so they live here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(traffic: float, servers: int) -> float:
    """Return the blocking probability with ``servers`` trunks (B₀=1, B_k = A·B/(k + A·B))."""
    if servers < 0 or traffic < 0:
        raise ValueError("traffic and servers must be non-negative")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def erlang_c(traffic: float, agents: int) -> float:
    """Return the probability that a call waits (C = c·B / (c − A(1 − B))); 1.0 when A ≥ c."""
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(traffic, agents)
    return agents * blocking / (agents - traffic * (1 - blocking))


@dataclass(frozen=True, slots=True)
class ErlangCResult:
    """What Erlang C predicts for one staffing level."""

    agents: int
    traffic: float
    wait_probability: float
    service_level: float
    asa_seconds: float
    occupancy: float


def erlang_c_metrics(
    *, calls_per_hour: float, aht_seconds: float, agents: int, threshold_seconds: float
) -> ErlangCResult:
    """Return SL(T) = 1 − C·e^{−(c−A)T/AHT}, ASA = C·AHT/(c−A) and occupancy A/c."""
    traffic = calls_per_hour / 3600.0 * aht_seconds
    wait = erlang_c(traffic, agents)
    if agents <= traffic:
        return ErlangCResult(agents, traffic, 1.0, 0.0, math.inf, 1.0)
    service_level = 1.0 - wait * math.exp(-(agents - traffic) * threshold_seconds / aht_seconds)
    asa = wait * aht_seconds / (agents - traffic)
    return ErlangCResult(agents, traffic, wait, service_level, asa, traffic / agents)


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    """What Erlang A (M/M/c+M) predicts for one staffing level."""

    agents: int
    traffic: float
    wait_probability: float
    abandon_probability: float
    service_level: float
    asa_seconds: float
    occupancy: float


def erlang_a_metrics(
    *,
    calls_per_hour: float,
    aht_seconds: float,
    agents: int,
    patience_seconds: float,
    threshold_seconds: float,
) -> ErlangAResult:
    """Solve the birth–death chain π_n ∝ λⁿ / ∏(min(k,c)·μ + (k−c)⁺·θ) for an M/M/c+M queue.

    Service level here is answered within T over calls offered, the definition a simulation with
    abandonment reports: P(served and waited ≤ T). It is computed exactly from the chain: a
    caller who finds n ≥ c in system waits for n−c+1 departures at rate cμ + kθ while each
    overtaking death may be an abandonment ahead of them.
    """
    lam = calls_per_hour / 3600.0
    mu = 1.0 / aht_seconds
    theta = 1.0 / patience_seconds
    probs = _erlang_a_distribution(lam, mu, theta, agents)
    queue_length = sum((n - agents) * p for n, p in enumerate(probs) if n > agents)
    busy = sum(min(n, agents) * p for n, p in enumerate(probs))
    abandon = theta * queue_length / lam
    waiting = sum(p for n, p in enumerate(probs) if n >= agents)
    answered_fraction = 1.0 - abandon
    served_within = _served_within(probs, lam, mu, theta, agents, threshold_seconds)
    asa = _mean_wait_of_served(probs, mu, theta, agents) / max(answered_fraction, 1e-12)
    return ErlangAResult(
        agents=agents,
        traffic=lam / mu,
        wait_probability=waiting,
        abandon_probability=abandon,
        service_level=served_within,
        asa_seconds=asa,
        occupancy=busy / agents,
    )


def _erlang_a_distribution(lam: float, mu: float, theta: float, agents: int) -> list[float]:
    """Return the stationary distribution of the number in system, truncated far in the tail.

    Weights are kept as logarithms: when arrivals outpace the agents and patience is long,
    λ/death stays above 1 for tens of thousands of states and plain products overflow. The
    chain runs until deaths outpace arrivals and the weights fall below double precision.
    """
    logs = [0.0]
    peak = 0.0
    n = 0
    while True:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        peak = max(peak, logs[-1])
        if n > agents and death > lam and logs[-1] < peak - 700:
            break
        if n > 10_000_000:
            raise ValueError("Erlang A chain does not converge (is patience infinite?)")
    weights = [math.exp(x - peak) for x in logs]
    while len(weights) > agents + 1 and weights[-1] < 1e-18:  # negligible tail: less to integrate
        weights.pop()
    total = sum(weights)
    return [w / total for w in weights]


def _served_within(
    probs: list[float], lam: float, mu: float, theta: float, agents: int, threshold: float
) -> float:
    """Return P(an arriving caller is answered after waiting at most ``threshold`` seconds).

    A caller arriving to find n ≥ c in system is at queue place j = n−c (0-based). Places ahead
    move at rate cμ + kθ with k callers ahead; the caller themself abandons at rate θ. We
    integrate the place process over [0, T] with uniformisation-free small steps, which is exact
    enough (1e-6) for the chain sizes used in planning.
    """
    served = sum(p for n, p in enumerate(probs) if n < agents)
    max_place = len(probs) - agents
    if max_place <= 0:
        return served
    # state[j] = P(still waiting at place j); exits to service from place 0 at rate cμ.
    state = [probs[agents + j] if agents + j < len(probs) else 0.0 for j in range(max_place)]
    steps = max(2000, int(threshold * (agents * mu + theta * 50) * 20))
    dt = threshold / steps
    for _ in range(steps):
        new = [0.0] * max_place
        for j, p in enumerate(state):
            if p < 1e-18:
                continue
            ahead_rate = agents * mu + j * theta
            served_now = p * agents * mu * dt if j == 0 else 0.0
            moved = p * ahead_rate * dt if j > 0 else 0.0
            left = p * theta * dt
            served += served_now
            new[j] += p - served_now - moved - left
            if j > 0:
                new[j - 1] += moved
        state = new
    return served


def _mean_wait_of_served(probs: list[float], mu: float, theta: float, agents: int) -> float:
    """Return E[wait · 1{served}] over arrivals, by first-step analysis on queue places."""
    total = 0.0
    # For place j: expected wait-until-exit W_j and probability of being served S_j satisfy
    # W_j = 1/r_j + a_j·W_{j-1}·..., computed forward from place 0.
    served_prob: list[float] = []
    wait_served: list[float] = []
    for j in range(len(probs) - agents):
        rate = agents * mu + (j + 1) * theta if j > 0 else agents * mu + theta
        if j == 0:
            p_serve = agents * mu / rate
            served_prob.append(p_serve)
            wait_served.append(p_serve / rate)
        else:
            p_advance = (agents * mu + j * theta) / rate
            s = p_advance * served_prob[j - 1]
            served_prob.append(s)
            wait_served.append(s / rate + p_advance * wait_served[j - 1])
        total += probs[agents + j] * wait_served[j]
    return total


def agents_for_service_level(
    *,
    calls_per_hour: float,
    aht_seconds: float,
    target_service_level: float,
    threshold_seconds: float,
    patience_seconds: float | None = None,
    max_agents: int = 10_000,
) -> int:
    """Return the fewest agents meeting the service-level target (Erlang C, or A with patience)."""
    traffic = calls_per_hour / 3600.0 * aht_seconds
    start = max(1, math.floor(traffic) + (0 if patience_seconds else 1))
    for agents in range(start, max_agents + 1):
        if patience_seconds is None:
            level = erlang_c_metrics(
                calls_per_hour=calls_per_hour,
                aht_seconds=aht_seconds,
                agents=agents,
                threshold_seconds=threshold_seconds,
            ).service_level
        else:
            level = erlang_a_metrics(
                calls_per_hour=calls_per_hour,
                aht_seconds=aht_seconds,
                agents=agents,
                patience_seconds=patience_seconds,
                threshold_seconds=threshold_seconds,
            ).service_level
        if level >= target_service_level:
            return agents
    raise ValueError(f"no staffing up to {max_agents} agents meets the target")


def trunks_for_blocking(
    *, traffic: float, target_blocking: float, max_trunks: int = 100_000
) -> int:
    """Return the fewest trunks whose Erlang B blocking is at most ``target_blocking``."""
    for trunks in range(max_trunks + 1):
        if erlang_b(traffic, trunks) <= target_blocking:
            return trunks
    raise ValueError(f"no trunk count up to {max_trunks} meets the target")

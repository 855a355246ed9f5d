"""Webhook rules: which events a subscription wants, when to retry, which addresses are refused."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

Network = IPv4Network | IPv6Network


def wants(patterns: Sequence[str], event_type: str) -> bool:
    """``call.ended`` matches itself, ``call.*`` and ``*``."""
    aggregate = event_type.split(".", 1)[0]
    return any(p in ("*", event_type, f"{aggregate}.*") for p in patterns)


def backoff_seconds(
    attempt: int, *, base: float, cap: float, uniform: Callable[[float, float], float] | None = None
) -> float:
    """Wait before retry ``attempt`` (1 = after the first failure): exponential, full jitter.

    Half the exponential step is fixed and half is random, so retries spread out without ever
    coming back almost at once.
    """
    draw: Callable[[float, float], float] = uniform or random.uniform
    step = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step / 2 + draw(0.0, step / 2)


def refused_address(address: str, allowed: Iterable[Network]) -> str | None:
    """Return why a webhook may not go to ``address`` (an IP), or None if it may."""
    try:
        ip: IPv4Address | IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return None
    if ip.is_multicast or ip.is_unspecified:
        return f"{ip} is not a unicast address"
    if not ip.is_global:
        return f"{ip} is a private, loopback or reserved address"
    return None


def delivery_id(now_microseconds: int, random_hex: str) -> str:
    """Return a delivery id that sorts by creation time (the delivery log pages by it)."""
    return f"dlv_{now_microseconds:016x}{random_hex[:16]}"

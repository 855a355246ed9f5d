"""A token bucket per API key: a burst, then a sustained rate; the clock is passed in.

The bucket itself is kept in PostgreSQL (adapters/ratelimit.py) so every replica spends from
the same one; this is only the arithmetic of one request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    """A key's tokens as of ``at`` (wall-clock seconds, the same on every replica)."""

    tokens: float
    at: float


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How fast one key may go: ``burst`` at once, ``rate`` per second sustained."""

    rate: float
    burst: int

    def take(self, bucket: Bucket | None, now: float) -> tuple[Bucket, float]:
        """Spend one token; return the bucket after and 0, or the seconds until one is due.

        A first request finds a full bucket. Time never runs backwards for a bucket: a replica
        whose clock is a little behind the last writer's refills nothing rather than draining.
        """
        if bucket is None:
            tokens = float(self.burst)
        else:
            elapsed = max(0.0, now - bucket.at)
            tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        at = now if bucket is None else max(now, bucket.at)
        if tokens >= 1.0:
            return Bucket(tokens - 1.0, at), 0.0
        return Bucket(tokens, at), (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """Return the Retry-After header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

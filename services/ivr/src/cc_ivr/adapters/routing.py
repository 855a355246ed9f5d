"""Callback requests to routing's internal API (``POST /v1/calls/{call_id}/callback``).

The caller who chose a callback is parked in the callback's queue with ``cc_callback_number``
before the request is sent, so routing holds them as an ordinary waiting call whatever happens
to the request: a request that cannot be delivered leaves the caller in the queue, in their place,
to be answered in turn. That is why a transient failure is worth retrying for a while (routing
sees the park a moment after the socket closes; routing may be restarting) and a refusal is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import httpx

from cc_common.logging import get_logger

log = get_logger(__name__)

CallbackResult = Literal["booked", "refused", "gave_up", "not_configured"]

RETRY_STATUSES = frozenset({404, 408, 425, 429, 500, 502, 503, 504})
"""404: routing has not seen the park yet; the rest: routing is busy, restarting or behind a proxy
that is. Any other 4xx is routing's final word on this request."""


def worth_retrying(status_code: int | None) -> bool:
    """Return whether a request that got ``status_code`` (None: no answer at all) may succeed
    if sent again."""
    return status_code is None or status_code in RETRY_STATUSES


@dataclass(frozen=True)
class CallbackOutcome:
    """What became of one callback request, and routing's last answer (for the log)."""

    result: CallbackResult
    attempts: int
    status_code: int | None = None
    detail: str = ""


class RoutingCallbacks:
    """Asks routing to turn a parked caller into a callback that keeps their place."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        patience_seconds: float = 120.0,
        first_delay: float = 0.25,
        max_delay: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.patience_seconds = patience_seconds
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.sleep = sleep

    async def request(self, call_id: str, number: str) -> CallbackOutcome:
        """Send the request until routing books or refuses it, or patience runs out."""
        if not self.base_url:
            return CallbackOutcome("not_configured", 0)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base_url}/v1/calls/{call_id}/callback"
        waited, delay, attempts = 0.0, self.first_delay, 0
        status_code: int | None = None
        detail = ""
        async with httpx.AsyncClient(headers=headers, timeout=5.0) as http:
            while True:
                attempts += 1
                try:
                    response = await http.post(url, json={"number": number})
                    status_code, detail = response.status_code, _detail(response)
                except httpx.HTTPError as exc:
                    status_code, detail = None, f"{type(exc).__name__}: {exc}"
                if status_code is not None and status_code < 300:
                    return CallbackOutcome("booked", attempts, status_code)
                if not worth_retrying(status_code):
                    return CallbackOutcome("refused", attempts, status_code, detail)
                if waited + delay > self.patience_seconds:
                    return CallbackOutcome("gave_up", attempts, status_code, detail)
                await self.sleep(delay)
                waited += delay
                delay = min(delay * 2, self.max_delay)


def _detail(response: httpx.Response) -> str:
    """Routing's reason (a problem document's ``detail``), or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return (detail if isinstance(detail, str) else str(body))[:200]

"""The CRM data dip over HTTP, behind a circuit breaker.

Contract: ``GET {crm_url}/customers/lookup?phone=<number>`` or ``?account=<digits>``; 200 with a
JSON object is a match (its scalar fields become strings), 404 is no match; anything else, a
body that is not an object, or no answer within the node's timeout is an error or a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from cc_common.logging import get_logger
from cc_ivr.core import LookupCustomer, LookupResult
from cc_ivr.core.breaker import CircuitBreaker

log = get_logger(__name__)


class CrmClient:
    """Looks callers up; one instance (and one breaker) per process."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(headers=headers)
        self.breaker = breaker or CircuitBreaker()
        self._clock = clock

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def lookup(self, ask: LookupCustomer) -> LookupResult:
        """Ask the CRM; every failure is a defined status, never an exception."""
        if not self.base_url or not ask.key:
            return LookupResult("error")
        if not self.breaker.allow(self._clock()):
            log.warning("ivr.crm_circuit_open")
            return LookupResult("circuit_open")
        params = {"phone" if ask.by == "caller" else "account": ask.key}
        try:
            async with asyncio.timeout(ask.timeout_seconds):
                response = await self._http.get(f"{self.base_url}/customers/lookup", params=params)
        except TimeoutError:
            self.breaker.failure(self._clock())
            log.warning("ivr.crm_timeout", by=ask.by)
            return LookupResult("timeout")
        except httpx.HTTPError as exc:
            self.breaker.failure(self._clock())
            log.warning("ivr.crm_error", error=str(exc) or type(exc).__name__)
            return LookupResult("error")
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> LookupResult:
        if response.status_code == 404:
            self.breaker.success()
            return LookupResult("not_found")
        body: object = None
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
        if not isinstance(body, dict):
            self.breaker.failure(self._clock())
            log.warning("ivr.crm_bad_answer", status=response.status_code)
            return LookupResult("error")
        self.breaker.success()
        fields = {
            str(k): _text(v) for k, v in body.items() if isinstance(v, str | int | float | bool)
        }
        return LookupResult("found", fields)


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

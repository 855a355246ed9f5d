"""Clients of routing's and metrics' internal APIs, over HTTP with the service token.

Their answers are passed on: a 4xx keeps its status and reason (the caller's mistake); a
failure of theirs becomes 502/503 without naming an internal host.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import HTTPException, status

from cc_common.logging import get_logger

log = get_logger(__name__)

PASSED_ON = {400, 404, 409, 413, 422}
RETRIED = {"GET", "PUT", "DELETE"}
"""Idempotent methods are sent again once when a pooled connection turns out to be closed."""


class Upstream:
    """One internal service's API."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        token: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport or httpx.AsyncHTTPTransport(retries=1),
        )

    async def close(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        missing_ok: bool = False,
        wait_seconds: float | None = None,
    ) -> httpx.Response:
        """Send one request; raise HTTPException for anything but success (or a 404 if allowed).

        ``wait_seconds`` replaces the client's timeout for a call known to take longer."""
        wait = httpx.USE_CLIENT_DEFAULT if wait_seconds is None else httpx.Timeout(wait_seconds)
        try:
            try:
                reply = await self._client.request(
                    method, path, json=json, params=params, timeout=wait
                )
            except (httpx.RemoteProtocolError, httpx.ReadError):
                if method not in RETRIED:
                    raise
                reply = await self._client.request(
                    method, path, json=json, params=params, timeout=wait
                )
        except httpx.HTTPError as exc:
            log.warning("upstream.unreachable", service=self.name, error=repr(exc))
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"the {self.name} service is unavailable"
            ) from None
        if reply.is_success or (missing_ok and reply.status_code == 404):
            return reply
        if reply.status_code in PASSED_ON:
            raise HTTPException(reply.status_code, _reason(reply))
        if reply.status_code == 503:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"the {self.name} service is not ready"
            )
        log.error("upstream.failed", service=self.name, status=reply.status_code, path=path)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"the {self.name} service refused or failed the request ({reply.status_code})",
        )


def _reason(reply: httpx.Response) -> str:
    """Return the upstream's reason text (a problem detail's or FastAPI's ``detail``)."""
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:500] or reply.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if detail is not None:
        return str(detail)[:1000]
    return str(body)[:500]

"""Pausing the call's recording while the caller enters card data (PCI), through the recording
service's internal API (``POST {recording_url}/calls/{call_id}/recording/pause|resume``).

The recording service owns the recording: it masks it on FreeSWITCH (``uuid_record ... mask``),
keeps the stretch in the recording's metadata and survives its own restarts, so the IVR asks it
rather than driving the switch itself. The contract the IVR relies on: 200 means the recording is
masked now, 404 means the call has no recording in progress (nothing can hear the digits).
Everything else (no service configured, unreachable, a timeout, 409, 5xx) is a failure to pause,
and the sensitive input is then refused rather than recorded.
"""

from __future__ import annotations

import asyncio

import httpx

from cc_common.access import bearer_headers
from cc_common.logging import get_logger

log = get_logger(__name__)

ACTOR = "ivr"
REASON = "sensitive_input"
RESUME_ATTEMPTS = 3


class PauseFailed(Exception):
    """The recording could not be paused; the text says why."""


class RecordingPauser:
    """Pauses and resumes a call's recording; one instance per process."""

    def __init__(self, base_url: str, *, token: str = "", timeout: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = (
            httpx.AsyncClient(headers=bearer_headers(token), timeout=timeout)
            if self.base_url
            else None
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        if self._http is not None:
            await self._http.aclose()

    async def pause(self, call_id: str) -> bool:
        """Mask the call's recording: True when masked, False when nothing records the call.

        Raises :class:`PauseFailed` when it cannot be sure the recording is masked.
        """
        if self._http is None:
            raise PauseFailed("no recording service configured (CC_RECORDING_URL)")
        try:
            response = await self._post(call_id, "pause")
        except httpx.HTTPError as exc:
            raise PauseFailed(f"recording service unreachable: {exc!r}") from exc
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise PauseFailed(f"recording service answered {response.status_code}: {_detail(response)}")

    async def resume(self, call_id: str) -> bool:
        """Unmask the call's recording (tried a few times); False when it stayed masked.

        A recording left masked loses the rest of the conversation, not card data, so a failure
        here is logged and the call goes on.
        """
        for attempt in range(1, RESUME_ATTEMPTS + 1):
            try:
                response = await self._post(call_id, "resume")
            except httpx.HTTPError as exc:
                log.warning("ivr.recording_resume_failed", attempt=attempt, error=repr(exc))
            else:
                if response.status_code in (200, 404):  # 404: the call (and recording) ended
                    return True
                log.warning(
                    "ivr.recording_resume_failed",
                    attempt=attempt,
                    status=response.status_code,
                    detail=_detail(response),
                )
            await asyncio.sleep(0.2 * attempt)
        return False

    async def _post(self, call_id: str, action: str) -> httpx.Response:
        if self._http is None:
            raise httpx.InvalidURL("no recording service configured")
        url = f"{self.base_url}/calls/{call_id}/recording/{action}"
        body: dict[str, str] = {"actor": ACTOR}
        if action == "pause":
            body["reason"] = REASON
        return await self._http.post(url, json=body)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body))[:200] if isinstance(body, dict) else str(body)[:200]

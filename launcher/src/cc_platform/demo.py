"""The demo day: the center file applied through routing's API, then callers and agents at work.

Callers dial the queues' numbers on the simulator, whose dialplan answers, marks the queue and
parks them; routing offers them to agents over ESL; events flow on the bus to metrics. Agents
log in, take breaks and log out through routing's API as their desktops would; a caller who
asks for a callback is posted to routing's API as the IVR's callback offer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cc_common.logging import get_logger
from cc_platform.center import DemoCenter
from cc_routing.api import AGENTS, QUEUES
from cc_sim.simulator import Simulator
from cc_sim.traffic import AgentTraffic, Distribution, NumberTraffic, TrafficGenerator, Workforce

log = get_logger("cc_platform.demo")


def service_token() -> str | None:
    """Return the internal APIs' bearer token, from the environment or the secrets directory."""
    token = os.environ.get("CC_SERVICE_TOKEN")
    secrets = os.environ.get("CC_SECRETS_DIR")
    if not token and secrets:
        path = Path(secrets) / "CC_SERVICE_TOKEN"
        with contextlib.suppress(OSError):
            token = path.read_text().strip()
    return token or None


def routing_client(base_url: str) -> httpx.AsyncClient:
    """An HTTP client for routing's internal API (with the service token when one is set)."""
    token = service_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10)


APPLIED_FILE = "center-applied.json"
"""In the state directory: the queues and agents the last apply of the center file made."""


class CenterRejected(RuntimeError):
    """Routing refused part of the center file (the message says which and why)."""


async def apply_center(
    client: httpx.AsyncClient, center: DemoCenter, applied_file: Path | None = None
) -> None:
    """Make routing hold what the file says: put every queue and agent, remove what is gone.

    What the previous apply put there is kept in ``applied_file``: an agent or queue in it but
    no longer in the file is removed (an agent logged out first), so the file is the truth.
    Queues and agents made by hand through the API are left alone. A queue still holding calls
    cannot be removed (nothing may be lost): it stays on the list and the next start retries.
    Teams are labels on agents and the metrics service's list from the file, so they follow.
    """
    previous = read_applied(applied_file)
    now = Applied.of(center)
    if applied_file is not None:  # first: a start stopped half-way still knows what it put
        write_applied(applied_file, previous.plus(now))
    await _put_center(client, center)
    gone = previous.minus(now)  # agents first: they may still be in a gone queue's tiers
    agents_left = [a for a in sorted(gone.agents) if not await _remove_agent(client, a)]
    queues_left = [q for q in sorted(gone.queues) if not await _remove_queue(client, q)]
    if applied_file is not None:
        left = Applied(frozenset(queues_left), frozenset(agents_left))
        write_applied(applied_file, now.plus(left))


async def _put_center(client: httpx.AsyncClient, center: DemoCenter) -> None:
    """Put every queue, then every agent (their tiers name the queues); refuse on an error."""
    for queue in center.queue_configs():
        body = QUEUES.dump_python(queue, mode="json")
        response = await client.put(f"/v1/queues/{queue.name}", json=body)
        if response.status_code != 200:
            raise CenterRejected(f"routing refused queue {queue.name!r}: {response.text}")
    for agent in center.agent_configs():
        body = AGENTS.dump_python(agent, mode="json")
        response = await client.put(f"/v1/agents/{agent.agent_id}", json=body)
        if response.status_code != 200:
            raise CenterRejected(f"routing refused agent {agent.agent_id!r}: {response.text}")


@dataclass(frozen=True, slots=True)
class Applied:
    """The queues and agents a center file put into routing."""

    queues: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()

    @classmethod
    def of(cls, center: DemoCenter) -> Applied:
        """What applying ``center`` puts into routing."""
        return cls(frozenset(center.spec.queues), frozenset(a.id for a in center.spec.agents))

    def minus(self, other: Applied) -> Applied:
        """What is here but not in ``other``."""
        return Applied(self.queues - other.queues, self.agents - other.agents)

    def plus(self, other: Applied) -> Applied:
        """Both together."""
        return Applied(self.queues | other.queues, self.agents | other.agents)


def read_applied(path: Path | None) -> Applied:
    """What the previous apply put into routing (nothing if it was never recorded)."""
    if path is None:
        return Applied()
    try:
        data = json.loads(path.read_text())
        return Applied(frozenset(map(str, data["queues"])), frozenset(map(str, data["agents"])))
    except (OSError, ValueError, KeyError, TypeError):
        return Applied()


def write_applied(path: Path, applied: Applied) -> None:
    """Remember what routing holds from the file, for the next apply to compare with."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"queues": sorted(applied.queues), "agents": sorted(applied.agents)}
    path.write_text(json.dumps(body, indent=1) + "\n")


async def _remove_agent(client: httpx.AsyncClient, agent_id: str) -> bool:
    """Log an agent who left the file out and forget them; return whether they are gone."""
    logout = await client.post(f"/v1/agents/{agent_id}/logout", json={"reason": "removed"})
    if logout.status_code == 404:
        return True
    response = await client.delete(f"/v1/agents/{agent_id}")
    if response.status_code in (204, 404):
        log.info("demo.agent_removed", agent_id=agent_id)
        return True
    log.warning("demo.agent_not_removed", agent_id=agent_id, reason=response.text[:300])
    return False


async def _remove_queue(client: httpx.AsyncClient, name: str) -> bool:
    """Delete a queue that left the file; return whether it is gone (not while it holds calls)."""
    response = await client.delete(f"/v1/queues/{name}")
    if response.status_code in (204, 404):
        log.info("demo.queue_removed", queue=name)
        return True
    log.warning("demo.queue_not_removed", queue=name, reason=response.text[:300])
    return False


class RoutingDesk:
    """Agents' desktops and the callback offer: requests to routing's API, in order."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.jobs: asyncio.Queue[Callable[[], Awaitable[httpx.Response]]] = asyncio.Queue()
        self.sent: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Send queued requests in the background."""
        self._task = asyncio.create_task(self._run(), name="demo-desk")

    async def stop(self) -> None:
        """Stop sending (requests not yet sent are dropped with the day)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            job = await self.jobs.get()
            try:
                response = await job()
            except httpx.HTTPError as exc:
                log.warning("demo.desk_failed", error=repr(exc))
                continue
            kind = response.request.url.path.rsplit("/", 1)[-1]
            if response.is_success:
                self.sent[kind] = self.sent.get(kind, 0) + 1
            else:  # e.g. a callback asked just as an agent picked up: the caller stays
                self.refused[kind] = self.refused.get(kind, 0) + 1
                log.debug("demo.desk_refused", path=response.request.url.path, body=response.text)

    def _post(self, path: str, body: dict[str, Any]) -> None:
        self.jobs.put_nowait(lambda: self.client.post(path, json=body))

    def login(self, agent_id: str) -> None:
        """Start the shift, available."""
        self._post(f"/v1/agents/{agent_id}/login", {})

    def logout(self, agent_id: str) -> None:
        """End the shift."""
        self._post(f"/v1/agents/{agent_id}/logout", {"reason": "end of shift"})

    def take_break(self, agent_id: str, reason: str) -> None:
        """Go on break with a reason code."""
        self._post(f"/v1/agents/{agent_id}/state", {"state": "break", "reason": reason})

    def back(self, agent_id: str) -> None:
        """Come back from a break."""
        self._post(f"/v1/agents/{agent_id}/state", {"state": "available"})

    async def back_after_missed_calls(self, agent_ids: list[str]) -> int:
        """Agents routing made not ready for missed calls come back (as a person at the desk
        would, noticing); return how many did."""
        back = 0
        for agent_id in agent_ids:
            try:
                response = await self.client.get(f"/v1/agents/{agent_id}")
            except httpx.HTTPError:
                continue
            view = response.json() if response.is_success else {}
            if view.get("state") == "not_ready" and view.get("reason") == "max_no_answer":
                self.back(agent_id)
                back += 1
        return back

    def callback(self, call_id: str, number: str) -> None:
        """A waiting caller asks to be called back on their number."""
        self._post(f"/v1/calls/{call_id}/callback", {"number": number})


class DemoDay:
    """Callers and agents of the center file on the simulator, day after day."""

    def __init__(self, center: DemoCenter, sim: Simulator, desk: RoutingDesk, midnight: float):
        spec = center.spec
        behaviour = spec.traffic.agents
        numbers = [
            NumberTraffic(
                spec.queues[name].number,
                calls_per_hour=0,
                profile=center.profile(name),
                patience=Distribution.parse(queue.patience),
                talk=Distribution.parse(queue.talk),
                callback_share=queue.callback_share,
                caller_prefix=f"55{index}",
            )
            for index, (name, queue) in enumerate(spec.traffic.queues.items(), start=1)
        ]
        self.queue_of_number = {spec.queues[name].number: name for name in spec.traffic.queues}
        self.traffic = TrafficGenerator(
            sim.switch,
            sim.callers,
            numbers=numbers,
            agents=AgentTraffic(
                users=tuple(agent.extension for agent in spec.agents),
                answer_delay=behaviour.answer_seconds,
                no_answer_probability=behaviour.missed_ring_share,
                wrap_up=None,  # routing holds agents in wrap-up, per queue
            ),
            seed=spec.traffic.seed,
            midnight=midnight,
            on_callback=desk.callback,
        )
        self.workforce = Workforce(
            sim.switch, center.shifts(), desk, midnight=midnight, seed=spec.traffic.seed + 1
        )

    def start(self) -> None:
        """Phones registered, callers start arriving, agents work their shifts."""
        self.traffic.start()
        self.workforce.start()

    def stop(self) -> None:
        """No new callers or desk actions."""
        self.traffic.stop()
        self.workforce.stop()

    def summary(self) -> dict[str, dict[str, int]]:
        """Return what happened to each queue's callers so far (the simulator's view)."""
        return {
            self.queue_of_number[number]: {
                "offered": stats.offered,
                "talked": stats.completed,
                "gave_up": stats.abandoned,
                "asked_callback": stats.callbacks,
            }
            for number, stats in self.traffic.stats.items()
        }

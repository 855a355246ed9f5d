"""The simulator's configuration: defaults, ``CC_SIM_*`` environment variables, CLI flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cc_sim.core.dialplan import Action, parse_actions

ENV_PREFIX = "CC_SIM_"


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that shapes a simulator run (durations are simulated seconds)."""

    esl_host: str = "127.0.0.1"
    esl_port: int = 8021
    esl_password: str = "ClueCon"
    time_compression: float = 1.0
    start_epoch: float | None = None
    """Simulated time at start (epoch seconds); None: the wall clock's."""
    heartbeat_seconds: float = 20.0
    hostname: str = "cc-sim"
    core_uuid: str | None = None
    socket_address: str = "127.0.0.1:8084"
    """Where extension 7102's ``socket`` application connects (the IVR service)."""
    routes: tuple[tuple[str, str, tuple[Action, ...]], ...] = ()
    """Extra routes: (context, number, actions)."""
    agents: tuple[str, ...] = ()
    """Agent phones registered at start (user ids)."""
    agent_answer_delay: tuple[float, float] = (1.0, 3.0)
    default_file_seconds: float = 3.0
    seed: int | None = None
    esl_users: Mapping[str, str] = field(default_factory=dict)
    originate_reply_seconds: float = 0.0
    """Time from an originated leg's answer to the originate's reply: FreeSWITCH polls, about
    20 ms on the real test build; 0 replies at once (as the golden captures were replayed)."""
    originate_setup_seconds: tuple[float, float] = (0.001, 0.003)
    """Range of the time from an originate starting to its leg existing (drawn per originate
    from the seeded generator): 1-2 ms on the idle real test build, longer under load. A
    command naming the ``origination_uuid`` before then answers ``-ERR No such channel!`` and
    the leg rings anyway, as on FreeSWITCH; ``(0, 0)`` creates the leg at once."""
    early_bridge_cancel: float = 1.0
    """Chance a leg bridged before its originate replies ends the job ``-ERR ORIGINATOR_CANCEL``
    (the bridge stands), as FreeSWITCH 1.10 does under load; 0 turns the race off."""
    listing_lag_seconds: tuple[float, float] = (0.03, 0.3)
    """Range of the time (drawn per change from the seeded generator) from a channel being
    created or destroyed to ``show channels``/``show calls`` listing or dropping it, while
    ``uuid_exists``/``uuid_dump``/``uuid_getvar`` see it at once: FreeSWITCH writes that table
    from a background thread, 30-300 ms behind on the real test build
    (``bench/switch_listing_lag.py``); ``(0, 0)`` lists at once."""

    def with_overrides(self, **changes: object) -> SimConfig:
        """Return a copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def parse_route(text: str) -> tuple[str, str, tuple[Action, ...]]:
    """Parse ``[context/]number=actions`` (actions as in :func:`parse_actions`)."""
    target, equals, actions = text.partition("=")
    if not equals or not target.strip():
        raise ValueError(f"route must be [context/]number=actions, got {text!r}")
    context, slash, number = target.strip().rpartition("/")
    parsed = tuple(parse_actions(actions))
    if not parsed:
        raise ValueError(f"route {text!r} has no actions")
    return (context if slash else "default", number, parsed)


def parse_agents(text: str) -> tuple[str, ...]:
    """Parse ``1001,1002`` or ``1001-1010`` into agent user ids."""
    users: list[str] = []
    for chunk in text.split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        first, dash, last = chunk.partition("-")
        if dash and first.isdigit() and last.isdigit():
            if int(last) < int(first) or int(last) - int(first) > 10_000:
                raise ValueError(f"bad agent range {chunk!r}")
            users.extend(str(n) for n in range(int(first), int(last) + 1))
        else:
            users.append(chunk)
    return tuple(users)


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def from_env(environ: Mapping[str, str] | None = None, base: SimConfig | None = None) -> SimConfig:
    """Read CC_SIM_ESL_HOST, _ESL_PORT, _ESL_PASSWORD, _TIME_COMPRESSION, _AGENTS, _ROUTES ..."""
    env = os.environ if environ is None else environ
    config = base or SimConfig()

    def get(name: str) -> str | None:
        return env.get(ENV_PREFIX + name)

    changes: dict[str, object] = {}
    if (value := get("ESL_HOST")) is not None:
        changes["esl_host"] = value
    if (value := get("ESL_PORT")) is not None:
        changes["esl_port"] = int(_float(value, "CC_SIM_ESL_PORT"))
    if (value := get("ESL_PASSWORD")) is not None:
        changes["esl_password"] = value
    if (value := get("TIME_COMPRESSION")) is not None:
        changes["time_compression"] = _float(value, "CC_SIM_TIME_COMPRESSION")
    if (value := get("SOCKET_ADDRESS")) is not None:
        changes["socket_address"] = value
    if (value := get("AGENTS")) is not None:
        changes["agents"] = parse_agents(value)
    if (value := get("ROUTES")) is not None:
        changes["routes"] = tuple(parse_route(r) for r in value.split("|") if r.strip())
    if (value := get("SEED")) is not None:
        changes["seed"] = int(value)
    config = replace(config, **changes)  # type: ignore[arg-type]
    return validate(config)


def validate(config: SimConfig) -> SimConfig:
    """Refuse settings that cannot work, with a clear message."""
    if not 0 <= config.esl_port <= 65535:
        raise ValueError(f"ESL port must be 0-65535, got {config.esl_port}")
    if not config.time_compression > 0:
        raise ValueError(f"time compression must be > 0, got {config.time_compression}")
    if not config.heartbeat_seconds > 0:
        raise ValueError(f"heartbeat must be > 0 seconds, got {config.heartbeat_seconds}")
    if config.originate_reply_seconds < 0:
        raise ValueError(
            f"originate reply delay must be >= 0, got {config.originate_reply_seconds}"
        )
    _check_range("originate setup", config.originate_setup_seconds)
    _check_range("listing lag", config.listing_lag_seconds)
    if not 0 <= config.early_bridge_cancel <= 1:
        raise ValueError(f"early bridge cancel must be 0-1, got {config.early_bridge_cancel}")
    if not config.esl_password:
        raise ValueError("the ESL password must not be empty")
    return config


def _check_range(what: str, bounds: tuple[float, float]) -> None:
    """Refuse a (low, high) range of seconds that is negative or upside down."""
    low, high = bounds
    if not 0 <= low <= high:
        raise ValueError(f"{what} range must be 0 <= low <= high, got {bounds}")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``python -m cc_sim`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m cc_sim",
        description="A FreeSWITCH 1.10 stand-in speaking the real Event Socket protocol.",
    )
    parser.add_argument("--host", dest="esl_host", help="ESL listen address (127.0.0.1)")
    parser.add_argument("--port", dest="esl_port", type=int, help="ESL port (8021)")
    parser.add_argument("--password", dest="esl_password", help="ESL password (ClueCon)")
    parser.add_argument(
        "--time-compression", type=float, help="simulated seconds per real second (1)"
    )
    parser.add_argument("--socket-address", help="where extension 7102 connects (127.0.0.1:8084)")
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="[CTX/]NUMBER=ACTIONS",
        help="add an extension, e.g. 8000='answer;socket 127.0.0.1:8084 async full;park'",
    )
    parser.add_argument("--agents", help="register agent phones: 1001-1010 or 1001,1002")
    parser.add_argument("--seed", type=int, help="random seed for people-like endpoints")
    return parser


def from_args(argv: Sequence[str] | None, base: SimConfig | None = None) -> SimConfig:
    """Apply CLI flags over ``base`` (itself usually from the environment)."""
    args = build_parser().parse_args(argv)
    config = base or SimConfig()
    changes: dict[str, object] = {}
    for name in ("esl_host", "esl_port", "esl_password", "time_compression", "socket_address"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.route:
        changes["routes"] = config.routes + tuple(parse_route(r) for r in args.route)
    if args.agents:
        changes["agents"] = parse_agents(args.agents)
    if args.seed is not None:
        changes["seed"] = args.seed
    return validate(replace(config, **changes))  # type: ignore[arg-type]

"""The ports `make run` listens on, all moved by one offset (CC_PLATFORM_PORT_OFFSET): each
service's HTTP port, the IVR's outbound socket and the simulator's event socket."""

from __future__ import annotations

import random
import socket

from cc_platform.services import SERVICES

ESL_PORT = 8021
IVR_SOCKET_PORT = 8084
EPHEMERAL_FLOOR = 32768
"""Linux hands out outgoing connections' local ports from here up: an offset that keeps every
port below it cannot meet a port some client connection happens to hold."""


def platform_ports(offset: int, *, simulator: bool = True) -> list[int]:
    """Return every port the platform listens on under ``offset``."""
    ports = [spec.settings_cls.default_http_port + offset for spec in SERVICES]
    ports.append(IVR_SOCKET_PORT + offset)
    return [*ports, ESL_PORT + offset] if simulator else ports


def port_free(port: int) -> bool:
    """Return True when nothing holds ``port`` on 127.0.0.1 (a listener could bind it now)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset(*, simulator: bool = True, attempts: int = 200) -> int:
    """Return an offset under which every platform port is free (a second platform beside one)."""
    highest = max(platform_ports(0, simulator=simulator))
    for _ in range(attempts):
        offset = random.randrange(1_000, EPHEMERAL_FLOOR - highest, 10)
        if all(port_free(port) for port in platform_ports(offset, simulator=simulator)):
            return offset
    raise RuntimeError("no offset with every platform port free")

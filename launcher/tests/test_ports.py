"""The launcher's ports: a free offset keeps clear of ports in use and of the ephemeral range."""

from __future__ import annotations

import socket

from cc_platform.ports import EPHEMERAL_FLOOR, free_offset, platform_ports, port_free


def test_a_free_offset_has_every_platform_port_free_and_below_the_ephemeral_range() -> None:
    for _ in range(20):
        offset = free_offset()
        ports = platform_ports(offset)
        assert len(ports) == 7  # five services, the IVR's outbound socket, the simulator's ESL
        assert all(port_free(port) for port in ports)
        assert max(ports) < EPHEMERAL_FLOOR


def test_a_port_held_by_a_listener_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_free(listener.getsockname()[1])

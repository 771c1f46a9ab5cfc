"""The gateway port check asks the kernel's sock_diag for listening sockets first, and agrees
with psutil's full table on every kind of socket a port can have."""

from __future__ import annotations

import os
import socket

import psutil
import pytest

from responders.host.service import _something_listens, port_listeners


def _psutil_says_listening(port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
               for c in psutil.net_connections(kind="tcp"))


@pytest.mark.parametrize("family, address", [(socket.AF_INET, "127.0.0.1"),
                                             (socket.AF_INET6, "::1")])
def test_listening_connected_and_closed_ports_agree_with_psutil(family: int,
                                                                address: str) -> None:
    with socket.socket(family) as server:
        server.bind((address, 0))
        port = server.getsockname()[1]
        # Bound, not listening: nothing listens.
        assert _something_listens(port) is False == _psutil_says_listening(port)
        assert port_listeners(port) == []
        server.listen()
        assert _something_listens(port) is True == _psutil_says_listening(port)
        assert [p.pid for p in port_listeners(port)] == [os.getpid()]  # type: ignore[union-attr]
        with socket.create_connection((address, port)) as client:
            # The client's own port is connected, not listening.
            client_port = client.getsockname()[1]
            assert _something_listens(client_port) is False
            assert _psutil_says_listening(client_port) is False
    assert _something_listens(port) is False == _psutil_says_listening(port)
    assert port_listeners(port) == []


def test_many_listeners_are_all_read(tmp_path: object) -> None:
    """More listening sockets than one netlink answer holds: the last one is still found."""
    servers = []
    try:
        for _ in range(300):
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen()
            servers.append(server)
        for server in (servers[0], servers[-1]):
            assert _something_listens(server.getsockname()[1]) is True
    finally:
        for server in servers:
            server.close()


def test_without_sock_diag_psutil_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import responders.host.service as service

    monkeypatch.setattr(service, "_NETLINK_INET_DIAG", 999)  # no such netlink family
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert service._something_listens(port) is None
        assert [p.pid for p in port_listeners(port)] == [os.getpid()]  # type: ignore[union-attr]

"""The suite's own guard: no test can reach anything but loopback and its own namespaces."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest


def test_a_direct_connection_off_the_box_is_refused_before_any_packet() -> None:
    with socket.socket() as sock, pytest.raises(AssertionError, match="only loopback"):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed anyway


def test_http_clients_are_sent_to_a_dead_loopback_proxy() -> None:
    # The proxy port on 127.0.0.1 refuses at once: the real host is never even looked up.
    with pytest.raises(httpx.ConnectError, match="Connection refused"):
        httpx.get("https://api.github.com/user", timeout=2)


def test_subprocesses_inherit_the_dead_proxy() -> None:
    code = "import httpx\ntry:\n    httpx.get('https://api.github.com', timeout=2)\n" \
           "except httpx.ConnectError:\n    print('blocked')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ), timeout=30)
    assert out.stdout.strip() == "blocked", out.stderr


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())

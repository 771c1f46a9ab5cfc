"""Fixtures shared by every test area.

A test that needs root or a system package calls ``require(condition, reason)``: on a laptop it
skips with the reason; under ``CLAWBACK_REQUIRE_ALL=1`` (set by ``.ci/run``) it fails instead,
so CI can never go green by skipping.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

REQUIRE_ALL = os.environ.get("CLAWBACK_REQUIRE_ALL") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip (laptop) or fail (CI) when a system component is missing."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"CLAWBACK_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


def require_root() -> None:
    require(os.geteuid() == 0, "needs root (run the suite as root or via .ci/run)")


def clawback_script() -> Path:
    """The installed ``clawback`` console script beside this interpreter (``.venv/bin``): the
    command line tests run it as a user does."""
    script = Path(sys.executable).with_name("clawback")
    require(script.is_file(), f"needs the console script {script} (pip install -e .)")
    return script


def require_binary(name: str, package: str | None = None) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    require(path is not None, f"needs `{name}` (apt-get install -y {package or name})")
    assert path is not None
    return path


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps everything in a dict: isolated per test."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


# Tests may reach loopback and the namespaces tests/host creates (10.213.0.0/16), nothing else.
_ALLOWED_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "10.213.0.0/16")
)
# Any HTTP client that would go elsewhere is sent to a port where nothing listens (refused at
# once, on this machine), in this process and in every subprocess a test starts.
_DEAD_PROXY = "http://127.0.0.1:9"


class ForbiddenNetworkAccess(AssertionError):
    pass


def _check_address(address: object) -> None:
    if not isinstance(address, tuple) or not address:
        return  # unix sockets and the like
    host = str(address[0])
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        raise ForbiddenNetworkAccess(f"a test tried to connect to {host!r} by name") from None
    if not any(ip in net for net in _ALLOWED_NETWORKS):
        raise ForbiddenNetworkAccess(f"a test tried to connect to {host}: only loopback is allowed")


_ISOLATED_VARIABLES = {
    **{var: "" for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME",
                           "XDG_CACHE_HOME")},
    **{var: _DEAD_PROXY for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                    "https_proxy")},
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "no_proxy": "127.0.0.1,localhost,::1",
}
# Every variable the fixture below sets exists for the whole session, so undoing a test's value
# replaces it instead of deleting it. Threads that outlive a test (the fault matrix's cells run
# in the background) iterate os.environ inside boto3 and urllib; a variable deleted meanwhile
# raised KeyError there (XDG_CONFIG_HOME in CI, XDG_DATA_HOME on a loaded machine).
_SESSION_XDG = Path(tempfile.mkdtemp(prefix="clawback-tests-xdg-"))
atexit.register(shutil.rmtree, _SESSION_XDG, True)
for _var, _value in _ISOLATED_VARIABLES.items():
    if _var not in os.environ:
        if _var.startswith("XDG_"):
            _value = str(_SESSION_XDG / _var.lower())
            os.makedirs(_value, mode=0o700, exist_ok=True)
        os.environ[_var] = _value


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Own XDG dirs (nothing touches the developer's real state) and no traffic off the box."""
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        d = tmp_path / "xdg" / var.lower()
        d.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(d))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, _DEAD_PROXY)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost,::1")
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> None:
        _check_address(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        _check_address(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    # urllib builds its shared opener once, with the proxies of that moment: drop it on both
    # sides of each test, so the dead proxy never outlives the test that set it.
    urllib.request.install_opener(None)  # type: ignore[arg-type]
    yield
    urllib.request.install_opener(None)  # type: ignore[arg-type]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)

"""Fixtures shared by every test area.

A test that needs root or a system package calls ``require(condition, reason)``: on a laptop it
skips with the reason; under ``CLAWBACK_REQUIRE_ALL=1`` (set by ``.ci/run``) it fails instead,
so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own XDG dirs, so nothing touches the developer's real state."""
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        d = tmp_path / "xdg" / var.lower()
        d.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(d))
    yield


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)

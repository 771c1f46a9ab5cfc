"""A sample OpenClaw host (clawback_demo/home.py) with discovery run over it, an incident
directory for backups, and the real keyring API over an in-memory backend."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from clawback.secret_store import KEYRING_SERVICE, KeyringSecretStore
from clawback_demo.home import SampleHome, build_sample_home
from responders.interface import Credential, ResponderContext
from responders.kit.private_files import make_private_dir
from responders.openclaw.discovery import Inventory, discover
from tests.conftest import MemoryKeyring


@dataclass
class AgentHost:
    home: SampleHome
    inventory: Inventory
    incident_dir: Path
    keyring: MemoryKeyring

    def creds(self, *providers: str, kinds: tuple[str, ...] = ()) -> list[Credential]:
        return [
            c for c in self.inventory.credentials
            if c.provider in providers and (not kinds or c.kind in kinds)
        ]

    def context(
        self, config: Mapping[str, Any] | None = None, *, dry_run: bool = False
    ) -> ResponderContext:
        return ResponderContext(
            config=dict(config or {}),
            secrets=KeyringSecretStore(),
            dry_run=dry_run,
            incident_id="2026-11-21T0203Z-7f3a",
            incident_dir=self.incident_dir,
            settings={"agent": self.home.agent_settings()},
        )

    def rediscover(self) -> Inventory:
        return discover(
            user_home=self.home.user_home,
            state_dirs=self.home.state_dirs,
            tmp_dirs=[self.home.tmp_dir],
        )

    def stored(self, reference: str) -> str:
        """The value the keyring holds for ``keyring:clawback/NAME``."""
        prefix = f"keyring:{KEYRING_SERVICE}/"
        assert reference.startswith(prefix), reference
        value = self.keyring.get_password(KEYRING_SERVICE, reference[len(prefix):])
        assert value is not None, f"nothing stored for {reference}"
        return value

    @property
    def planted_values(self) -> list[str]:
        return [p.value for p in self.home.planted]


def tree_digest(*roots: Path) -> dict[str, str]:
    """sha256 and mode of every regular file under ``roots``: proves a call changed nothing."""
    out: dict[str, str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                mode = oct(path.stat().st_mode & 0o7777)
                out[str(path)] = f"{hashlib.sha256(path.read_bytes()).hexdigest()} {mode}"
    return out


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def agent_host(tmp_path: Path, memory_keyring: MemoryKeyring) -> AgentHost:
    home = build_sample_home(tmp_path / "sample", era="file", seed=7)
    inventory = discover(user_home=home.user_home, state_dirs=home.state_dirs,
                         tmp_dirs=[home.tmp_dir])
    incident = make_private_dir(tmp_path / "incident")
    return AgentHost(home=home, inventory=inventory, incident_dir=incident,
                     keyring=memory_keyring)


class RefusingKeyring(KeyringBackend):
    """A keyring whose store is locked: every write fails, as a locked Secret Service does."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        from keyring.errors import PasswordSetError

        raise PasswordSetError("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        raise PasswordDeleteError(username)


@pytest.fixture
def refusing_keyring() -> Iterator[RefusingKeyring]:
    import keyring

    previous = keyring.get_keyring()
    backend = RefusingKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o7777

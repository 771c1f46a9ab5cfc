"""Fixtures of the investigate tests: one contained sample incident per session, a private copy
per test (investigating, tampering and sealing change the directory)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import keyring
import pytest
from investigate_incidents import SampleIncident, contain_sample
from keyrings.alt.file import PlaintextKeyring

XDG = ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")


@pytest.fixture(scope="session")
def isolated_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A file keyring and XDG dirs of this session's own: the incident's signing key lives
    there, never in the developer's keyring."""
    root = tmp_path_factory.mktemp("investigate-xdg")
    previous = keyring.get_keyring()
    with pytest.MonkeyPatch.context() as env:
        for var in XDG:
            path = root / var.lower()
            path.mkdir(parents=True)
            env.setenv(var, str(path))
        keyring.set_keyring(PlaintextKeyring())
        try:
            yield root
        finally:
            keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def sample_master(isolated_keyring: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> SampleIncident:
    return contain_sample(tmp_path_factory.mktemp("investigate-incident"))


@pytest.fixture
def sample_incident(sample_master: SampleIncident, tmp_path: Path, isolated_keyring: Path,
                    monkeypatch: pytest.MonkeyPatch) -> SampleIncident:
    # The key that signed the incident: the session's file keyring (each test gets fresh XDG
    # dirs from the root conftest; this one points the keyring back at the session's).
    monkeypatch.setenv("XDG_DATA_HOME", str(isolated_keyring / "xdg_data_home"))
    copy = tmp_path / "incidents" / sample_master.directory.name
    shutil.copytree(sample_master.directory, copy)
    return replace(sample_master, directory=copy)

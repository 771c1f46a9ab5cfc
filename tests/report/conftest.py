"""Fixtures of the report tests.

The contain incident is built once per session (a real run takes about a second) and each
test works on its own copy, since writing reports or tampering changes the directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring
from report_incidents import ContainIncident, run_contain_incident

from clawback.signing import Signer

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="session")
def contain_incident_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainIncident]:
    root = tmp_path_factory.mktemp("report-incident")
    previous = keyring.get_keyring()
    with pytest.MonkeyPatch.context() as env:
        for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            path = root / "xdg" / var.lower()
            path.mkdir(parents=True)
            env.setenv(var, str(path))
        # A real file backend inside this session's XDG_DATA_HOME: the signing key and the
        # rotated replacement key go there, never into the developer's keyring.
        keyring.set_keyring(PlaintextKeyring())
        try:
            incident = run_contain_incident(root)
        finally:
            keyring.set_keyring(previous)
    yield incident


@pytest.fixture
def contain_incident(contain_incident_master: ContainIncident, tmp_path: Path) -> ContainIncident:
    """A private copy of the session's contain incident."""
    copy = tmp_path / "incidents" / contain_incident_master.directory.name
    shutil.copytree(contain_incident_master.directory, copy)
    return replace(contain_incident_master, directory=copy)


@pytest.fixture
def signer() -> Signer:
    return Signer.generate("clawback/web-01")


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go for a person to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

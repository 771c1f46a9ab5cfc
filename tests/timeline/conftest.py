"""Fixtures of the timeline tests: a signer and a finished incident written by the real code."""

from __future__ import annotations

from pathlib import Path

import pytest
from timeline_builders import INCIDENT_ID, Incident, write_run

from clawback.signing import Signer


@pytest.fixture
def signer() -> Signer:
    return Signer.generate("clawback/test-host")


@pytest.fixture
def incident(tmp_path: Path, signer: Signer) -> Incident:
    return write_run(tmp_path / "incidents" / INCIDENT_ID, signer)

"""Fixtures for the evidence tests: a fake OpenClaw host built fresh for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from evidence_fakehost import FakeHost, build_fake_host


@pytest.fixture
def fake_host(tmp_path: Path) -> Iterator[FakeHost]:
    host = build_fake_host(tmp_path)
    try:
        yield host
    finally:
        host.close()

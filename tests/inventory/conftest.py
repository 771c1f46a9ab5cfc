"""Fixtures for discovery tests: one sample home per era, and private ones to modify."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sample_discovery import discover_sample

from clawback_demo.home import SampleHome, build_sample_home
from responders.openclaw.discovery import Inventory


@pytest.fixture(scope="module", params=["file", "sqlite", "both"])
def era_home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SampleHome:
    """One sample home per era, shared by the read-only tests of a module."""
    return build_sample_home(tmp_path_factory.mktemp(f"home-{request.param}"), era=request.param)


@pytest.fixture(scope="module")
def era_inventory(era_home: SampleHome) -> Inventory:
    return discover_sample(era_home)


@pytest.fixture
def fresh_home(tmp_path: Path) -> Callable[..., SampleHome]:
    """Build a private sample home that a test may modify."""

    def build(**kwargs: object) -> SampleHome:
        return build_sample_home(tmp_path / "host", **kwargs)  # type: ignore[arg-type]

    return build

"""One xAI team behind a loopback server that checks every request against xAI's documented
shapes (no machine-readable description could be retrieved: see the stand-in's docstring)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.keys.standins import RefusingKeyring
from tests.providers_new.xai.xai_standin import XAITeam

MANAGEMENT = "xai-token-" + "M" * 60  # the management key clawback acts with


@pytest.fixture
def team(httpserver: HTTPServer) -> Iterator[XAITeam]:
    standin = XAITeam(httpserver, MANAGEMENT)
    yield standin
    assert standin.violations == [], standin.violations


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



"""One ElevenLabs workspace (the demo's stand-in) behind a loopback server that checks every
request and every answer against ElevenLabs' own OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clawback_demo.providers.elevenlabs import ElevenLabsWorkspace
from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring

ADMIN = "sk_" + "ad" * 24  # the workspace admin's key clawback acts with


@pytest.fixture
def elevenlabs_contract(httpserver: Any) -> Iterator[ContractServer]:
    contract = ContractServer(httpserver, "elevenlabs.json", check_answers=True)
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def workspace(elevenlabs_contract: ContractServer) -> ElevenLabsWorkspace:
    standin = ElevenLabsWorkspace(ADMIN)
    elevenlabs_contract.serve(standin.answer)
    return standin


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

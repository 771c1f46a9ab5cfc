"""The OpenRouter account stand-in behind a contract-checking loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.openrouter.contract_variant import openrouter_variant
from tests.providers_new.openrouter.openrouter_standin import OpenRouterAccount

MANAGEMENT = "sk-or-v1-" + "m" * 8 + "0" * 56  # the management key clawback acts with


@pytest.fixture
def openrouter_contract(httpserver: Any) -> Iterator[ContractServer]:
    contract = ContractServer(httpserver, "openrouter.json", adapt_spec=openrouter_variant)
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def account(openrouter_contract: ContractServer) -> Iterator[OpenRouterAccount]:
    standin = OpenRouterAccount(openrouter_contract, MANAGEMENT)
    yield standin
    assert standin.answer_violations == [], standin.answer_violations


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

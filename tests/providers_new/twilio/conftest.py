"""Fixtures for the Twilio responder: one loopback server that checks every request against
Twilio's own descriptions (openapi-core), one account on it, its Main API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.twilio.twilio_standin import Key, TwilioAccount, twilio_both


@pytest.fixture
def twilio_contract(httpserver: HTTPServer) -> Iterator[ContractServer]:
    contract = ContractServer(httpserver, "twilio_api_v2010.json", adapt_spec=twilio_both)
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def account(twilio_contract: ContractServer) -> TwilioAccount:
    return TwilioAccount(twilio_contract)


@pytest.fixture
def admin(account: TwilioAccount) -> Key:
    return account.add_key("main")


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

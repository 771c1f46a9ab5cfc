"""SendGrid behind a contract server: every request is checked against SendGrid's own
description, and a request that breaks it fails the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.sendgrid.sendgrid_standin import SendGrid


@pytest.fixture
def sendgrid(httpserver: HTTPServer) -> Iterator[SendGrid]:
    contract = ContractServer(httpserver, "sendgrid.json")
    yield SendGrid(contract)
    assert contract.violations == [], contract.violations


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

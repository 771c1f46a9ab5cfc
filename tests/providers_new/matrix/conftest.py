"""Matrix homeservers behind contract servers: every request is checked against the Matrix
spec's own description, and a request that breaks it fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.matrix.matrix_standin import Homeserver


@pytest.fixture
def homeservers() -> Iterator[Callable[[], Homeserver]]:
    started: list[tuple[HTTPServer, ContractServer]] = []

    def start() -> Homeserver:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        contract = ContractServer(server, "matrix.json")
        started.append((server, contract))
        return Homeserver(contract)

    yield start
    for server, _ in started:
        server.clear()
        server.stop()
    for _, contract in started:
        assert contract.violations == [], contract.violations


@pytest.fixture
def homeserver(homeservers: Callable[[], Homeserver]) -> Homeserver:
    return homeservers()


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

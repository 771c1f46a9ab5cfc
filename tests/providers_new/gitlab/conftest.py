"""GitLab instances behind contract servers: every request is checked against GitLab's own
description, and a request that breaks it fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.gitlab.gitlab_standin import GitLabInstance, gitlab_variant


@pytest.fixture
def instances() -> Iterator[Callable[[], GitLabInstance]]:
    """Start GitLab instances on loopback; each one's requests must match the description."""
    started: list[tuple[HTTPServer, ContractServer]] = []

    def start() -> GitLabInstance:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        contract = ContractServer(server, "gitlab.json", adapt_spec=gitlab_variant)
        started.append((server, contract))
        return GitLabInstance(contract)

    yield start
    for server, _ in started:
        server.clear()
        server.stop()
    for _, contract in started:
        assert contract.violations == [], contract.violations


@pytest.fixture
def gitlab(instances: Callable[[], GitLabInstance]) -> GitLabInstance:
    return instances()


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

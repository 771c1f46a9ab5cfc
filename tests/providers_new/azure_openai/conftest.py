"""Fixtures for the Azure OpenAI responder: one loopback server that checks every request against
Microsoft's own descriptions (openapi-core) for both Azure Resource Manager and the data plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.azure_openai.azure_standin import AzureOpenAI, azure_both

ARM_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.planted-arm-token.signature0000"


@pytest.fixture
def azure_contract(httpserver: HTTPServer) -> Iterator[ContractServer]:
    contract = ContractServer(httpserver, "azure_cognitiveservices_mgmt.json",
                              adapt_spec=azure_both)
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def azure(azure_contract: ContractServer) -> AzureOpenAI:
    return AzureOpenAI(azure_contract, ARM_TOKEN)


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

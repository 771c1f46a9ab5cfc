"""A Google Cloud project behind contract-checking loopback servers, and a service account whose
JSON key (made here, with a fresh RSA key) signs clawback's token requests."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.contract_server import ContractServer
from tests.keys.standins import RefusingKeyring
from tests.providers_new.google.discovery_openapi import to_openapi
from tests.providers_new.google.google_standin import TOKEN_PATH, GoogleCloud

CLIENT_EMAIL = "clawback@agent-prod-4711.iam.gserviceaccount.com"


@functools.cache
def rsa_pair() -> tuple[str, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def service_account_json(token_uri: str) -> str:
    private, _ = rsa_pair()
    return json.dumps({
        "type": "service_account", "project_id": "agent-prod-4711",
        "private_key_id": "3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "private_key": private,
        "client_email": CLIENT_EMAIL, "client_id": "104857600000000000001",
        "token_uri": token_uri,
    })


@pytest.fixture
def front() -> Iterator[HTTPServer]:
    """Google's token endpoint and Gemini, on a loopback server of their own."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def apikeys_contract(httpserver: Any) -> Iterator[ContractServer]:
    contract = ContractServer(httpserver, "apikeys-v2-discovery.json", adapt_spec=to_openapi)
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def cloud(apikeys_contract: ContractServer, front: HTTPServer) -> Iterator[GoogleCloud]:
    project = GoogleCloud(apikeys_contract, front, rsa_pair()[1], CLIENT_EMAIL)
    yield project
    assert project.answer_violations == [], project.answer_violations
    assert project.front_problems == [], project.front_problems


@pytest.fixture
def sa_json(cloud: GoogleCloud) -> str:
    return service_account_json(f"{cloud.front_url}{TOKEN_PATH}")


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

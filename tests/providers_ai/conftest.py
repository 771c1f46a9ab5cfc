"""Loopback stand-ins for OpenAI and Anthropic, and helpers to build their responders.

``openai_org`` checks every request against OpenAI's own description (openapi-core);
``anthropic_org`` against the documented shapes of Anthropic's Admin API (there is no official
description). Both fail the test on teardown if anything the responder sent, or anything the
stand-in answered, broke those contracts.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.anthropic import AnthropicResponder
from responders.interface import Credential, Location, ResponderContext
from responders.openai import OpenAIResponder
from tests.conftest import MemoryKeyring
from tests.contract_server import ContractServer
from tests.providers_ai.served_orgs import AnthropicOrg, OpenAIOrg

OPENAI_ADMIN_ENV = "CLAWBACK_TEST_OPENAI_ADMIN"
ANTHROPIC_ADMIN_ENV = "CLAWBACK_TEST_ANTHROPIC_ADMIN"


class RefusingKeyring(MemoryKeyring):
    """A keyring whose writes fail, like a locked Secret Service."""

    def set_password(self, service: str, username: str, password: str) -> None:
        from keyring.errors import PasswordSetError

        raise PasswordSetError("the keyring is locked")


def refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def found_at(provider: str, kind: str, value: str) -> Credential:
    return Credential.from_secret(
        provider, kind, value, [Location("/home/agent/.openclaw/.env", "API_KEY")]
    )


@pytest.fixture(scope="session")
def openai_standin() -> Iterator[ContractServer]:
    """One contract-checked server for the whole session (requests and answers checked against
    OpenAI's description); each test plugs in a fresh organization."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield ContractServer(server, "openai.json", check_answers=True)
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def openai_org(openai_standin: ContractServer) -> Iterator[OpenAIOrg]:
    org = OpenAIOrg().plug_into(openai_standin)
    try:
        yield org
        assert org.violations == [], "\n".join(org.violations)
    finally:
        openai_standin.reset()


@pytest.fixture
def anthropic_org(httpserver: HTTPServer) -> Iterator[AnthropicOrg]:
    org = AnthropicOrg().serve(httpserver)
    yield org
    assert org.violations == [], "\n".join(org.violations)


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


def openai_responder(
    url: str, admin_value: str | None, **config: Any
) -> tuple[OpenAIResponder, KeyringSecretStore]:
    environ = {OPENAI_ADMIN_ENV: admin_value} if admin_value else {}
    store = KeyringSecretStore(environ=environ)
    settings: dict[str, Any] = {
        "base_url": url,
        "timeout_seconds": 2,
        "connect_timeout_seconds": 1,
        **config,
    }
    if admin_value:
        settings.setdefault("admin_key", f"env:{OPENAI_ADMIN_ENV}")
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return OpenAIResponder(context), store


def anthropic_responder(
    url: str, admin_value: str | None, **config: Any
) -> tuple[AnthropicResponder, KeyringSecretStore]:
    environ = {ANTHROPIC_ADMIN_ENV: admin_value} if admin_value else {}
    store = KeyringSecretStore(environ=environ)
    settings: dict[str, Any] = {
        "base_url": url,
        "timeout_seconds": 2,
        "connect_timeout_seconds": 1,
        **config,
    }
    if admin_value:
        settings.setdefault("admin_key", f"env:{ANTHROPIC_ADMIN_ENV}")
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return AnthropicResponder(context), store

"""Real stand-ins for the key responders: moto's server for AWS, Prism for GitHub.

moto runs in-process on 127.0.0.1 with a free port and is reset between tests. moto has no
service-specific credentials (Bedrock API keys): ``clawback_demo.providers.iam_credentials``
answers those five IAM operations in front of it, checked against botocore's IAM model, and
passes everything else to moto untouched. Prism serves ``clawback_demo/contracts/github.json``
(GitHub's own description, trimmed) and rejects any request that breaks it with 422;
``prism_checked`` fails a test if anything it sent was rejected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract_server import contract_path
from tests.keys.standins import (
    MotoAccount,
    PrismServer,
    RefusingKeyring,
    post,
    serving_prism,
)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def iam_front(moto_url: str) -> Iterator[Any]:
    from clawback_demo.providers.iam_credentials import ServiceCredentialsFront

    front = ServiceCredentialsFront(moto_url)
    try:
        yield front
    finally:
        front.stop()


@pytest.fixture
def moto(moto_url: str, iam_front: Any) -> Iterator[MotoAccount]:
    post(f"{moto_url}/moto-api/reset")
    iam_front.credentials.clear()
    violations = len(iam_front.service.tally.violations)
    account = MotoAccount(url=iam_front.url, front=iam_front)
    account.iam = account.client("iam")
    try:
        yield account
    finally:
        post(f"{moto_url}/moto-api/reset-auth", b"inf")
        post(f"{moto_url}/moto-api/reset")
    assert iam_front.service.tally.violations[violations:] == [], (
        "requests outside botocore's IAM model"
    )


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


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    with serving_prism(contract_path("github.json"), tmp_path_factory.mktemp("prism")) as server:
        yield server


@pytest.fixture
def prism_checked(prism: PrismServer) -> Iterator[PrismServer]:
    """Prism, failing the test if any request it received broke GitHub's description."""
    mark = prism.mark()
    yield prism
    problems = prism.problems_since(mark)
    assert not problems, "Prism rejected requests:\n" + "\n".join(problems)

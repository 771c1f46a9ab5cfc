"""Real stand-ins for the key responders: moto's server for AWS, Prism for GitHub.

moto runs in-process on 127.0.0.1 with a free port and is reset between tests. Prism serves
``tests/contracts/github.json`` (GitHub's own description, trimmed) and rejects any request that
breaks it with 422; ``prism_checked`` fails a test if anything it sent was rejected.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import require
from tests.keys.standins import (
    CONTRACTS,
    PRISM_READY,
    MotoAccount,
    PrismServer,
    RefusingKeyring,
    free_port,
    post,
    prism_binary,
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


@pytest.fixture
def moto(moto_url: str) -> Iterator[MotoAccount]:
    post(f"{moto_url}/moto-api/reset")
    account = MotoAccount(url=moto_url)
    account.iam = account.client("iam")
    try:
        yield account
    finally:
        post(f"{moto_url}/moto-api/reset-auth", b"inf")
        post(f"{moto_url}/moto-api/reset")


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
    binary = prism_binary()
    require(binary.exists(), "needs Prism: npm install --prefix .tools @stoplight/prism-cli")
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(binary),
                "mock",
                str(CONTRACTS / "github.json"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while PRISM_READY not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield PrismServer(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        # Prism was started in its own session: stop exactly that process group.
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=5)


@pytest.fixture
def prism_checked(prism: PrismServer) -> Iterator[PrismServer]:
    """Prism, failing the test if any request it received broke GitHub's description."""
    mark = prism.mark()
    yield prism
    problems = prism.problems_since(mark)
    assert not problems, "Prism rejected requests:\n" + "\n".join(problems)

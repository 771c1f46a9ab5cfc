"""Helpers around the real stand-ins the key tests use (moto's server, Prism, loopback ports)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import MemoryKeyring
from tests.contract_server import ContractServer

REPO_ROOT = Path(__file__).resolve().parents[2]
PRISM_READY = "Prism is listening"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def post(url: str, body: bytes = b"") -> bytes:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # loopback only
        return bytes(answer.read())


@dataclass
class MotoAccount:
    """A freshly reset moto account and an admin IAM client to arrange and inspect it."""

    url: str
    iam: Any = None
    front: Any = None  # clawback_demo.providers.iam_credentials.ServiceCredentialsFront

    def client(self, service: str, key_id: str = "AKIAADMINSETUP000000", secret: str = "x") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def user_with_key(self, user: str) -> dict[str, str]:
        self.iam.create_user(UserName=user)
        return dict(self.iam.create_access_key(UserName=user)["AccessKey"])

    def keys(self, user: str) -> dict[str, str]:
        listed = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in listed}

    def enforce_iam(self) -> None:
        """Switch on moto's signature and permission checks (off by default)."""
        post(f"{self.url}/moto-api/reset-auth", b"0")


class RefusingKeyring(MemoryKeyring):
    """A keyring whose writes fail, like a locked Secret Service."""

    def set_password(self, service: str, username: str, password: str) -> None:
        from keyring.errors import PasswordSetError

        raise PasswordSetError("the keyring is locked")


def prism_binary() -> Path:
    configured = os.environ.get("CLAWBACK_PRISM")
    return Path(configured) if configured else REPO_ROOT / ".tools/node_modules/.bin/prism"


@dataclass
class PrismServer:
    url: str
    log: Path

    def mark(self) -> int:
        self.settle()
        return self.log.stat().st_size

    def settle(self, quiet: float = 0.1, limit: float = 2.0) -> None:
        """Wait until Prism has stopped writing: it logs some verdicts after answering."""
        import time

        deadline = time.monotonic() + limit
        size = -1
        while time.monotonic() < deadline:
            current = self.log.stat().st_size
            if current == size:
                return
            size = current
            time.sleep(quiet)

    def problems_since(self, mark: int) -> list[str]:
        """Prism's complaints about requests since ``mark``: contract violations, no route.

        Complaints about Prism's own generated answers ("Violation: response…") are not ours.
        """
        self.settle()
        with self.log.open("rb") as handle:
            handle.seek(mark)
            text = handle.read().decode(errors="replace")
        return [
            line
            for line in text.splitlines()
            if "Request did not pass the validation rules" in line
            or ("[VALIDATOR] ✖" in line and "Violation: response" not in line)
            or "Request terminated with error" in line
        ]


__all__ = ["ContractServer"]


@contextlib.contextmanager
def serving_prism(spec: Path, workdir: Path) -> Iterator[PrismServer]:
    """``prism mock spec`` on a free loopback port, logging to ``workdir/prism.log``; stopped
    (its whole process group) on exit. Skips (fails under CLAWBACK_REQUIRE_ALL) without Prism."""
    import pytest

    from tests.conftest import require

    binary = prism_binary()
    require(binary.exists(), "needs Prism: npm install --prefix .tools @stoplight/prism-cli")
    port = free_port()
    log = workdir / "prism.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)],
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

"""Local stand-ins for provider APIs, for the demo: moto's IAM server and Prism for GitHub.

Prism runs either as a mock of a description (``start_prism``) or as a checking proxy in front
of a stateful stand-in (``start_prism_proxy``): then every request and every answer is checked
against the description, and the stand-in decides what the answer is. The other providers'
stand-ins are in ``clawback_demo.providers``.

Everything listens on 127.0.0.1 only; nothing here ever talks to a real provider.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# In a checkout, the folder that holds .tools/ (Prism); nothing else is read relative to it.
REPO_ROOT = Path(__file__).resolve().parents[1]
PRISM_READY = "Prism is listening"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoStandIn:
    """moto's server over HTTP, with an IAM user that owns one access key (the agent's).

    ``url`` is the front that answers IAM's service-specific credential calls moto lacks
    (``clawback_demo.providers.iam_credentials``) and passes everything else to moto.
    """

    url: str
    server: Any = field(repr=False)
    front: Any = field(default=None, repr=False)
    admin: tuple[str, str] = ("AKIADEMOSETUP0000000", "setup-before-iam-is-enforced")

    def iam(self) -> Any:
        import boto3

        return boto3.client(
            "iam", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=self.admin[0], aws_secret_access_key=self.admin[1],
        )

    def create_admin(self, user: str = "incident-responder") -> tuple[str, str]:
        """An IAM identity allowed to manage keys: what clawback's config names as admin."""
        iam = self.iam()
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user, PolicyName="clawback-incident-response",
            PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"}],
            }),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.admin = (key["AccessKeyId"], key["SecretAccessKey"])
        return self.admin

    def enforce_iam(self) -> None:
        """From now on moto checks signatures and permissions, as IAM does: a deleted key is
        rejected, which is what clawback's verify_revoked proves."""
        import urllib.request

        # moto reads the body only when it is declared as text.
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=b"0",
                                         method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=5):  # loopback only
            pass

    def create_agent_key(self, user: str) -> tuple[str, str]:
        iam = self.iam()
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def key_statuses(self, user: str) -> dict[str, str]:
        listed = self.iam().list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in listed}

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        self.server.stop()


def start_moto() -> MotoStandIn:
    import logging

    from moto.server import ThreadedMotoServer

    # werkzeug prints one line per request to stderr; the demo's output is the contain run.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from clawback_demo.providers.iam_credentials import ServiceCredentialsFront

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _warm_error_answers()
    host, port = server.get_host_and_port()
    front = ServiceCredentialsFront(f"http://{host}:{port}")
    return MotoStandIn(url=front.url, server=server, front=front)


def _warm_error_answers() -> None:
    """Build moto's table of service names now, while the sandbox starts.

    moto builds it (a whole botocore session, every service's name) the first time it writes
    an IAM or STS error, and its cache has no lock: the revoke phase's first refusals, all at
    once, each built it again, in this process, on the interpreter lock clawback's threads
    need (~8% of the demo's contain CPU). A real provider costs clawback nothing of the kind.
    """
    from moto.core.utils import service_name_from_moto_package_name

    for package in ("iam", "sts"):
        service_name_from_moto_package_name(package)


def find_prism() -> Path | None:
    configured = os.environ.get("CLAWBACK_PRISM")
    candidates = [Path(configured)] if configured else []
    candidates.append(REPO_ROOT / ".tools" / "node_modules" / ".bin" / "prism")
    on_path = shutil.which("prism")
    if on_path:
        candidates.append(Path(on_path))
    return next((c for c in candidates if c.exists()), None)


def github_spec() -> Path | None:
    from clawback_demo.providers.contracts import contracts_dir

    spec = contracts_dir() / "github.json"
    return spec if spec.exists() else None


@dataclass
class PrismStandIn:
    url: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # Prism runs in its own session: stop exactly that process group.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def findings(self, quiet: float = 0.1, limit: float = 2.0) -> tuple[int, list[str], list[str]]:
        """(requests received, violations, warnings) from Prism's log.

        A violation is a request the description rejects or an answer it forbids (``--errors``
        turns both into error answers); a warning is an answer whose status the description does
        not list. Prism logs some verdicts after answering, so the log is read once it is quiet.
        """
        deadline = time.monotonic() + limit
        size = -1
        while time.monotonic() < deadline and self.log.stat().st_size != size:
            size = self.log.stat().st_size
            time.sleep(quiet)
        requests, violations, warnings = 0, [], []
        for line in self.log.read_text(errors="replace").splitlines():
            if "Request received" in line:
                requests += 1
            elif "Request terminated with error" in line or "[VALIDATOR] ✖" in line:
                violations.append(_after_timestamp(line))
            elif "[VALIDATOR] ⚠" in line:
                warnings.append(_after_timestamp(line))
        return requests, violations, warnings


def _after_timestamp(line: str) -> str:
    return line.split("›", 1)[-1].strip()


def start_prism(binary: Path, spec: Path, log: Path, *, timeout: float = 30) -> PrismStandIn:
    """Prism serving examples from ``spec`` (stateless: every answer comes from the document)."""
    return _start_prism([str(binary), "mock", str(spec)], log, timeout)


def start_prism_proxy(
    binary: Path, spec: Path, upstream: str, log: Path, *, timeout: float = 30
) -> PrismStandIn:
    """Prism in front of ``upstream``; with ``--errors`` a request or answer that breaks
    ``spec`` becomes an error answer, so a violation cannot pass unnoticed."""
    return _start_prism([str(binary), "proxy", str(spec), upstream, "--errors"], log, timeout)


def _start_prism(argv: list[str], log: Path, timeout: float) -> PrismStandIn:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "-h", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    stand_in = PrismStandIn(url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + timeout
    while PRISM_READY not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stand_in.stop()
            raise RuntimeError(f"Prism did not start; see {log}")
        time.sleep(0.05)
    return stand_in

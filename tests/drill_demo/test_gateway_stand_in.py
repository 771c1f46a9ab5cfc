"""The gateway stand-in's ``/keys-ok`` on its own: how it signs for AWS, what it refuses to call,
and what it answers when it cannot read a file or reach a provider — never a key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clawback_demo.gateway import ERROR, read_endpoints, sigv4_headers
from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.standins import free_port
from responders.interface import fingerprint

from .conftest import ask_gateway

SIGNED_AT = datetime(2026, 11, 21, 2, 3, 4, tzinfo=UTC)
FORM = b"Action=GetCallerIdentity&Version=2011-06-15"


def test_the_aws_signature_is_botocores(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id, secret = "AKIAEXAMPLE000000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    url = "http://127.0.0.1:40123/"
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: SIGNED_AT.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=FORM, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    })
    botocore.auth.SigV4Auth(Credentials(key_id, secret), "sts", "us-east-1").add_auth(request)

    ours = sigv4_headers(url, FORM, key_id=key_id, secret=secret, region="us-east-1",
                         service="sts", now=SIGNED_AT)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    other = sigv4_headers(url, FORM, key_id=key_id, secret=secret + "x", region="us-east-1",
                          service="sts", now=SIGNED_AT)
    assert other["Authorization"] != ours["Authorization"]
    assert secret not in json.dumps(ours)


@pytest.mark.parametrize("url", [
    "http://10.0.0.5:8000", "https://127.0.0.1:443", "http://api.openai.com/v1",
    "http://127.0.0.1.example.net:80",
])
def test_only_loopback_endpoints_are_called(tmp_path: Path, url: str) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"aws": "http://127.0.0.1:5000", "openai": url}))
    with pytest.raises(ValueError, match="openai is not a loopback http URL"):
        read_endpoints(path)
    path.write_text(json.dumps({"aws": "http://127.0.0.1:5000/", "github": "http://[::1]:4010"}))
    assert read_endpoints(path) == {"aws": "http://127.0.0.1:5000",
                                    "github": "http://[::1]:4010"}


@dataclass
class RunningGateway:
    home: SampleHome
    endpoints: Path
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            return 200, ask_gateway(self.url, path)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    home = build_sample_home(tmp_path / "host", gateway_port=free_port())
    endpoints = tmp_path / "endpoints.json"
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clawback_demo.gateway", "--port", str(home.gateway_port),
             "--lock-dir", str(home.lock_dir), "--config-path", str(home.config_path),
             "--user-home", str(home.user_home), "--endpoints", str(endpoints)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    running = RunningGateway(home, endpoints, f"http://127.0.0.1:{home.gateway_port}",
                             process, log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                running.get("/health")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_health_is_unchanged_and_keys_wait_for_the_endpoints(gateway: RunningGateway) -> None:
    assert gateway.get("/health") == (
        200, json.dumps({"ok": True, "pid": gateway.process.pid})
    )
    status, body = gateway.get("/keys-ok")
    assert status == 503 and "not known yet" in body


def test_an_unreachable_provider_is_an_error_not_a_rejection(gateway: RunningGateway) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    gateway.endpoints.write_text(json.dumps(dict.fromkeys(
        ("aws", "openai", "anthropic", "github", "slack", "cloudflare", "stripe"), dead
    )))
    status, body = gateway.get("/keys-ok/detail")
    assert status == 200
    detail = json.loads(body)
    assert detail["providers"] == dict.fromkeys(sorted(detail["providers"]), ERROR)
    assert len(detail["providers"]) == 7
    assert {u["detail"] for u in detail["uses"]} == {"ConnectionRefusedError"}
    planted = {p.fingerprint for p in gateway.home.planted}
    assert {u["fingerprint"] for u in detail["uses"]} <= planted
    assert_no_planted_value(gateway, body)


def test_a_file_it_cannot_parse_is_named_without_its_content(gateway: RunningGateway) -> None:
    gateway.endpoints.write_text(json.dumps({"openai": f"http://127.0.0.1:{free_port()}"}))
    config = gateway.home.config_path
    # Broken in the middle, after the secrets: a parser quoting its input would quote them.
    config.write_text(config.read_text().replace("logging:", "logging:: {", 1))
    credentials = gateway.home.user_home / ".aws" / "credentials"
    credentials.write_text(credentials.read_text() + "\nthis line is not INI\n")
    status, body = gateway.get("/keys-ok/detail")
    assert status == 200
    problems = json.loads(body)["problems"]
    assert f"{config}: Json5Exception" in problems
    assert f"{credentials}: ParsingError" in problems
    assert_no_planted_value(gateway, body)


def test_endpoints_off_the_box_are_refused_before_any_call(gateway: RunningGateway) -> None:
    gateway.endpoints.write_text(json.dumps({"openai": "http://192.0.2.10:80"}))
    status, body = gateway.get("/keys-ok")
    assert status == 500
    assert json.loads(body) == {"error": "endpoints file: ValueError"}


def assert_no_planted_value(gateway: RunningGateway, *texts: str) -> None:
    log = gateway.log.read_text(errors="replace")
    for planted in gateway.home.planted:
        for text in (*texts, log):
            assert planted.value not in text, f"{fingerprint(planted.value)} leaked"


def _post(url: str, token: str, **headers: str) -> int:
    import urllib.request

    request = urllib.request.Request(url, data=b"{}", method="POST", headers={
        **({"Authorization": f"Bearer {token}"} if token else {}), **headers,
        "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_gateway_and_hooks_tokens_are_checked_as_the_real_gateway_does(
    gateway: RunningGateway,
) -> None:
    """Bearer gateway.auth.token on /tools/invoke, hooks.token on /hooks/wake, read at start:
    rewriting the config does not change what the running gateway accepts."""
    home = gateway.home
    config = str(home.config_path)

    def planted(kind: str, key: str) -> str:
        return next(p.value for p in home.planted if p.kind == kind and any(
            loc.path == config and loc.key == key for loc in p.locations))

    token = planted("openclaw:gateway_token", "gateway.auth.token")
    hooks = planted("openclaw:hooks_token", "hooks.token")
    invoke, wake = f"{gateway.url}/tools/invoke", f"{gateway.url}/hooks/wake"
    assert _post(invoke, token) == 200
    assert _post(invoke, hooks) == 401 and _post(invoke, "") == 401
    assert _post(invoke, token + "x") == 401
    assert _post(wake, hooks) == 200 and _post(wake, "", **{"x-openclaw-token": hooks}) == 200
    assert _post(wake, token) == 401
    home.config_path.write_text(home.config_path.read_text().replace(token, "r" * 48))
    assert _post(invoke, token) == 200  # until it restarts, as the real one
    assert token not in gateway.log.read_text()

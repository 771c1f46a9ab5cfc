"""The provider stand-ins on their own: seeded from a sample home, stateful, contract-checked, and
usable without Prism (the fallback a machine without Node gets)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.providers.fleet import ProviderFleet, start_provider_fleet


@pytest.fixture
def home(tmp_path: Path) -> SampleHome:
    return build_sample_home(tmp_path / "host", seed=7, gateway_port=1)


@pytest.fixture
def fleet_without_prism(home: SampleHome, tmp_path: Path) -> Iterator[ProviderFleet]:
    fleet = start_provider_fleet(home.planted, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop()


def _value(home: SampleHome, kind: str) -> str:
    return home.planted_of(kind)[0].value


def test_without_prism_github_answers_alone_and_says_so(
    fleet_without_prism: ProviderFleet, home: SampleHome
) -> None:
    fleet = fleet_without_prism
    assert any("Prism is not installed" in note for note in fleet.notes)
    github = fleet.services["github"]
    assert fleet.config["github"]["base_url"] == github.url
    assert github.tally.checked_by == "openapi-core, clawback_demo/contracts/github.json"

    token = _value(home, "github:pat")
    user = httpx.get(f"{github.url}/user", headers={"Authorization": f"token {token}"})
    assert user.status_code == 200 and user.json()["login"]
    revoked = httpx.post(f"{github.url}/credentials/revoke", json={"credentials": [token]})
    assert revoked.status_code == 202
    dead = httpx.get(f"{github.url}/user", headers={"Authorization": f"token {token}"})
    assert dead.status_code == 401
    assert not fleet.accepts("github", token)
    assert fleet.accepts("github", _value(home, "github:fine_grained_pat"))


def test_a_request_outside_the_description_is_refused_and_reported_without_the_secret(
    fleet_without_prism: ProviderFleet, home: SampleHome
) -> None:
    fleet = fleet_without_prism
    token = _value(home, "github:pat")
    # GitHub's description requires "credentials"; a misspelt field must not pass.
    answer = httpx.post(
        f"{fleet.services['github'].url}/credentials/revoke", json={"credential": [token]}
    )
    assert answer.status_code == 422
    assert fleet.accepts("github", token)  # refused before the stand-in acted on it
    (github,) = [t for t in fleet.tallies() if t.provider == "github"]
    assert len(github.violations) == 1
    assert github.violations[0].startswith("POST /credentials/revoke: ")
    assert token not in github.violations[0]


def test_every_stand_in_knows_its_planted_keys_and_config_uses_references_only(
    fleet_without_prism: ProviderFleet, home: SampleHome
) -> None:
    fleet = fleet_without_prism
    assert set(fleet.services) == {"github", "openai", "anthropic", "slack", "cloudflare", "stripe"}
    for secret in home.planted:
        if secret.provider in fleet.services and secret.kind in {
            "openai:project_key", "anthropic:api_key", "slack:bot_token", "cloudflare:api_token",
            "stripe:secret_key", "stripe:webhook_secret", "github:installation",
        }:
            assert fleet.accepts(secret.provider, secret.value), secret.kind
    rendered = repr(fleet.config)
    for value in [*fleet.environ.values(), *(p.value for p in home.planted)]:
        assert value not in rendered
    references = [
        fleet.config["openai"]["admin_key"],
        fleet.config["anthropic"]["admin_key"],
        fleet.config["cloudflare"]["token"],
        fleet.config["stripe"]["api_key"],
        fleet.config["github"]["oauth_apps"][0]["client_secret"],
        *(e["secret"] for e in fleet.config["stripe"]["webhook_endpoints"]),
    ]
    assert {r.removeprefix("env:") for r in references} == set(fleet.environ)


def test_stop_closes_every_port(home: SampleHome, tmp_path: Path) -> None:
    fleet = start_provider_fleet(home.planted, tmp_path)
    ports = [urlsplit(s.url).port for s in fleet.services.values()]
    fleet.stop()
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, port

"""The three responders inside the real engine: the sample home's Slack, Cloudflare and Stripe
secrets go through a ``keys.revoke_all`` step with verify and rotate, recorded in a signed
timeline, against contract-checked stand-ins."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from clawback.incident import create_incident_dir
from clawback.journal import Journal
from clawback.playbook import load_playbook
from clawback.registry import load_registry
from clawback.runner import WHEN_VARIABLES, Runner, RunOptions, known_actions
from clawback.secret_store import KeyringSecretStore
from clawback.signing import load_signing_key
from clawback.timeline import Timeline, read_entries
from clawback.verify import verify_incident
from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.providers.cloudflare import CloudflareAccount, Token
from clawback_demo.providers.stripe import StripeAccount
from responders.interface import Credential
from tests.contract_server import ContractServer
from tests.providers_ops.contract_variants import (
    cloudflare_account_as_user,
    cloudflare_variant,
    slack_variant,
    stripe_flattened,
    stripe_relaxed,
)
from tests.providers_ops.test_slack import REVOKED, refusal, slack_json

PLAYBOOK = """
name: keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [slack, cloudflare, stripe]}
"""
ADMIN = "cf-admin-token-planted-000000000000000000"


@pytest.fixture
def servers() -> Iterator[Callable[[], HTTPServer]]:
    """Extra loopback servers (one per provider), stopped after the test."""
    started: list[HTTPServer] = []

    def start() -> HTTPServer:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.clear()
        server.stop()


class StandIns:
    def __init__(self, start: Callable[[], HTTPServer], home: SampleHome) -> None:
        self.slack = ContractServer(start(), "slack.json", adapt_spec=slack_variant)
        self.slack.answer("POST", "/auth.revoke", lambda r: slack_json(REVOKED))
        self.slack.answer("POST", "/auth.test", lambda r: slack_json(refusal("token_revoked")))
        self.cloudflare = ContractServer(
            start(),
            "cloudflare.json",
            adapt_spec=cloudflare_variant,
            adapt_request=cloudflare_account_as_user,
        )
        self.tokens = CloudflareAccount(admin=ADMIN)
        self.cloudflare.serve(self.tokens.answer)
        for planted in home.planted_for("cloudflare"):
            self.tokens.tokens["c" * 32] = Token("c" * 32, planted.value)
        self.stripe = ContractServer(
            start(), "stripe.json", adapt_spec=stripe_relaxed, adapt_request=stripe_flattened
        )
        self.account = StripeAccount(page_size=2)
        self.stripe.serve(self.account.answer)
        for planted in home.planted_for("stripe"):
            if planted.kind != "stripe:webhook_secret":
                self.account.add_key(planted.value)
                self.account.add_event(1, description=f"the agent pasted {planted.value}")
        self.attacker = self.account.add_endpoint("https://exfil.example.net/collect")

    @property
    def contracts(self) -> list[ContractServer]:
        return [self.slack, self.cloudflare, self.stripe]

    def config(self, name: str) -> dict[str, Any]:
        return {
            "slack": {"base_url": self.slack.url},
            "cloudflare": {"base_url": self.cloudflare.url, "token": "env:CF_ADMIN"},
            "stripe": {"api_base": self.stripe.url},
        }.get(name, {})


def runner(home: SampleHome, stand_ins: StandIns, root: Path, *, dry_run: bool = False) -> Runner:
    registry = load_registry()
    playbook = root / "keys.yaml"
    playbook.write_text(PLAYBOOK)
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    creds = [
        Credential.from_secret(p.provider, p.kind, p.value, p.locations, key_id=p.key_id)
        for provider in ("slack", "cloudflare", "stripe")
        for p in home.planted_for(provider)
    ]
    recording: dict[str, Any] = {}
    if not dry_run:
        incident_id = "2026-11-21T0203Z-7f3a"
        incident_dir = create_incident_dir(root / "incidents", incident_id)
        recording = dict(
            timeline=Timeline.create(incident_dir, incident_id, load_signing_key(), header={}),
            journal=Journal.create(
                incident_dir,
                incident_id=incident_id,
                playbook_sha256=loaded.sha256,
                playbook_path=str(playbook),
            ),
            incident_id=incident_id,
            incident_dir=incident_dir,
        )
    return Runner(
        registry=registry,
        playbook=loaded,
        settings={"agent": home.agent_settings()},
        provider_config=stand_ins.config,
        credentials=creds,
        secrets=KeyringSecretStore(environ={"CF_ADMIN": ADMIN}),
        options=RunOptions(dry_run=dry_run, yes=True),
        configured_providers={"slack", "cloudflare", "stripe"},
        **recording,
    )


def test_the_sample_homes_secrets_through_the_engine(
    tmp_path: Path, servers: Callable[[], HTTPServer], memory_keyring: Any
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    stand_ins = StandIns(servers, home)

    planned = runner(home, stand_ins, tmp_path, dry_run=True).run()
    assert planned.results and all(r.outcome.status != "failed" for r in planned.results)
    assert all(c.requests == [] for c in stand_ins.contracts)  # a plan sends nothing

    result = runner(home, stand_ins, tmp_path).run()

    assert all(c.violations == [] for c in stand_ins.contracts)
    by_target = {(r.action, r.target_info["kind"]): r.outcome.name for r in result.results}
    assert by_target[("revoke", "cloudflare:api_token")] == "Disabled"
    assert by_target[("verify_revoked", "cloudflare:api_token")] == "VerifiedDead"
    assert by_target[("rotate", "cloudflare:api_token")] == "Rotated"
    assert by_target[("revoke", "slack:bot_token")] == "Revoked"
    assert by_target[("verify_revoked", "slack:user_token")] == "VerifiedDead"
    for manual in ("slack:app_token", "slack:signing_secret", "stripe:secret_key"):
        assert by_target[("revoke", manual)] == "ManualRequired"
    assert result.exit_code == 3  # the human steps remain
    assert stand_ins.account.endpoints[stand_ins.attacker]["status"] == "disabled"
    assert stand_ins.tokens.tokens["c" * 32].status == "active"  # rolled, then switched back on

    incident_dir = result.incident_dir
    assert incident_dir is not None
    entries = read_entries(incident_dir / "timeline.jsonl")
    facts = [(e.fields.get("extra") or {}).get("facts", {}) for e in entries]
    exports = [f["events_export"] for f in facts if "events_export" in f]
    assert exports and exports[0]["file"] == "evidence/stripe-events.jsonl"
    assert (incident_dir / exports[0]["file"]).stat().st_size == exports[0]["bytes"]
    assert verify_incident(incident_dir).exit_code == 0

    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*") if p.is_file())
    written += json.dumps([r.outcome.facts for r in result.results], default=str)
    for planted in (
        *home.planted_for("slack"),
        *home.planted_for("cloudflare"),
        *home.planted_for("stripe"),
    ):
        assert planted.value not in written, planted.kind
    assert ADMIN not in written

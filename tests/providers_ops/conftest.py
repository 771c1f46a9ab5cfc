"""Stand-ins for the Slack, Cloudflare and Stripe responders.

Prism serves Slack's description (with the documented header-token adjustment of
``contract_variants.slack_variant``) and fails a test through ``slack_prism_checked`` if any
request broke it. For answers Prism cannot give, and for Cloudflare and Stripe (whose
descriptions Prism cannot serve faithfully), ``ContractServer`` checks every request with
openapi-core.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract_server import ContractServer, contract_path
from tests.keys.standins import (
    PrismServer,
    RefusingKeyring,
    serving_prism,
)
from tests.providers_ops.contract_variants import (
    cloudflare_account_as_user,
    cloudflare_variant,
    slack_variant,
    stripe_flattened,
    stripe_relaxed,
)


@pytest.fixture(scope="session")
def slack_prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    workdir = tmp_path_factory.mktemp("slack-prism")
    spec = workdir / "slack.json"
    spec.write_text(json.dumps(slack_variant(json.loads(contract_path("slack.json").read_text()))))
    with serving_prism(spec, workdir) as server:
        yield server


@pytest.fixture
def slack_prism_checked(slack_prism: PrismServer) -> Iterator[PrismServer]:
    """Prism, failing the test if any request it received broke Slack's description."""
    mark = slack_prism.mark()
    yield slack_prism
    problems = slack_prism.problems_since(mark)
    assert not problems, "Prism rejected requests:\n" + "\n".join(problems)


def prism_requests(prism: PrismServer, mark: int, line: str) -> int:
    """How many requests Prism received since ``mark`` whose log line starts like ``line``."""
    prism.settle()
    with prism.log.open("rb") as handle:
        handle.seek(mark)
        text = handle.read().decode(errors="replace")
    return sum(1 for row in text.splitlines() if f"{line} ℹ  info      Request received" in row)


@pytest.fixture
def slack_contract(httpserver: Any) -> Iterator[ContractServer]:
    contract = ContractServer(httpserver, "slack.json", adapt_spec=slack_variant)
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def cloudflare_contract(httpserver: Any) -> Iterator[ContractServer]:
    contract = ContractServer(
        httpserver,
        "cloudflare.json",
        adapt_spec=cloudflare_variant,
        adapt_request=cloudflare_account_as_user,
    )
    yield contract
    assert contract.violations == [], contract.violations


@pytest.fixture
def stripe_contract(httpserver: Any) -> Iterator[ContractServer]:
    contract = ContractServer(
        httpserver, "stripe.json", adapt_spec=stripe_relaxed, adapt_request=stripe_flattened
    )
    yield contract
    assert contract.violations == [], contract.violations


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

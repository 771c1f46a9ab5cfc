"""Every provider stand-in the demo needs, seeded from the sample home's planted secrets.

``start_provider_fleet`` starts GitHub (behind Prism when it is installed), OpenAI, Anthropic,
Slack, Cloudflare and Stripe on loopback ports, each knowing the planted keys of its provider
plus an admin credential made up for this run. It returns the ``[providers.*]`` tables for
clawback.toml (credentials by ``env:`` reference only) and the environment those references
need, which the caller sets for the run and removes afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from clawback_demo.providers.loopback import ContractTally, LoopbackService, RequestCheck

ENV_PREFIX = "CLAWBACK_DEMO_"
GITHUB_APP_ID = "Iv1.8a61f9b3a7aba766"
STRIPE_RECEIVER = "https://billing.example.com/stripe/webhook"
# An endpoint the attacker added to receive every event: the key responder must disable it.
STRIPE_INTRUDER = "https://collector.example.net/hooks/stripe"
# Every planted kind some stand-in serves; anything else has no API to stand in for.
SERVED_KINDS = frozenset(
    {
        "github:pat",
        "github:fine_grained_pat",
        "github:oauth",
        "github:user_to_server",
        "github:installation",
        "openai:project_key",
        "openai:admin_key",
        "anthropic:api_key",
        "anthropic:admin_key",
        "slack:bot_token",
        "slack:user_token",
        "cloudflare:api_token",
        "stripe:secret_key",
        "stripe:restricted_key",
        "stripe:webhook_secret",
    }
)


class _Account(Protocol):
    """What every stand-in's state offers the fleet."""

    def answer(self, request: Any) -> Any: ...

    def is_live(self, value: str) -> bool: ...


@dataclass
class ProviderFleet:
    services: dict[str, LoopbackService]
    accounts: dict[str, _Account]
    config: dict[str, dict[str, Any]]
    environ: dict[str, str] = field(repr=False)
    prism: Any = None  # what the GitHub proxy returned (a Prism process)
    notes: list[str] = field(default_factory=list)
    _scrub: Callable[[str], str] = field(default=str, repr=False)

    def tallies(self) -> list[ContractTally]:
        """What the contract checks found, per provider, with any secret scrubbed."""
        out = []
        for name, service in self.services.items():
            tally = service.tally
            if name == "github" and self.prism is not None:
                requests, violations, warnings = self.prism.findings()
                tally = ContractTally(
                    "github", "Prism proxy, clawback_demo/contracts/github.json", requests,
                    violations, warnings,
                )
            out.append(
                ContractTally(
                    tally.provider,
                    tally.checked_by,
                    tally.requests,
                    [self._scrub(v) for v in tally.violations],
                    [self._scrub(w) for w in tally.warnings],
                )
            )
        return out

    def accepts(self, provider: str, value: str) -> bool:
        """Whether the provider's stand-in still takes ``value`` (a key that works)."""
        account = self.accounts.get(provider)
        return account is not None and account.is_live(value)

    def stop(self) -> None:
        if self.prism is not None:
            self.prism.stop()
        for service in self.services.values():
            service.stop()


# Starts the checking proxy in front of the GitHub stand-in: called with the stand-in's URL and
# a log path, it returns what ``clawback_demo.standins.start_prism_proxy`` returns. The caller
# hands it in (it knows where Prism is), so the provider stand-ins never import the process
# starters that import them.
GitHubProxy = Callable[[str, Path], Any]


def start_provider_fleet(
    planted: Iterable[Any], workdir: Path, *, github_proxy: GitHubProxy | None = None,
    slack_allow_list: bool = False,
) -> ProviderFleet:
    """Start every stand-in, seeded with ``planted`` (``SampleHome.planted``).

    ``github_proxy``: GitHub's stand-in is served behind it (Prism checking every request and
    answer against GitHub's description); without it, unchecked.

    ``slack_allow_list``: the Slack user token's app lets tokens be used from the agent's host
    only, so Slack answers clawback ``invalid_auth`` for it whether it is alive or not: the demo
    shows what a key that cannot be proven dead looks like."""
    import logging

    from clawback_demo.providers import contracts
    from clawback_demo.providers.anthropic import AnthropicOrganization, DocumentedShapes
    from clawback_demo.providers.cloudflare import CloudflareAccount
    from clawback_demo.providers.github import GitHubAccount
    from clawback_demo.providers.openai import OpenAIOrganization
    from clawback_demo.providers.slack import SlackWorkspace
    from clawback_demo.providers.stripe import StripeAccount
    from responders.kit.redaction import Redactor

    # openapi-core logs each spec quirk it skips (oauth2 schemes, for one) as a warning.
    logging.getLogger("openapi_core").setLevel(logging.ERROR)
    planted = list(planted)
    by_kind: dict[str, list[str]] = {}
    for secret in planted:
        by_kind.setdefault(secret.kind, []).append(secret.value)
    admin = {
        "openai": "sk-admin-" + secrets.token_urlsafe(60),
        "anthropic": "sk-ant-admin01-" + secrets.token_urlsafe(70) + "AA",
        "cloudflare": secrets.token_urlsafe(30)[:40],
        "stripe": "rk_live_" + secrets.token_hex(40),
        "github": secrets.token_hex(20),
    }
    environ = {
        f"{ENV_PREFIX}OPENAI_ADMIN_KEY": admin["openai"],
        f"{ENV_PREFIX}ANTHROPIC_ADMIN_KEY": admin["anthropic"],
        f"{ENV_PREFIX}CLOUDFLARE_ADMIN_TOKEN": admin["cloudflare"],
        f"{ENV_PREFIX}STRIPE_API_KEY": admin["stripe"],
        f"{ENV_PREFIX}GITHUB_APP_SECRET": admin["github"],
    }
    redactor = Redactor([*(p.value for p in planted), *admin.values()])

    github = GitHubAccount()
    github.add_app(GITHUB_APP_ID, admin["github"])
    for kind in ("github:pat", "github:fine_grained_pat", "github:installation"):
        for value in by_kind.get(kind, ()):
            github.add_token(value)
    for kind in ("github:oauth", "github:user_to_server"):
        for value in by_kind.get(kind, ()):
            github.add_token(value, GITHUB_APP_ID)

    openai = OpenAIOrganization()
    project = openai.add_project("agent")
    for index, value in enumerate(by_kind.get("openai:project_key", ())):
        # One key a person created, one issued to a service account: both kinds of owner.
        if index % 2:
            openai.add_service_account(project, value, "agent-bot")
        else:
            openai.add_user_key(project, value, f"agent {index + 1}")
    for value in by_kind.get("openai:admin_key", ()):
        openai.add_admin_key(value, "ops automation")
    openai.add_admin_key(admin["openai"], "clawback incident response")

    anthropic = AnthropicOrganization()
    for index, value in enumerate(by_kind.get("anthropic:api_key", ())):
        anthropic.add_key(value, f"agent {index + 1}")
    for value in [*by_kind.get("anthropic:admin_key", ()), admin["anthropic"]]:
        anthropic.add_admin_key(value)

    slack = SlackWorkspace()
    for index, value in enumerate(
        [*by_kind.get("slack:bot_token", ()), *by_kind.get("slack:user_token", ())]
    ):
        slack.add_token(value, f"U0DEMO{index + 1:04d}")
    if slack_allow_list:
        slack.restricted.update(by_kind.get("slack:user_token", ()))

    cloudflare = CloudflareAccount(admin=admin["cloudflare"])
    cloudflare.add_token(admin["cloudflare"], "clawback incident response")
    for value in by_kind.get("cloudflare:api_token", ()):
        cloudflare.add_token(value, "agent dns")

    stripe = StripeAccount()
    for value in (*by_kind.get("stripe:secret_key", ()), *by_kind.get("stripe:restricted_key", ()),
                  admin["stripe"]):
        stripe.add_key(value)
    stripe_endpoints = []
    for index, value in enumerate(by_kind.get("stripe:webhook_secret", ())):
        # The receiver's signing secret, by reference: clawback ties the discovered value to
        # its endpoint by comparing the two.
        endpoint = stripe.add_endpoint(STRIPE_RECEIVER, value, description="billing receiver")
        name = f"{ENV_PREFIX}STRIPE_WEBHOOK_SECRET_{index}"
        stripe_endpoints.append({"id": endpoint, "secret": f"env:{name}"})
        environ[name] = value
    stripe.add_endpoint(STRIPE_INTRUDER, enabled_events=["*"])
    for age_days, event_type in ((0.2, "customer.created"), (1.5, "charge.succeeded"),
                                 (9, "customer.created"), (45, "charge.succeeded")):
        stripe.add_event(age_days, event_type)

    accounts: dict[str, _Account] = {
        "github": github,
        "openai": openai,
        "anthropic": anthropic,
        "slack": slack,
        "cloudflare": cloudflare,
        "stripe": stripe,
    }
    notes: list[str] = []
    with contextlib.ExitStack() as started, ThreadPoolExecutor(max_workers=6) as pool:
        upstream = LoopbackService("github", github.answer, None, "")
        started.callback(upstream.stop)
        prism: Future[Any] | None = None
        if github_proxy is not None:
            prism = pool.submit(github_proxy, upstream.url, workdir / "prism.log")
        checks = {
            "github": pool.submit(contracts.load_check, "github.json"),
            "openai": pool.submit(contracts.load_check, "openai.json"),
            "slack": pool.submit(
                contracts.load_check, "slack.json", adapt_spec=contracts.slack_header_token
            ),
            "cloudflare": pool.submit(
                contracts.load_check, "cloudflare.json",
                adapt_spec=contracts.cloudflare_update_body,
            ),
            "stripe": pool.submit(
                contracts.load_check, "stripe.json", adapt_spec=contracts.stripe_deep_objects,
                adapt_request=contracts.stripe_flat_arrays,
            ),
        }
        services: dict[str, LoopbackService] = {}

        def serve(name: str, answer: Callable[[Any], Any], check: RequestCheck | None,
                  label: str) -> None:
            services[name] = LoopbackService(name, answer, check, label)
            started.callback(services[name].stop)
            if check is None:
                notes.append(
                    f"{name}: requests were not checked against the provider's description "
                    "(openapi-core or the packaged description is missing here)"
                )

        for name in ("openai", "slack", "cloudflare", "stripe"):
            check = checks[name].result()
            serve(name, accounts[name].answer, check,
                  f"openapi-core, clawback_demo/contracts/{name}.json")
        serve(
            "anthropic", anthropic.answer, _documented_shapes(DocumentedShapes),
            "hand-written schemas from Anthropic's Admin API documentation",
        )
        prism_stand_in = None
        try:
            prism_stand_in = prism.result() if prism is not None else None
        except RuntimeError as exc:
            notes.append(f"{exc}: the GitHub stand-in answers without Prism")
        if prism_stand_in is not None:
            started.callback(prism_stand_in.stop)
            services["github"] = upstream
        else:
            if prism is None:
                notes.append(
                    "Prism is not installed (scripts/bootstrap --demo installs it): the GitHub "
                    "stand-in answers without Prism checking its requests and answers"
                )
            serve("github", github.answer, checks["github"].result(),
                  "openapi-core, clawback_demo/contracts/github.json")
        started.pop_all()
    urls = {name: service.url for name, service in services.items()}
    config: dict[str, dict[str, Any]] = {
        "github": {
            "base_url": prism_stand_in.url if prism_stand_in else urls["github"],
            # GitHub's description declares only application/json, so Prism insists on it.
            "accept": "application/json",
            "timeout_seconds": 5,
            "oauth_apps": [
                {"client_id": GITHUB_APP_ID, "client_secret": f"env:{ENV_PREFIX}GITHUB_APP_SECRET"}
            ],
        },
        "openai": {
            "base_url": urls["openai"],
            "admin_key": f"env:{ENV_PREFIX}OPENAI_ADMIN_KEY",
            "timeout_seconds": 5,
        },
        "anthropic": {
            "base_url": urls["anthropic"],
            "admin_key": f"env:{ENV_PREFIX}ANTHROPIC_ADMIN_KEY",
            "timeout_seconds": 5,
        },
        "slack": {"base_url": urls["slack"], "timeout_seconds": 5},
        "cloudflare": {
            "base_url": urls["cloudflare"],
            "token": f"env:{ENV_PREFIX}CLOUDFLARE_ADMIN_TOKEN",
            "timeout_seconds": 5,
        },
        "stripe": {
            "api_base": urls["stripe"],
            "api_key": f"env:{ENV_PREFIX}STRIPE_API_KEY",
            "webhook_endpoints": stripe_endpoints,
            "timeout_seconds": 5,
        },
    }
    return ProviderFleet(
        services=services,
        accounts=accounts,
        config=config,
        environ=environ,
        prism=prism_stand_in,
        notes=notes,
        _scrub=redactor.text,
    )


def _documented_shapes(check: type[RequestCheck]) -> RequestCheck | None:
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return None
    return check()

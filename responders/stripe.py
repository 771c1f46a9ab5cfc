"""Stripe responder: contain what a leaked key can do, keep the event history, guide the roll.

Stripe's generally available API cannot list, roll or expire secret and restricted keys (the
Dashboard does that; an ``/v2/iam/api_keys`` API exists only as an approval-gated preview). So
for every discovered ``sk_``/``rk_`` key ``revoke_all``:

1. asks ``GET /v1/balance`` with the key: 401 means it is already rolled (``AlreadyRevoked``);
2. disables every webhook endpoint the key could have altered (``disabled=true``; an attacker's
   endpoint exfiltrates every event), except those listed under ``spare_webhooks``;
3. exports the last 30 days of ``Event``s (Stripe keeps no more) into the incident's
   ``evidence/stripe-events.jsonl`` (0600, bounded by ``max_events``), with every secret the
   responder knows replaced by its fingerprint; the file and its sha256 are in ``facts`` so the
   engine can record them;
4. returns ``ManualRequired`` with the exact Dashboard steps to roll the key
   (https://dashboard.stripe.com/apikeys). ``verify_revoked`` later proves the old key gets 401.

Webhook endpoints named under ``webhook_endpoints`` become targets of their own: ``revoke``
disables them and ``rotate`` re-creates them (same url, events, API version, description and
metadata) because a signing secret is only ever returned at creation: create → store the new
secret → delete the old endpoint. A discovered ``whsec_`` signing secret is tied to its endpoint
when that entry's ``secret`` reference resolves to the same value; otherwise rolling it is a
manual step (https://dashboard.stripe.com/webhooks).

The work is done with ``api_key`` when configured (a restricted key with Webhook Endpoints
write and Events read is enough), else with the discovered keys themselves: they are live until
the human rolls them.

Config, the ``[providers.stripe]`` table of clawback.toml (every key optional)::

    api_base = "https://api.stripe.com"
    api_key = "keyring:clawback/stripe-admin"     # reference
    webhook_endpoints = [{id = "we_123", secret = "env:STRIPE_WEBHOOK_SECRET"}]
    spare_webhooks = ["we_456"]                    # never disabled
    events_days = 30
    max_events = 10000
    max_webhooks = 1000
    store_name = "stripe/{target}"
    timeout_seconds = 20
    connect_timeout_seconds = 3

Errors become outcomes: 429, 5xx, timeouts and refused connections → ``Failed(retryable=True)``
(``retry_after`` from ``Retry-After`` when Stripe sends one); 401/403 → the key and the missing
permission are named. The SDK's own retries are off: the engine retries. Response bodies are
kept out of the ``stripe`` logger (a created endpoint's body holds its secret); do not run with
``STRIPE_LOG=debug``, which prints them to stderr.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from responders.http_answers import CallFailed, retry_after_seconds
from responders.interface import (
    AlreadyRevoked,
    Capability,
    ConfigSetting,
    Credential,
    Disabled,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    PreflightCheck,
    ProviderSetup,
    RateLimit,
    ResponderContext,
    ResponderError,
    Rotated,
    SecretStore,
    SecretValue,
    Skipped,
    VerifiedDead,
    admin_reference,
)
from responders.provider_responder import (
    KEY_CAPABILITIES_WITH_DISABLE,
    ProviderResponder,
    describe_store_error,
    kind_by_prefix,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    validate_table,
)

if TYPE_CHECKING:
    import stripe
    from stripe.params import WebhookEndpointCreateParams

T = TypeVar("T")

KIND_SECRET_KEY = "stripe:secret_key"
KIND_RESTRICTED_KEY = "stripe:restricted_key"
KIND_TEST_KEY = "stripe:test_key"
KIND_WEBHOOK_SECRET = "stripe:webhook_secret"
KIND_WEBHOOK_ENDPOINT = "stripe:webhook_endpoint"
API_KEYS = (KIND_SECRET_KEY, KIND_RESTRICTED_KEY, KIND_TEST_KEY)  # most powerful first
KEYS_URL = "https://dashboard.stripe.com/apikeys"
WEBHOOKS_URL = "https://dashboard.stripe.com/webhooks"
EVENTS_FILE = "stripe-events.jsonl"
EVENT_HISTORY_DAYS = 30  # Stripe's Events API goes back no further
_PAGE = 100

_KEY_PREFIXES = (
    ("sk_live_", KIND_SECRET_KEY),
    ("rk_live_", KIND_RESTRICTED_KEY),
    ("sk_test_", KIND_TEST_KEY),
    ("rk_test_", KIND_TEST_KEY),
    ("whsec_", KIND_WEBHOOK_SECRET),
)


@dataclass(frozen=True)
class EndpointEntry:
    id: str
    secret: str | None = None  # reference to the endpoint's signing secret

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


@dataclass(frozen=True)
class StripeSettings:
    """The validated ``[providers.stripe]`` table (see the module docstring)."""

    api_base: str = "https://api.stripe.com"
    api_key: str | None = None
    webhook_endpoints: tuple[EndpointEntry, ...] = ()
    spare_webhooks: tuple[str, ...] = ()
    events_days: int = EVENT_HISTORY_DAYS
    max_events: int = 10_000
    max_webhooks: int = 1_000
    store_name: str = "stripe/{target}"
    timeout_seconds: float = 20.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> StripeSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(StripeSettings, raw, "stripe")
    references = [("api_key", settings.api_key)]
    references += [
        (f"webhook_endpoints.{e.id}.secret", e.secret) for e in settings.webhook_endpoints
    ]
    require_references("stripe", references)
    for endpoint in (*(e.id for e in settings.webhook_endpoints), *settings.spare_webhooks):
        if not endpoint.startswith("we_"):
            raise ResponderError(f"[providers.stripe] {endpoint!r} is not a webhook endpoint id")
    if not 1 <= settings.events_days <= EVENT_HISTORY_DAYS:
        raise ResponderError(
            f"[providers.stripe] events_days must be 1..{EVENT_HISTORY_DAYS} (Stripe's history)"
        )
    if min(settings.max_events, settings.max_webhooks) < 1:
        raise ResponderError("[providers.stripe] max_events and max_webhooks must be positive")
    require_positive_timeouts("stripe", settings.timeout_seconds, settings.connect_timeout_seconds)
    return settings


def key_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, _KEY_PREFIXES)


# -- turning SDK errors into outcomes ----------------------------------------------------------


def failure_for_error(exc: Exception, action: str, needed: str, key: str) -> CallFailed | None:
    """A Stripe SDK error as the outcome the runner understands; None if it is not one.

    ``needed`` names the permission a 403 lacks, ``key`` the credential a 401 rejected. Stripe's
    own messages are not repeated: they quote part of the key.
    """
    import stripe

    if not isinstance(exc, stripe.StripeError):
        return None
    status = int(exc.http_status or 0)
    code = f" ({exc.code})" if exc.code else ""
    if isinstance(exc, stripe.APIConnectionError):
        return CallFailed(0, Failed(error=f"{action}: cannot reach Stripe", retryable=True))
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        wait = retry_after_seconds(exc.headers)
        return CallFailed(
            status,
            Failed(
                error=f"{action}: Stripe's rate limit is exhausted (HTTP 429)",
                retryable=True,
                retry_after=wait,
            ),
        )
    if status >= 500 or (isinstance(exc, stripe.APIError) and not status):
        return CallFailed(
            status, Failed(error=f"{action}: Stripe answered HTTP {status}{code}", retryable=True)
        )
    if isinstance(exc, stripe.AuthenticationError) or status == 401:
        return CallFailed(
            401, Failed(error=f"{action}: Stripe rejected {key} (401): it is rolled or wrong")
        )
    if isinstance(exc, stripe.PermissionError) or status == 403:
        return CallFailed(
            403,
            Failed(
                error=f"{action}: forbidden (403){code}: {key} lacks {needed} (a restricted key "
                "needs that permission, or configure api_key in [providers.stripe])"
            ),
        )
    return CallFailed(status, Failed(error=f"{action}: Stripe answered HTTP {status}{code}"))


class _DropResponseBodies(logging.Filter):
    """stripe-python logs whole response bodies at DEBUG; a created endpoint's holds its secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "API response body" not in str(record.msg)


def _silence_response_bodies() -> None:
    logger = logging.getLogger("stripe")
    if not any(isinstance(f, _DropResponseBodies) for f in logger.filters):
        logger.addFilter(_DropResponseBodies())


def _url_origin(url: str) -> str:
    # Where events were sent is evidence; the path and query may hold the receiver's own token
    # (hooks.zapier.com/hooks/catch/…/…), which is nobody's business here.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class _AccountWork:
    """What the key pass did, shared by every key it was done for."""

    webhooks: dict[str, str] = field(default_factory=dict)  # endpoint id → what happened
    urls: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    retry: Failed | None = None
    export: dict[str, Any] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"webhooks": dict(self.webhooks)}
        if self.urls:
            out["webhook_urls"] = dict(self.urls)
        if self.export:
            out["events_export"] = dict(self.export)
            # The engine seals files named here into the evidence manifest (verify checks them).
            out["evidence_files"] = [self.export["file"]]
        if self.problems:
            out["problems"] = list(self.problems)
        return out


class StripeResponder(ProviderResponder[StripeSettings]):
    """Contains Stripe keys and webhook secrets; see the module docstring."""

    name: ClassVar[str] = "stripe"
    display_name: ClassVar[str] = "Stripe"
    providers: ClassVar[frozenset[str]] = frozenset({"stripe"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES_WITH_DISABLE
    # docs.stripe.com/rate-limits: 100 operations a second in live mode (25 in a sandbox), an
    # endpoint 25 a second unless stated otherwise, and a concurrency limiter besides.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=25, requests=25, per_seconds=1,
        source="Stripe: 25 requests/s per endpoint, 100/s per account in live mode",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("api_key", admin_reference("stripe"),
                              "a restricted key kept for incidents (rk_live_...)"),
            ),
            permissions=("Webhook Endpoints: write", "Events: read", "Balance: read"),
            console="https://dashboard.stripe.com/apikeys",
            note="Stripe has no API that revokes a secret key: rolling it is a manual step",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._clients: dict[str, stripe.StripeClient] = {}
        self._http: stripe.HTTPXClient | None = None  # one transport for every key's client
        self._acting: SecretValue | None = None  # the key endpoint work is done with
        self._known: list[SecretValue] = []  # scrubbed from the events export
        self._handled: dict[str, str] = {}  # webhook endpoint id → what this run did to it
        self._recreated: dict[str, Outcome] = {}  # old endpoint id → rotate's outcome
        self._new_secrets: dict[str, tuple[str, SecretValue]] = {}  # → (store name, secret)
        self._endpoint_gates: dict[str, threading.Lock] = {}
        self._export_path: Path | None = None
        self._exported: set[str] = set()  # event ids: two keys of one account export once

    # -- configuration and clients ------------------------------------------------------------

    def _admin_key(self) -> SecretValue | None:
        return self._store().resolve(self.settings.api_key) if self.settings.api_key else None

    def _client(self, key: SecretValue) -> stripe.StripeClient:
        with self._lock:
            client = self._clients.get(key.fingerprint)
            if client is None:
                from responders.kit.httpx_cli import skip_httpx_cli

                skip_httpx_cli()
                import httpx
                import stripe

                _silence_response_bodies()
                s = self.settings
                if self._http is None:
                    self._http = stripe.HTTPXClient(
                        timeout=httpx.Timeout(s.timeout_seconds, connect=s.connect_timeout_seconds),
                        allow_sync_methods=True,
                    )
                client = stripe.StripeClient(
                    key.reveal(),
                    base_addresses={"api": s.api_base.rstrip("/")},
                    max_network_retries=0,
                    http_client=self._http,
                )
                self._clients[key.fingerprint] = client
            return client

    def _call(
        self,
        key: SecretValue,
        action: str,
        needed: str,
        call: Callable[[stripe.StripeClient], T],
        *,
        who: str = "the key",
    ) -> T:
        try:
            return call(self._client(key))
        except Exception as exc:
            failed = failure_for_error(exc, action, needed, who)
            if failed is None:
                raise
            raise failed from None

    def _each(
        self, key: SecretValue, action: str, needed: str, listing: Any, who: str
    ) -> Iterator[Any]:
        """Every item of a listing; later pages are fetched as the SDK pages on."""
        pages = listing.auto_paging_iter()
        while True:
            item = self._call(key, action, needed, lambda _client: next(pages, None), who=who)
            if item is None:
                return
            yield item

    def configured_targets(self) -> list[Credential]:
        """The webhook endpoints named in the config; sends no request."""
        return [
            Credential(provider="stripe", kind=KIND_WEBHOOK_ENDPOINT, fingerprint=e.id, key_id=e.id)
            for e in self.settings.webhook_endpoints
        ]

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke_all would send, from the config alone: no request is made."""
        s = self.settings
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            kind = key_kind(cred)
            if kind in API_KEYS:
                planned = Planned(
                    action="contain",
                    detail=f"{kind} {cred.fingerprint}: the key roll itself is a manual step",
                    commands=(
                        "GET /v1/balance (with the key: 401 = already rolled)",
                        "GET /v1/webhook_endpoints, POST /v1/webhook_endpoints/{id} disabled=true"
                        + (f" (sparing {', '.join(s.spare_webhooks)})" if s.spare_webhooks else ""),
                        f"GET /v1/events (last {s.events_days} days, at most {s.max_events}) → "
                        f"evidence/{EVENTS_FILE}",
                        f"manual: roll the key at {KEYS_URL}",
                    ),
                )
            elif kind == KIND_WEBHOOK_ENDPOINT:
                planned = Planned(
                    action="disable",
                    detail=f"webhook endpoint {cred.key_id}",
                    commands=(
                        f"POST /v1/webhook_endpoints/{cred.key_id} disabled=true",
                        "rotate: POST /v1/webhook_endpoints (same url and events), store the "
                        f"new secret, DELETE /v1/webhook_endpoints/{cred.key_id}",
                    ),
                )
            elif kind == KIND_WEBHOOK_SECRET:
                planned = Planned(
                    action="disable",
                    detail=f"signing secret {cred.fingerprint}: its endpoint, if configured",
                    commands=("compare with webhook_endpoints[].secret (no request)",),
                )
            else:
                planned = Planned(action="manual", detail=f"{cred.kind}: by hand")
            out.append((cred, planned))
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        return self.revoke_all([cred])[0][1]

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """Keys first (one pass over the account's webhooks and events), then endpoints."""
        if (broken := self._config_failures(creds)) is not None:
            return broken
        outcomes: dict[int, Outcome] = {}
        keys = [i for i, c in enumerate(creds) if key_kind(c) in API_KEYS and c.secret]
        with self._lock:
            self._known += [c.secret for c in creds if c.secret is not None]
        try:
            outcomes.update(self._contain_keys({i: creds[i] for i in keys}))
        except ResponderError as exc:
            outcomes.update({i: Failed(error=str(exc)) for i in keys})
        for i, cred in enumerate(creds):
            if i in outcomes:
                continue
            try:
                outcomes[i] = self._revoke_other(cred)
            except CallFailed as err:
                outcomes[i] = err.failed
            except ResponderError as exc:
                outcomes[i] = Failed(error=str(exc))
        return [(cred, outcomes[i]) for i, cred in enumerate(creds)]

    def _contain_keys(self, keys: dict[int, Credential]) -> dict[int, Outcome]:
        if not keys:
            return {}
        order = sorted(keys, key=lambda i: API_KEYS.index(key_kind(keys[i])))
        outcomes: dict[int, Outcome] = {}
        live: list[int] = []
        for i in order:
            checked = self._still_accepted(keys[i])
            if checked is None:
                live.append(i)
            else:
                outcomes[i] = checked
        if not live:
            return outcomes
        admin = self._admin_key()
        with self._lock:
            self._known += [admin] if admin is not None else []
        acting = (
            [("the configured api_key", admin)]
            if admin
            else [(f"key {keys[i].fingerprint}", keys[i].secret) for i in live]
        )
        with self._lock:
            self._acting = acting[0][1]
        work = _AccountWork()
        for who, key in acting:
            assert key is not None
            self._account_pass(key, who, work)
        for i in live:
            outcomes[i] = self._key_outcome(keys[i], work)
        return outcomes

    def _still_accepted(self, cred: Credential) -> Outcome | None:
        """None while Stripe accepts the key; AlreadyRevoked (401) or a failure otherwise."""
        assert cred.secret is not None
        try:
            self._call(
                cred.secret, "GET /v1/balance", "Balance read", lambda c: c.v1.balance.retrieve()
            )
        except CallFailed as err:
            if err.status == 401:
                return AlreadyRevoked(
                    detail="Stripe already rejects this key (GET /v1/balance → 401)",
                    facts={"checked_with": "GET /v1/balance", "http_status": 401},
                )
            if err.status == 403:
                return None  # a restricted key without Balance read is still a live key
            return err.failed
        return None

    def _key_outcome(self, cred: Credential, work: _AccountWork) -> Outcome:
        kind = key_kind(cred)
        what = {
            KIND_SECRET_KEY: "secret key",
            KIND_RESTRICTED_KEY: "restricted key",
            KIND_TEST_KEY: "test-mode key",
        }[kind]
        steps = (
            f"Stripe has no API that rolls a {what}. Open {KEYS_URL}"
            + (" (switch to Test mode)" if kind == KIND_TEST_KEY else "")
            + f", find the {what} ending in {cred.fingerprint.split()[0].lstrip('…')} "
            f"({cred.fingerprint}), open its ⋯ menu and choose Roll key…, set the expiration to "
            "Now, and click Roll API key. Store the new key with `keyring set clawback "
            "stripe/api-key` and point the agent's replacement at it; clawback then checks that "
            "the old key gets 401."
        )
        disabled = [i for i, what in work.webhooks.items() if what == "disabled"]
        if disabled:
            steps += (
                f" Webhook endpoints disabled by clawback: {', '.join(disabled)}; re-enable the "
                f"legitimate ones at {WEBHOOKS_URL} and delete any you do not recognise."
            )
        if work.problems:
            steps += " clawback could not finish: " + "; ".join(work.problems) + "."
        if work.retry is not None:
            return Failed(
                error=f"{work.retry.error}; then: {steps}",
                retryable=True,
                retry_after=work.retry.retry_after,
                facts=work.facts(),
            )
        return ManualRequired(instructions=steps, url=KEYS_URL, facts=work.facts())

    def _account_pass(self, key: SecretValue, who: str, work: _AccountWork) -> None:
        """Disable the account's webhook endpoints and export its recent events."""
        try:
            self._disable_webhooks(key, who, work)
        except CallFailed as err:
            work.problems.append(f"webhook endpoints: {err.failed.error}")
            if err.failed.retryable:
                work.retry = err.failed
        try:
            exported = self._export_events(key, who)
        except CallFailed as err:
            work.problems.append(f"events export: {err.failed.error}")
            if err.failed.retryable:
                work.retry = err.failed
        else:
            if exported:
                previous = work.export.get("events", 0)
                work.export = {**exported, "events": previous + exported["events"]}

    def _disable_webhooks(self, key: SecretValue, who: str, work: _AccountWork) -> None:
        s = self.settings
        listing = self._call(
            key,
            "GET /v1/webhook_endpoints",
            "Webhook Endpoints read",
            lambda c: c.v1.webhook_endpoints.list({"limit": _PAGE}),
            who=who,
        )
        seen = 0
        for endpoint in self._each(
            key, "GET /v1/webhook_endpoints", "Webhook Endpoints read", listing, who
        ):
            if seen >= s.max_webhooks:
                work.problems.append(
                    f"more than {s.max_webhooks} webhook endpoints; the rest were left alone"
                )
                break
            seen += 1
            endpoint_id = str(endpoint.id)
            work.urls.setdefault(endpoint_id, _url_origin(str(endpoint.url or "")))
            with self._lock:
                if endpoint_id in self._handled:
                    work.webhooks.setdefault(endpoint_id, self._handled[endpoint_id])
                    continue
            if endpoint_id in s.spare_webhooks:
                result = "spared"
            elif endpoint.status == "disabled":
                result = "already disabled"
            else:
                result = self._disable_endpoint(key, endpoint_id, who)
            with self._lock:
                self._handled[endpoint_id] = result
            work.webhooks[endpoint_id] = result

    def _disable_endpoint(self, key: SecretValue, endpoint_id: str, who: str) -> str:
        path = f"POST /v1/webhook_endpoints/{endpoint_id}"
        try:
            self._call(
                key,
                path,
                "Webhook Endpoints write",
                lambda c: c.v1.webhook_endpoints.update(endpoint_id, {"disabled": True}),
                who=who,
            )
        except CallFailed as err:
            if err.status == 404:
                return "gone"
            raise
        return "disabled"

    def _export_events(self, key: SecretValue, who: str) -> dict[str, Any]:
        """The last ``events_days`` of events, appended to the incident's evidence file."""
        if self.context.incident_dir is None:
            return {}
        from responders.kit.private_files import make_private_dir, open_private
        from responders.kit.redaction import Redactor

        s = self.settings
        since = int(time.time()) - s.events_days * 86_400
        listing = self._call(
            key,
            "GET /v1/events",
            "Events read",
            lambda c: c.v1.events.list({"created": {"gte": since}, "limit": _PAGE}),
            who=who,
        )
        with self._lock:
            redactor = Redactor(self._known)
            path = self._export_path
            if path is None:
                evidence = make_private_dir(self.context.incident_dir / "evidence")
                path = evidence / EVENTS_FILE
                attempt = 1
                while path.exists():  # an earlier run's export is evidence: never overwrite it
                    attempt += 1
                    path = evidence / f"stripe-events.{attempt}.jsonl"
                self._export_path = path
        written, truncated = 0, False
        with open_private(path, "a") as out:
            for event in self._each(key, "GET /v1/events", "Events read", listing, who):
                if written >= s.max_events:
                    truncated = True
                    break
                with self._lock:
                    if event.id in self._exported:
                        continue
                    self._exported.add(event.id)
                line = json.dumps(event.to_dict(), sort_keys=True, separators=(",", ":"))
                out.write(redactor.text(line) + "\n")
                written += 1
        data = path.read_bytes()
        assert self.context.incident_dir is not None
        return {
            "file": str(path.relative_to(self.context.incident_dir)),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "events": written,
            "truncated": truncated,
            "since": datetime.fromtimestamp(since, UTC).isoformat(),
        }

    # -- webhook endpoints and signing secrets ------------------------------------------------

    def _endpoint_key(self) -> SecretValue:
        with self._lock:
            acting = self._acting
        if acting is None:
            acting = self._admin_key()
        if acting is None:
            raise ResponderError(
                'webhook endpoints need a key: set api_key = "keyring:SERVICE/USER" in '
                "[providers.stripe] (Webhook Endpoints write), or let clawback find the agent's key"
            )
        return acting

    def _revoke_other(self, cred: Credential) -> Outcome:
        kind = key_kind(cred)
        if kind == KIND_WEBHOOK_ENDPOINT and cred.key_id:
            return self._contain_endpoint(cred.key_id)
        if kind == KIND_WEBHOOK_SECRET:
            endpoint = self._endpoint_of(cred)
            if endpoint is None:
                return self._roll_secret_by_hand(cred)
            outcome = self._contain_endpoint(endpoint)
            return (
                outcome
                if not isinstance(outcome, Disabled | AlreadyRevoked)
                else Disabled(
                    detail=f"the endpoint it signs for ({endpoint}) is disabled; rotate gives the "
                    "endpoint a new signing secret",
                    facts={**outcome.facts, "endpoint": endpoint},
                )
            )
        if kind in API_KEYS:
            return ManualRequired(
                instructions=f"The value of Stripe key {cred.fingerprint} is not known: roll it "
                f"at {KEYS_URL}.",
                url=KEYS_URL,
            )
        return ManualRequired(
            instructions=f"clawback cannot revoke the Stripe {cred.kind} {cred.fingerprint}: "
            f"reset it in the Dashboard.",
            url=KEYS_URL,
        )

    def _roll_secret_by_hand(self, cred: Credential) -> ManualRequired:
        return ManualRequired(
            instructions=(
                f"Stripe has no API that rolls a webhook signing secret. Open {WEBHOOKS_URL}, "
                f"find the endpoint whose signing secret is {cred.fingerprint}, choose ⋯ → Roll "
                "secret, set the expiration to Now, and give the receiver the new whsec_ value. "
                "To have clawback re-create the endpoint instead, list it under webhook_endpoints "
                "in [providers.stripe] with secret = a reference to this value."
            ),
            url=WEBHOOKS_URL,
        )

    def _endpoint_of(self, cred: Credential) -> str | None:
        """The configured endpoint whose ``secret`` reference holds this signing secret."""
        if cred.secret is None:
            return None
        for entry in self.settings.webhook_endpoints:
            if entry.secret and self._store().resolve(entry.secret) == cred.secret:
                return entry.id
        return None

    def _contain_endpoint(self, endpoint_id: str) -> Outcome:
        with self._lock:
            done = self._handled.get(endpoint_id)
        facts: dict[str, Any] = {"endpoint": endpoint_id}
        if done == "disabled":
            return Disabled(detail=f"webhook endpoint {endpoint_id} disabled", facts=facts)
        if done in ("already disabled", "gone"):
            return AlreadyRevoked(detail=f"webhook endpoint {endpoint_id} is {done}", facts=facts)
        key = self._endpoint_key()
        try:
            endpoint = self._call(
                key,
                f"GET /v1/webhook_endpoints/{endpoint_id}",
                "Webhook Endpoints read",
                lambda c: c.v1.webhook_endpoints.retrieve(endpoint_id),
            )
        except CallFailed as err:
            if err.status == 404:
                return AlreadyRevoked(detail=f"webhook endpoint {endpoint_id} is gone", facts=facts)
            raise
        if endpoint.status == "disabled":
            result = "already disabled"
        else:
            result = self._disable_endpoint(key, endpoint_id, "the key")
        with self._lock:
            self._handled[endpoint_id] = result
        if result == "disabled":
            return Disabled(detail=f"webhook endpoint {endpoint_id} disabled", facts=facts)
        return AlreadyRevoked(detail=f"webhook endpoint {endpoint_id} is {result}", facts=facts)

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """Re-create a webhook endpoint: create → store its secret → delete the old one."""
        kind = key_kind(cred)
        try:
            if kind == KIND_WEBHOOK_ENDPOINT and cred.key_id:
                return self._recreate(cred.key_id, store)
            if kind == KIND_WEBHOOK_SECRET:
                endpoint = self._endpoint_of(cred)
                if endpoint is None:
                    return self._roll_secret_by_hand(cred)
                return self._recreate(endpoint, store)
            if kind in API_KEYS:
                return ManualRequired(
                    instructions=f"Roll {cred.fingerprint} at {KEYS_URL} (⋯ → Roll key…).",
                    url=KEYS_URL,
                )
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        return Skipped(reason=f"clawback cannot replace {cred.kind}")

    def _recreate(self, endpoint_id: str, store: SecretStore) -> Outcome:
        """Once per endpoint, even when two targets name it (the configured endpoint and the
        signing secret discovery found) and rotate at the same time: the second waits for the
        first, then stores the same new secret through its own store (which may switch the
        agent's files over), so one live endpoint replaces the old one."""
        with self._lock:
            gate = self._endpoint_gates.setdefault(endpoint_id, threading.Lock())
        with gate:
            with self._lock:
                done = self._recreated.get(endpoint_id)
                made = self._new_secrets.get(endpoint_id)
            if done is not None:
                if made is not None:
                    name, secret = made
                    try:
                        store.store(name, secret)
                    except Exception as exc:
                        return Failed(error=f"the endpoint was re-created, but storing its "
                                      f"signing secret again failed: {describe_store_error(exc)}")
                return done
            outcome = self._recreate_once(endpoint_id, store)
            if outcome.succeeded:
                with self._lock:
                    self._recreated[endpoint_id] = outcome
            return outcome

    def _recreate_once(self, endpoint_id: str, store: SecretStore) -> Outcome:
        key = self._endpoint_key()
        needed = "Webhook Endpoints write"
        try:
            old = self._call(
                key,
                f"GET /v1/webhook_endpoints/{endpoint_id}",
                needed,
                lambda c: c.v1.webhook_endpoints.retrieve(endpoint_id),
            )
        except CallFailed as err:
            if err.status == 404:
                return Skipped(
                    reason=f"webhook endpoint {endpoint_id} is gone: nothing to re-create"
                )
            raise
        current = old.to_dict()
        params: WebhookEndpointCreateParams = {
            "url": current["url"],
            "enabled_events": list(current["enabled_events"]),
        }
        if current.get("api_version"):
            params["api_version"] = current["api_version"]
        if current.get("description"):
            params["description"] = current["description"]
        if current.get("metadata"):
            params["metadata"] = dict(current["metadata"])
        created = self._call(
            key,
            "POST /v1/webhook_endpoints",
            needed,
            lambda c: c.v1.webhook_endpoints.create(params),
        )
        answered = created.to_dict()
        new_id, secret = str(answered["id"]), SecretValue(str(answered.get("secret") or ""))
        facts: dict[str, Any] = {
            "stage": "create",
            "old_endpoint": endpoint_id,
            "new_endpoint": new_id,
            "url": _url_origin(str(current["url"])),
        }
        name = self.settings.store_name.format(target=f"webhooks/{endpoint_id}")
        try:
            if not secret.reveal():
                raise ResponderError("Stripe returned no signing secret for the new endpoint")
            reference = store.store(name, secret)
            with self._lock:
                self._new_secrets[endpoint_id] = (name, secret)
        except Exception as exc:
            # Nothing may be left live without its secret stored: withdraw the new endpoint.
            try:
                self._call(
                    key,
                    f"DELETE /v1/webhook_endpoints/{new_id}",
                    needed,
                    lambda c: c.v1.webhook_endpoints.delete(new_id),
                )
                facts["new_endpoint_deleted"] = True
            except CallFailed:
                facts["new_endpoint_deleted"] = False
            state = "deleted" if facts["new_endpoint_deleted"] else "NOT deleted"
            return Failed(
                error="storing the new signing secret failed "
                f"({describe_store_error(exc)}); the new endpoint {new_id} was {state} and "
                f"{endpoint_id} was left as it was",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        try:
            self._call(
                key,
                f"DELETE /v1/webhook_endpoints/{endpoint_id}",
                needed,
                lambda c: c.v1.webhook_endpoints.delete(endpoint_id),
            )
        except CallFailed as err:
            if err.status != 404:
                return replace(
                    err.failed,
                    error=f"the new endpoint {new_id} works and its secret is stored at "
                    f"{reference}, but deleting {endpoint_id} failed: {err.failed.error}",
                    facts=facts,
                )
        facts["stage"] = "finish"
        with self._lock:
            self._handled[endpoint_id] = "gone"
        return Rotated(
            detail=f"endpoint {endpoint_id} re-created as {new_id} with a new signing secret; "
            f"give the receiver the secret stored at {reference}",
            facts=facts,
            new_fingerprint=secret.fingerprint,
            new_reference=reference,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """A key: ``GET /v1/balance`` with it answers 401. An endpoint: gone or disabled."""
        kind = key_kind(cred)
        try:
            if kind in API_KEYS:
                if cred.secret is None:
                    return Skipped(reason="the key's value is unknown, so it cannot be tried")
                still = self._still_accepted(cred)
                if isinstance(still, AlreadyRevoked):
                    return VerifiedDead(
                        detail="Stripe rejects the key (401)", facts=dict(still.facts)
                    )
                if still is None:
                    return Failed(
                        error=f"Stripe still accepts the key: roll it at {KEYS_URL}",
                        facts={"checked_with": "GET /v1/balance"},
                    )
                return still
            endpoint = cred.key_id if kind == KIND_WEBHOOK_ENDPOINT else self._endpoint_of(cred)
            if endpoint is None:
                return Skipped(reason="no configured endpoint is known to use this secret")
            return self._verify_endpoint(endpoint)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verify_endpoint(self, endpoint_id: str) -> Outcome:
        path = f"GET /v1/webhook_endpoints/{endpoint_id}"
        try:
            endpoint = self._call(
                self._endpoint_key(),
                path,
                "Webhook Endpoints read",
                lambda c: c.v1.webhook_endpoints.retrieve(endpoint_id),
            )
        except CallFailed as err:
            if err.status == 404:
                return VerifiedDead(
                    detail=f"webhook endpoint {endpoint_id} is gone",
                    facts={"checked_with": path, "http_status": 404},
                )
            raise
        if endpoint.status == "disabled":
            return VerifiedDead(
                detail=f"webhook endpoint {endpoint_id} is disabled", facts={"checked_with": path}
            )
        return Failed(error=f"webhook endpoint {endpoint_id} is still enabled")

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The configured key can read the balance, the endpoints and the events."""
        try:
            s = self.settings
            admin = self._admin_key()
            for entry in s.webhook_endpoints:
                if entry.secret:
                    self._store().resolve(entry.secret)
        except ResponderError as exc:
            return [PreflightCheck("stripe", "config", False, detail=str(exc))]
        if admin is None:
            return []
        probes: list[tuple[str, str, str, Callable[[stripe.StripeClient], object]]] = [
            ("api key", "GET /v1/balance", "a live key", lambda c: c.v1.balance.retrieve()),
            (
                "webhook endpoints",
                "GET /v1/webhook_endpoints",
                "Webhook Endpoints read",
                lambda c: c.v1.webhook_endpoints.list({"limit": 1}),
            ),
            (
                "events",
                "GET /v1/events",
                "Events read",
                lambda c: c.v1.events.list({"limit": 1}),
            ),
        ]
        checks = []
        for capability, action, needed, call in probes:
            try:
                self._call(admin, action, needed, call, who="the configured api_key")
            except CallFailed as err:
                checks.append(
                    PreflightCheck(
                        "stripe",
                        capability,
                        False,
                        detail=err.failed.error,
                        missing_permission=needed if err.status in (401, 403) else "",
                    )
                )
                continue
            checks.append(PreflightCheck("stripe", capability, True, detail=f"{action}: 200"))
        return checks

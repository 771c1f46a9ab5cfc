"""Slack responder: bot and user tokens, token-rotation apps, and the secrets only a human resets.

Bot (``xoxb-``) and user (``xoxp-``) tokens die through ``auth.revoke``, which revokes the token
it is called *with* (https://docs.slack.dev/reference/methods/auth.revoke): no admin credential
is involved. The call is a POST with the token in the ``Authorization`` header, never in a URL:
Slack stopped accepting query-string tokens from apps created after 2021-02-24, URLs end up in
proxy logs, and Slack's Web API takes every method as a POST.

What proves a token dead: ``{"revoked": true}`` from ``auth.revoke`` (Slack's own record) and
``token_revoked`` / ``account_inactive`` / ``token_expired`` from ``auth.test`` afterwards. Not
``invalid_auth``: Slack documents it as "Either the provided token is invalid or the request
originates from an IP address disallowed from making the request", which is what a live token
of an app with an IP allow-list ("Restrict API Token Usage") answers from any other address; it
is ``Unproven``, with the allow-list to check.

Apps with token rotation hand out expiring access tokens (``xoxe.xoxb-``/``xoxe.xoxp-``) and
refresh tokens (``xoxe-``). A refresh token is exchanged through ``oauth.v2.access`` with
``grant_type=refresh_token`` and the app's client id and secret; Slack then revokes the old
refresh token and returns a new pair, which is stored before anything else happens. That is how a
leaked refresh token is killed, and how ``rotate`` replaces a rotating access token. A refresh
token every configured app answers ``invalid_refresh_token`` was already exchanged (Slack
revokes a refresh token when it is used, https://docs.slack.dev/authentication/using-token-rotation):
someone, the agent's own rotation or the attacker, holds its live successor. That is a manual
step (regenerate the client secret, revoke the app's tokens), never "already revoked".

Signing secrets, client secrets and app-level tokens (``xapp-``) have no API: they become
``ManualRequired`` with the exact clicks and https://api.slack.com/apps. Classic (non-rotating)
bot and user tokens cannot be re-issued by API either: rotating one means reinstalling the app.

Config, the ``[providers.slack]`` table of clawback.toml (every key optional)::

    base_url = "https://slack.com/api"
    timeout_seconds = 10
    connect_timeout_seconds = 3
    store_name = "slack/{target}"          # where new tokens go through the SecretStore
    apps = [{client_id = "123.456", client_secret = "keyring:clawback/slack-client-secret",
             refresh_token = "keyring:clawback/slack/apps/123.456/refresh_token"}]

``refresh_token`` (optional) lets ``rotate`` replace the app's rotating access token; pointing it
at ``keyring:clawback/slack/apps/<client_id>/refresh_token`` makes each refresh update it in place.

Errors become outcomes: HTTP 429 or ``ratelimited`` → ``Failed(retryable=True)`` with
``retry_after`` from ``Retry-After``; 5xx, timeouts, refused connections and Slack's own
``request_timeout``/``fatal_error`` → retryable; scope and permission errors → advice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from responders.http_answers import CallFailed, JsonObjectAnswer, ProviderAnswers
from responders.interface import (
    AlreadyRevoked,
    Capability,
    ConfigSetting,
    Credential,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    PreflightCheck,
    ProviderSetup,
    RateLimit,
    ResponderContext,
    ResponderError,
    Revoked,
    Rotated,
    SecretStore,
    SecretValue,
    Skipped,
    Unproven,
    VerifiedDead,
    handed_over,
)
from responders.provider_responder import (
    KEY_CAPABILITIES,
    HttpProviderResponder,
    describe_store_error,
    kind_by_prefix,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    validate_table,
)

KIND_BOT = "slack:bot_token"
KIND_USER = "slack:user_token"
KIND_APP = "slack:app_token"
KIND_REFRESH = "slack:refresh_token"
KIND_SIGNING_SECRET = "slack:signing_secret"
KIND_CLIENT_SECRET = "slack:client_secret"

# Longest prefix first: a rotating access token starts with "xoxe." and a refresh token "xoxe-".
TOKEN_PREFIXES = (
    ("xoxe.xoxb-", KIND_BOT),
    ("xoxe.xoxp-", KIND_USER),
    ("xoxe-", KIND_REFRESH),
    ("xoxb-", KIND_BOT),
    ("xoxp-", KIND_USER),
    ("xapp-", KIND_APP),
)
API_TOKENS = frozenset({KIND_BOT, KIND_USER})
APPS_URL = "https://api.slack.com/apps"

# What Slack answers for a token that no longer works, and nothing else.
DEAD_TOKEN_ERRORS = frozenset({"token_revoked", "token_expired", "account_inactive"})
# "The provided token is invalid or the request originates from an IP address disallowed".
AMBIGUOUS_AUTH_ERRORS = frozenset({"invalid_auth"})
ALLOW_LIST_CHECK = (
    "whether the app restricts API token usage to IP ranges (api.slack.com/apps → the app → "
    "OAuth & Permissions → Restrict API Token Usage): if it does, call auth.test with the token "
    "from an allowed address, or revoke the app's tokens there"
)
_TRANSIENT_ERRORS = frozenset(
    {"request_timeout", "fatal_error", "internal_error", "service_unavailable"}
)
_PERMISSION_ERRORS = frozenset(
    {"missing_scope", "no_permission", "not_allowed_token_type", "ekm_access_denied"}
)

_MANUAL_STEPS = {
    KIND_APP: (
        "Slack has no API that revokes an app-level token. Open {url}, pick the app, go to "
        "Basic Information → App-Level Tokens, click the token and choose Revoke; then "
        "Generate Token and Scopes with the same scopes (connections:write for Socket Mode) "
        "and give the agent the new xapp- token. The old one is {fp}."
    ),
    KIND_SIGNING_SECRET: (
        "Slack has no API that regenerates a signing secret. Open {url}, pick the app, go to "
        "Basic Information → App Credentials → Signing Secret and click Regenerate; then "
        "update every receiver that verifies Slack's requests. The old secret is {fp}."
    ),
    KIND_CLIENT_SECRET: (
        "Slack has no API that regenerates a client secret. Open {url}, pick the app, go to "
        "Basic Information → App Credentials → Client Secret and click Regenerate; then update "
        "the OAuth configuration (and clawback's apps table). The old secret is {fp}."
    ),
}


@dataclass(frozen=True)
class SlackApp:
    client_id: str
    client_secret: str  # reference
    refresh_token: str | None = None  # reference

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


@dataclass(frozen=True)
class SlackSettings:
    """The validated ``[providers.slack]`` table (see the module docstring)."""

    base_url: str = "https://slack.com/api"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    store_name: str = "slack/{target}"
    apps: tuple[SlackApp, ...] = ()

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> SlackSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(SlackSettings, raw, "slack")
    for app in settings.apps:
        where = f"apps.{app.client_id}"
        require_references(
            "slack",
            [
                (f"{where}.client_secret", app.client_secret),
                (f"{where}.refresh_token", app.refresh_token),
            ],
        )
    require_positive_timeouts("slack", settings.timeout_seconds, settings.connect_timeout_seconds)
    return settings


def token_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, TOKEN_PREFIXES)


def is_rotating(cred: Credential) -> bool:
    """An expiring access token of an app with token rotation switched on."""
    return cred.secret is not None and cred.secret.reveal().startswith("xoxe.")


# -- turning answers into outcomes -------------------------------------------------------------


_ANSWERS = ProviderAnswers(provider="Slack")


@dataclass(frozen=True)
class _Answer(JsonObjectAnswer):
    """A Web API answer: whether it worked is in the body (``ok``, ``error``), not the status."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body.get("ok") is True

    @property
    def error(self) -> str:
        return str(self.body.get("error") or "")


def failure_for_answer(answer: _Answer, action: str, advice: str = "") -> Failed:
    """The outcome for an answer that is neither success nor a dead token."""
    facts = {"endpoint": action, "http_status": answer.status}
    if answer.error:
        facts["slack_error"] = answer.error
    if answer.status == 429 or answer.error == "ratelimited":
        return _ANSWERS.rate_limit_failure(action, answer.status, answer.headers, facts)
    if answer.status >= 500 or answer.error in _TRANSIENT_ERRORS:
        return Failed(
            error=f"{action}: Slack answered HTTP {answer.status}"
            + (f" ({answer.error})" if answer.error else ""),
            retryable=True,
            facts=facts,
        )
    if answer.error in _PERMISSION_ERRORS:
        needed = answer.body.get("needed")
        return Failed(
            error=f"{action}: Slack refused ({answer.error})"
            + (f"; the token needs the {needed} scope" if needed else "")
            + (f"; {advice}" if advice else ""),
            facts=facts,
        )
    if answer.error:
        return Failed(
            error=f"{action}: Slack refused ({answer.error})" + (f"; {advice}" if advice else ""),
            facts=facts,
        )
    return Failed(error=f"{action}: Slack answered HTTP {answer.status}", facts=facts)


def _unproven_auth(
    cred: Credential, method: str, facts: Mapping[str, Any], error: str
) -> Unproven:
    return Unproven(
        reason=f"Slack answered {method} with {error}, which it also answers to a live token "
        "used from an IP address outside the app's allow-list",
        check=f"{ALLOW_LIST_CHECK} ({cred.fingerprint})",
        url=APPS_URL,
        facts={**facts, "slack_error": error},
    )


@dataclass(frozen=True)
class _Exchange:
    """A successful refresh: the new pair, already stored."""

    app: SlackApp
    access: SecretValue
    access_reference: str
    refresh_reference: str
    expires_in: int | None


class SlackResponder(HttpProviderResponder[SlackSettings]):
    """Revokes, refreshes and verifies Slack tokens; see the module docstring."""

    name: ClassVar[str] = "slack"
    display_name: ClassVar[str] = "Slack"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"slack"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES
    # docs.slack.dev/reference/methods/auth.revoke: Web API Tier 3, "50+ per minute" per
    # method per workspace per app.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=50, requests=50, per_seconds=60, source="Slack auth.revoke: Tier 3, 50+/min"
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("apps", [], "for apps with token rotation: {client_id, "
                              "client_secret = \"keyring:...\", refresh_token = "
                              "\"keyring:...\"}", optional=True),
            ),
            permissions=(
                "none for revoking: auth.revoke takes the token itself",
                "an app's client secret and refresh token to rotate its tokens",
            ),
            console="https://api.slack.com/apps",
            note="a signing secret is regenerated in the app's settings, by hand",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        # Refresh tokens exchanged by revoke(): rotate() must not exchange them a second time.
        self._exchanged: dict[str, _Exchange] = {}

    # -- configuration and client -------------------------------------------------------------

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _call(
        self,
        method: str,
        *,
        token: SecretValue | None = None,
        form: Mapping[str, str] | None = None,
    ) -> _Answer:
        """One Web API call: a POST, with the token (if any) in the Authorization header and
        the arguments (if any) as a form."""
        if form is None:
            return _Answer.of(self._request("POST", f"/{method}", method, key=token))
        return _Answer.of(self._request("POST", f"/{method}", method, key=token, data=dict(form)))

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        apps = self.settings.apps
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            kind = token_kind(cred)
            if kind in API_TOKENS and cred.secret is not None:
                planned = Planned(
                    action="revoke",
                    detail=f"{kind} {cred.fingerprint}",
                    commands=("POST auth.revoke (authorized by the token itself)",),
                )
            elif kind == KIND_REFRESH and cred.secret is not None and apps:
                planned = Planned(
                    action="rotate",
                    detail=f"{kind} {cred.fingerprint}: exchanged, which revokes it",
                    commands=(
                        *(
                            f"POST oauth.v2.access grant_type=refresh_token (app {a.client_id})"
                            for a in apps
                        ),
                        "store the new access and refresh tokens",
                    ),
                )
            else:
                planned = Planned(
                    action="manual", detail=f"{cred.kind} {cred.fingerprint}: by hand"
                )
            out.append((cred, planned))
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        try:
            _ = self.settings  # a broken config is reported before anything else
            kind = token_kind(cred)
            if kind in API_TOKENS:
                return self._revoke_token(cred)
            if kind == KIND_REFRESH:
                return self._exchange_refresh_token(cred, self._store())
            return self._manual(cred, kind)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _revoke_token(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return ManualRequired(
                instructions=f"The value of Slack token {cred.fingerprint} is not known: open "
                f"{APPS_URL}, pick the app, and under OAuth & Permissions revoke its tokens.",
                url=APPS_URL,
            )
        answer = self._call("auth.revoke", token=cred.secret)
        facts: dict[str, Any] = {"endpoint": "auth.revoke", "http_status": answer.status}
        if answer.ok and answer.body.get("revoked") is True:
            return Revoked(detail="Slack revoked the token", facts={**facts, "revoked": True})
        if answer.ok:
            return Failed(
                error="Slack answered auth.revoke without revoking the token", facts=facts
            )
        if answer.status == 200 and answer.error in DEAD_TOKEN_ERRORS:
            return AlreadyRevoked(
                detail=f"Slack already rejects this token ({answer.error})",
                facts={**facts, "slack_error": answer.error},
            )
        if answer.status == 200 and answer.error in AMBIGUOUS_AUTH_ERRORS:
            return _unproven_auth(cred, "auth.revoke", facts, answer.error)
        return failure_for_answer(answer, "auth.revoke")

    def _manual(self, cred: Credential, kind: str) -> Outcome:
        template = _MANUAL_STEPS.get(kind)
        if template is None:
            return ManualRequired(
                instructions=f"clawback cannot revoke the Slack {cred.kind} {cred.fingerprint}: "
                f"open {APPS_URL}, find the app it belongs to, and reset it there.",
                url=APPS_URL,
            )
        return ManualRequired(
            instructions=template.format(url=APPS_URL, fp=cred.fingerprint), url=APPS_URL
        )

    # -- token rotation -----------------------------------------------------------------------

    def _exchange_refresh_token(self, cred: Credential, store: SecretStore) -> Outcome:
        """Exchange a leaked refresh token: Slack revokes it and returns a new, stored pair."""
        if cred.secret is None or not self.settings.apps:
            return ManualRequired(
                instructions=(
                    f"The Slack refresh token {cred.fingerprint} is useless without its app's "
                    f"client secret. If the agent could read that secret too, open {APPS_URL}, "
                    "pick the app, and under Basic Information → App Credentials regenerate the "
                    "Client Secret. To have clawback exchange (and so revoke) refresh tokens, list "
                    "the app under apps in [providers.slack]."
                ),
                url=APPS_URL,
            )
        with self._lock:
            done = self._exchanged.get(cred.fingerprint)
        if done is not None:
            return self._rotated(done, "already exchanged in this run")
        rejected: list[str] = []
        for app in self.settings.apps:
            exchanged = self._refresh(app, cred.secret, store)
            if isinstance(exchanged, _Exchange):
                with self._lock:
                    self._exchanged[cred.fingerprint] = exchanged
                return self._rotated(
                    exchanged, f"exchanged through app {app.client_id}; Slack revoked the old one"
                )
            if exchanged.facts.get("slack_error") != "invalid_refresh_token":
                return exchanged
            rejected.append(app.client_id)
        return ManualRequired(
            instructions=(
                f"Every configured Slack app answers invalid_refresh_token for {cred.fingerprint}"
                f" ({', '.join(rejected)}): Slack revokes a refresh token once it is exchanged, "
                "so someone already exchanged it and holds its live successor (the agent's own "
                "rotation, or whoever stole it). Open "
                f"{APPS_URL}, pick the app, regenerate the Client Secret under Basic "
                "Information → App Credentials (so the successor cannot be refreshed again), "
                "then revoke the app's tokens under OAuth & Permissions or reinstall it."
            ),
            url=APPS_URL,
            facts={"endpoint": "oauth.v2.access", "apps": rejected,
                   "slack_error": "invalid_refresh_token", "successor": "live, not revoked"},
        )

    def _refresh(
        self, app: SlackApp, refresh_token: SecretValue, store: SecretStore
    ) -> _Exchange | Failed:
        """oauth.v2.access with grant_type=refresh_token; the new pair goes to ``store`` at once."""
        client_secret = self._store().resolve(app.client_secret)
        answer = self._call(
            "oauth.v2.access",
            form={
                "client_id": app.client_id,
                "client_secret": client_secret.reveal(),
                "grant_type": "refresh_token",
                "refresh_token": refresh_token.reveal(),
            },
        )
        if not answer.ok:
            return failure_for_answer(
                answer,
                "oauth.v2.access",
                "check the app's client_id and client_secret in [providers.slack]"
                if answer.error in ("invalid_client_id", "bad_client_secret")
                else "",
            )
        access = str(answer.body.get("access_token") or "")
        refresh = str(answer.body.get("refresh_token") or "")
        if not access or not refresh:
            return Failed(
                error="oauth.v2.access answered ok without a new access and refresh token",
                facts={"endpoint": "oauth.v2.access"},
            )
        new_access, new_refresh = SecretValue(access), SecretValue(refresh)
        # Slack has already revoked the old refresh token: the new pair must be stored now, or
        # the app is locked out. If that fails, the new access token is revoked (nothing live is
        # left without a home) and the operator reinstalls the app.
        names = [
            self.settings.store_name.format(target=f"apps/{app.client_id}/{what}")
            for what in ("access_token", "refresh_token")
        ]
        try:
            access_reference = store.store(names[0], new_access)
            refresh_reference = store.store(names[1], new_refresh)
        except Exception as exc:
            try:
                withdrawn = self._call("auth.revoke", token=new_access).ok
            except CallFailed:
                withdrawn = False
            raise CallFailed(
                0,
                Failed(
                    error="storing the new Slack tokens failed "
                    f"({describe_store_error(exc)}); the new access token was "
                    f"{'revoked' if withdrawn else 'NOT revoked'}: reinstall the app at {APPS_URL}",
                    facts={"endpoint": "oauth.v2.access", "stage": "store"},
                ),
            ) from None
        expires = answer.body.get("expires_in")
        return _Exchange(
            app=app,
            access=new_access,
            access_reference=access_reference,
            refresh_reference=refresh_reference,
            expires_in=int(expires) if isinstance(expires, int | float) else None,
        )

    def _rotated(self, exchange: _Exchange, detail: str) -> Rotated:
        return Rotated(
            detail=detail,
            facts={
                "endpoint": "oauth.v2.access",
                "client_id": exchange.app.client_id,
                "refresh_reference": exchange.refresh_reference,
                **({"expires_in": exchange.expires_in} if exchange.expires_in else {}),
            },
            new_fingerprint=exchange.access.fingerprint,
            new_reference=exchange.access_reference,
        )

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → test → retire: a new rotating access token from the app's stored
        refresh token, tested with auth.test, then the old token revoked (and the new one tested
        again, in case Slack tied them). Everything else has no API and is a manual step."""
        kind = token_kind(cred)
        try:
            if kind == KIND_REFRESH:
                with self._lock:
                    done = self._exchanged.get(cred.fingerprint)
                if done is not None:
                    return Skipped(
                        reason=f"exchanged when it was revoked; the new tokens are at "
                        f"{done.access_reference} and {done.refresh_reference}"
                    )
                return self._exchange_refresh_token(cred, store)
            if kind in API_TOKENS:
                return self._rotate_access_token(cred, store)
            return self._manual(cred, kind)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _rotate_access_token(self, cred: Credential, store: SecretStore) -> Outcome:
        refreshable = [a for a in self.settings.apps if a.refresh_token]
        if not is_rotating(cred) or len(refreshable) != 1:
            reason = (
                "it does not expire (token rotation is off for its app)"
                if not is_rotating(cred)
                else "no single app in [providers.slack] names its refresh_token"
            )
            return ManualRequired(
                instructions=(
                    f"Slack cannot issue a replacement for {cred.fingerprint} by API: {reason}. "
                    f"Open {APPS_URL}, pick the app, go to OAuth & Permissions and click "
                    "Reinstall to Workspace; give the agent the new token."
                ),
                url=APPS_URL,
            )
        (app,) = refreshable
        assert app.refresh_token is not None
        exchanged = self._refresh(app, self._store().resolve(app.refresh_token), store)
        if isinstance(exchanged, Failed):
            return exchanged
        facts = {"stage": "test", "refresh_reference": exchanged.refresh_reference}
        tested = self._call("auth.test", token=exchanged.access)
        if not tested.ok:
            return Failed(
                error=f"the new token is stored at {exchanged.access_reference} but auth.test "
                f"with it failed ({tested.error or tested.status})",
                facts=facts,
            )
        assert cred.secret is not None
        kept = handed_over(store, facts, "the old token stays")
        if kept is not None:
            return kept
        retired = self._call("auth.revoke", token=cred.secret)
        if not retired.ok and retired.error not in DEAD_TOKEN_ERRORS:
            # invalid_auth included: it may be an allow-listed address, not a dead token.
            failed = failure_for_answer(retired, "auth.revoke")
            return replace(
                failed,
                error=f"the new token is stored at {exchanged.access_reference} and works, but "
                f"revoking the old one failed: {failed.error}",
                facts=facts,
            )
        facts.update(stage="finish", old_token="revoked" if retired.ok else retired.error)
        still = self._call("auth.test", token=exchanged.access)
        if not still.ok:
            return Failed(
                error="revoking the old token also ended the new one "
                f"({still.error or still.status}): reinstall the app at {APPS_URL}",
                facts=facts,
            )
        rotated = self._rotated(
            exchanged, f"new access token from app {app.client_id}, tested; the old one revoked"
        )
        return Rotated(
            detail=rotated.detail,
            facts={**rotated.facts, **facts},
            new_fingerprint=rotated.new_fingerprint,
            new_reference=rotated.new_reference,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """auth.test with the old token: ``token_revoked`` (or ``account_inactive``,
        ``token_expired``) means dead; ``invalid_auth`` is Unproven (see the module docstring)."""
        kind = token_kind(cred)
        if kind == KIND_REFRESH:
            return Skipped(
                reason="a refresh token cannot call the API, and trying it would rotate it"
            )
        if kind not in API_TOKENS:
            return Skipped(reason=f"Slack offers no call that proves a {cred.kind} is dead")
        if cred.secret is None:
            return Skipped(reason="the token's value is unknown, so it cannot be tried")
        try:
            answer = self._call("auth.test", token=cred.secret)
        except CallFailed as err:
            return err.failed
        facts = {"checked_with": "auth.test", "http_status": answer.status}
        if answer.status == 200 and answer.error in DEAD_TOKEN_ERRORS:
            return VerifiedDead(
                detail=f"Slack rejects the token ({answer.error})",
                facts={**facts, "slack_error": answer.error},
            )
        if answer.status == 200 and answer.error in AMBIGUOUS_AUTH_ERRORS:
            return _unproven_auth(cred, "auth.test", facts, answer.error)
        if answer.ok:
            return Failed(error="Slack still accepts the token (auth.test ok)", facts=facts)
        return failure_for_answer(answer, "auth.test")

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Every configured app's references resolve. Slack has no harmless call that proves a
        client secret or a refresh token (trying the refresh token would rotate it)."""
        try:
            apps = self.settings.apps
            store = self._store() if apps else None
        except ResponderError as exc:
            return [PreflightCheck("slack", "config", False, detail=str(exc))]
        checks: list[PreflightCheck] = []
        for app in apps:
            assert store is not None
            for what, reference in (
                ("client_secret", app.client_secret),
                ("refresh_token", app.refresh_token),
            ):
                if reference is None:
                    continue
                try:
                    store.resolve(reference)
                except ResponderError as exc:
                    checks.append(
                        PreflightCheck(
                            "slack",
                            f"app {app.client_id}",
                            False,
                            detail=str(exc),
                            missing_permission=what,
                        )
                    )
                    break
            else:
                checks.append(
                    PreflightCheck(
                        "slack", f"app {app.client_id}", True, detail="references resolve"
                    )
                )
        return checks

"""GitHub responder: tokens, deploy keys, user SSH keys, webhook secrets and Actions secrets.

Tokens (``ghp_``, ``github_pat_``, ``gho_``, ``ghu_``, ``ghr_``) die through
``POST /credentials/revoke``, which takes up to 1000 token strings per call, works without knowing
whose they are, and must be sent *without* authentication (an authenticated call gets 403). It
allows 60 calls an hour, so ``revoke_all`` batches every token into as few calls as possible and
first drops tokens GitHub already rejects (``GET /user`` → 401: ``AlreadyRevoked``, which keeps
re-runs from spending the budget). ``gho_``/``ghu_`` tokens of a configured OAuth app are revoked
synchronously through ``DELETE /applications/{client_id}/token`` instead. Installation tokens
(``ghs_``) revoke themselves with ``DELETE /installation/token``. Deploy keys and user SSH keys
are deleted; webhook secrets are replaced; Actions secrets are re-written.

Config, the ``[providers.github]`` table of clawback.toml (every key optional)::

    base_url = "https://api.github.com"    # GitHub Enterprise: https://HOST/api/v3
    token = "keyring:clawback/github-admin"  # admin token (reference) for keys, hooks, secrets
    accept = "application/vnd.github+json"
    api_version = "2022-11-28"             # X-GitHub-Api-Version; "" to leave it out
    extra_headers = {}                     # sent with every request (tests: Prism's Prefer)
    timeout_seconds = 10
    connect_timeout_seconds = 3
    check_before_revoke = true             # GET /user with each token first; 401 = already dead
    store_name = "github/{target}"         # where new secrets go through the SecretStore
    repos = ["owner/name"]                 # searched for deploy keys matching ssh_public_keys
    ssh_public_keys = ["ssh-ed25519 AAAA… agent@host"]  # keys the agent held
    deploy_keys = [{repo = "owner/name", id = 12}]
    user_ssh_keys = [34]                   # ids of the admin user's SSH keys the agent added
    webhooks = [{repo = "owner/name", id = 5}]
    actions_secrets = [{repo = "owner/name", name = "AWS_KEY", value = "keyring:clawback/aws"}]
    oauth_apps = [{client_id = "Iv1.x", client_secret = "keyring:clawback/oauth-app"}]

``configured_targets()`` turns the config into credentials (no request): ``github:deploy_key``
(``owner/name/keys/ID``), ``github:ssh_key`` (``user/keys/ID``), ``github:ssh_public_key`` (every
deploy key in ``repos`` and user key carrying it), ``github:webhook_secret``
(``owner/name/hooks/ID``) and ``github:actions_secret`` (``owner/name/actions/secrets/NAME``).

Errors become outcomes: 5xx, timeouts and refused connections → ``Failed(retryable=True)``;
429, or 403 with the rate limit exhausted → retryable with ``retry_after`` from ``Retry-After`` or
``x-ratelimit-reset``; 401/403 → advice; 422 → not retryable. A 404 for a deploy key proves
nothing by itself: GitHub answers 404 for a private repository the token cannot see
(https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api). The key is
gone only when GitHub's own list of the repository's deploy keys, read with the same token,
answers and leaves it out; a 404 for that list too is ``Unproven``, with the token's access to
check. A token is dead when ``GET /user`` with it answers 401 ("Bad credentials"). Listings are
paged to the end; one that repeats itself is an "incomplete listing" failure, never a silent cap.
An OAuth token clawback revoked (or GitHub already rejects) is not "reset" afterwards: a new one
comes from the agent authorizing the app again.
Nothing retries inside the responder: the engine's runner does, with backoff.

PyGithub serves the calls it has (deploy keys, user keys, Actions secrets, whose sealed-box
encryption it does); httpx serves the rest, including every call that carries a secret in its body,
because PyGithub logs request bodies at DEBUG.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets as token_source
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from responders.http_answers import CallFailed, ProviderAnswers, header
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
    admin_reference,
    fingerprint,
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

if TYPE_CHECKING:
    from github import Github

KIND_PAT = "github:pat"
KIND_FINE_GRAINED_PAT = "github:fine_grained_pat"
KIND_OAUTH = "github:oauth"
KIND_USER_TO_SERVER = "github:user_to_server"
KIND_REFRESH = "github:refresh"
KIND_INSTALLATION = "github:installation"
KIND_DEPLOY_KEY = "github:deploy_key"
KIND_SSH_KEY = "github:ssh_key"
KIND_SSH_PUBLIC_KEY = "github:ssh_public_key"
KIND_WEBHOOK_SECRET = "github:webhook_secret"
KIND_ACTIONS_SECRET = "github:actions_secret"

TOKEN_PREFIXES = {
    "github_pat_": KIND_FINE_GRAINED_PAT,
    "ghp_": KIND_PAT,
    "gho_": KIND_OAUTH,
    "ghu_": KIND_USER_TO_SERVER,
    "ghr_": KIND_REFRESH,
    "ghs_": KIND_INSTALLATION,
}
# What POST /credentials/revoke accepts (not installation tokens, not SSH keys).
BATCH_REVOCABLE = frozenset(
    {KIND_PAT, KIND_FINE_GRAINED_PAT, KIND_OAUTH, KIND_USER_TO_SERVER, KIND_REFRESH}
)
APP_REVOCABLE = frozenset({KIND_OAUTH, KIND_USER_TO_SERVER})
MAX_BATCH = 1000
_PAGE_SIZE = 100

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str  # reference

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


@dataclass(frozen=True)
class RepoItem:
    repo: str
    id: int

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


@dataclass(frozen=True)
class ActionsSecret:
    repo: str
    name: str
    value: str  # reference

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


@dataclass(frozen=True)
class GitHubSettings:
    """The validated ``[providers.github]`` table (see the module docstring)."""

    base_url: str = "https://api.github.com"
    token: str | None = None
    accept: str = "application/vnd.github+json"
    api_version: str = "2022-11-28"
    extra_headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    check_before_revoke: bool = True
    store_name: str = "github/{target}"
    repos: tuple[str, ...] = ()
    ssh_public_keys: tuple[str, ...] = ()
    deploy_keys: tuple[RepoItem, ...] = ()
    user_ssh_keys: tuple[int, ...] = ()
    webhooks: tuple[RepoItem, ...] = ()
    actions_secrets: tuple[ActionsSecret, ...] = ()
    oauth_apps: tuple[OAuthApp, ...] = ()

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> GitHubSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(GitHubSettings, raw, "github")
    references = [("token", settings.token)]
    references += [(f"oauth_apps.{a.client_id}", a.client_secret) for a in settings.oauth_apps]
    references += [(f"actions_secrets.{s.name}", s.value) for s in settings.actions_secrets]
    require_references("github", references, spaces_allowed=False)
    repos = [*settings.repos, *(i.repo for i in (*settings.deploy_keys, *settings.webhooks))]
    repos += [s.repo for s in settings.actions_secrets]
    for repo in repos:
        if not _REPO.match(repo):
            raise ResponderError(f"[providers.github] {repo!r} is not an owner/name repository")
    require_positive_timeouts("github", settings.timeout_seconds, settings.connect_timeout_seconds)
    return settings


def token_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, TOKEN_PREFIXES.items())


# -- turning answers into outcomes -------------------------------------------------------------


_ANSWERS = ProviderAnswers(
    provider="GitHub",
    rate_limit="rate limit is exhausted (HTTP {status})",
    wait="it resets in",
    rejected="expired, revoked or wrong; check its reference in [providers.github]",
    invalid="refused the request as invalid (422)",
    github_rate_limit=True,
)


def failure_for_transport(exc: Exception, action: str) -> Failed | None:
    """A timeout or connection problem from httpx or requests (PyGithub), else None."""
    failed = _ANSWERS.failure_for_transport(exc, action)
    if failed is not None:
        return failed
    import requests

    if isinstance(exc, requests.Timeout):
        return Failed(error=f"{action}: GitHub did not answer in time", retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return Failed(error=f"{action}: cannot reach GitHub ({type(exc).__name__})", retryable=True)
    return None


def ssh_key_id(public_key: str) -> str:
    """OpenSSH's ``SHA256:…`` fingerprint of a public key line (type, base64 blob, comment)."""
    parts = public_key.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, ValueError):
        return fingerprint(public_key)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _same_key(a: str, b: str) -> bool:
    return a.split()[:2] == b.split()[:2]


def _split_id(cred: Credential, marker: str) -> tuple[str, str]:
    """``owner/name/<marker>/ID`` → (``owner/name``, ``ID``)."""
    head, _, tail = (cred.key_id or "").rpartition(f"/{marker}/")
    return head, tail


class GitHubResponder(HttpProviderResponder[GitHubSettings]):
    """Revokes, rotates and verifies GitHub credentials; see the module docstring."""

    name: ClassVar[str] = "github"
    display_name: ClassVar[str] = "GitHub"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"github"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES
    # docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api (secondary rate
    # limits): no more than 100 concurrent requests, and 900 points a minute per endpoint, where
    # a POST, PATCH, PUT or DELETE costs 5 points: 180 writes a minute.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=100, requests=180, per_seconds=60,
        source="GitHub secondary rate limits: 100 concurrent, 900 points/min, 5 per write",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("token", admin_reference("github"),
                              "only for deploy keys, webhooks and Actions secrets: tokens die "
                              "through /credentials/revoke, which needs no credential"),
                ConfigSetting("repos", ["owner/name"],
                              "searched for deploy keys matching ssh_public_keys",
                              optional=True),
            ),
            permissions=(
                "a valid token (GET /user)", "admin rights on the repositories in repos",
                "admin:public_key (user SSH keys)", "admin:repo_hook (webhook secrets)",
                "Secrets write (Actions secrets)",
            ),
            console="https://github.com/settings/tokens",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._pygithub: Github | None = None
        # Tokens revoked in this run: an OAuth token among them is not reset afterwards.
        self._revoked_tokens: set[str] = set()

    # -- configuration and clients ------------------------------------------------------------

    def configured_targets(self) -> list[Credential]:
        """The config's keys, hooks and Actions secrets as credentials; sends no request."""
        s = self.settings
        out = [_target(KIND_DEPLOY_KEY, f"{k.repo}/keys/{k.id}") for k in s.deploy_keys]
        out += [_target(KIND_SSH_KEY, f"user/keys/{key_id}") for key_id in s.user_ssh_keys]
        out += [
            Credential(
                provider="github",
                kind=KIND_SSH_PUBLIC_KEY,
                fingerprint=ssh_key_id(key),
                key_id=ssh_key_id(key),
            )
            for key in s.ssh_public_keys
        ]
        out += [_target(KIND_WEBHOOK_SECRET, f"{h.repo}/hooks/{h.id}") for h in s.webhooks]
        out += [
            _target(KIND_ACTIONS_SECRET, f"{a.repo}/actions/secrets/{a.name}")
            for a in s.actions_secrets
        ]
        return out

    def _admin_token(self) -> SecretValue:
        if not self.settings.token:
            raise ResponderError(
                'this needs an admin token: set token = "keyring:SERVICE/USER" in '
                "[providers.github] (a classic token with repo and admin:public_key scopes, or a "
                "fine-grained token with Administration and Secrets write on the repos)"
            )
        return self._store().resolve(self.settings.token)

    def client_headers(self) -> dict[str, str]:
        s = self.settings
        headers = {"Accept": s.accept, "User-Agent": "clawback"}
        if s.api_version:
            headers["X-GitHub-Api-Version"] = s.api_version
        headers.update(s.extra_headers)
        return headers

    def _github(self) -> Github:
        """PyGithub, authenticated with the admin token, its own retries and pacing off."""
        with self._lock:
            if self._pygithub is None:
                from github import Auth, Github

                extra = {k: v for k, v in self.client_headers().items() if k != "User-Agent"}

                class TokenWithHeaders(Auth.Token):
                    # PyGithub has no per-client headers; its auth hook is the one place every
                    # request passes through (Prism needs a different Accept, tests a Prefer).
                    def authentication(self, headers: dict[str, str]) -> None:
                        super().authentication(headers)
                        headers.update(extra)

                s = self.settings
                self._pygithub = Github(
                    base_url=s.base_url.rstrip("/"),
                    auth=TokenWithHeaders(self._admin_token().reveal()),
                    # PyGithub insists on whole seconds.
                    timeout=max(1, math.ceil(s.timeout_seconds)),
                    retry=None,
                    seconds_between_requests=None,
                    seconds_between_writes=None,
                    user_agent="clawback",
                    lazy=True,
                )
            return self._pygithub

    def auth_headers(self, key: SecretValue) -> dict[str, str]:
        return {"Authorization": f"token {key.reveal()}"}

    def _pygithub_call(self, action: str, advice: str, call: Callable[[], Any]) -> Any:
        from github import GithubException

        try:
            return call()
        except GithubException as exc:
            raise CallFailed(
                exc.status,
                _ANSWERS.failure_for_status(exc.status, exc.headers or {}, action, advice),
            ) from None
        except Exception as exc:
            failed = failure_for_transport(exc, action)
            if failed is None:
                raise
            raise CallFailed(0, failed) from None

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke_all would send, from the config alone: no request is made."""
        s = self.settings
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            kind = token_kind(cred)
            if kind in BATCH_REVOCABLE:
                commands = (
                    *(("GET /user (401: already revoked)",) if self._prechecks(kind) else ()),
                    *(
                        f"DELETE /applications/{app.client_id}/token"
                        for app in (s.oauth_apps if kind in APP_REVOCABLE else ())
                    ),
                    "POST /credentials/revoke (unauthenticated, batched)",
                )
            elif kind == KIND_INSTALLATION:
                commands = ("DELETE /installation/token (as the token itself)",)
            elif kind == KIND_DEPLOY_KEY:
                repo, key_id = _split_id(cred, "keys")
                commands = (f"DELETE /repos/{repo}/keys/{key_id}",)
            elif kind == KIND_SSH_KEY:
                commands = (f"DELETE /user/keys/{_split_id(cred, 'keys')[1]}",)
            elif kind == KIND_SSH_PUBLIC_KEY:
                commands = (
                    *(f"GET /repos/{repo}/keys, DELETE matches" for repo in s.repos),
                    "GET /user/keys, DELETE matches",
                )
            elif kind == KIND_WEBHOOK_SECRET:
                repo, hook = _split_id(cred, "hooks")
                commands = (f"PATCH /repos/{repo}/hooks/{hook}/config (new secret, stored first)",)
            elif kind == KIND_ACTIONS_SECRET:
                repo, name = _split_id(cred, "actions/secrets")
                commands = (
                    f"GET /repos/{repo}/actions/secrets/public-key",
                    f"PUT /repos/{repo}/actions/secrets/{name}",
                )
            else:
                out.append((cred, Planned(action="manual", detail=f"{cred.kind}: by hand")))
                continue
            out.append(
                (
                    cred,
                    Planned(
                        action="revoke", commands=commands, detail=f"{kind} {cred.fingerprint}"
                    ),
                )
            )
        return out

    def _prechecks(self, kind: str) -> bool:
        # Refresh tokens cannot call the API, so there is nothing to ask about them.
        return self.settings.check_before_revoke and kind != KIND_REFRESH

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        return self.revoke_all([cred])[0][1]

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """Batch every token through /credentials/revoke; act on everything else at once."""
        if (broken := self._config_failures(creds)) is not None:
            return broken
        tokens = [i for i, c in enumerate(creds) if token_kind(c) in BATCH_REVOCABLE]
        # Tokens first: they are what an attacker uses fastest.
        outcomes = self._revoke_tokens({i: creds[i] for i in tokens})
        others = [i for i in range(len(creds)) if i not in outcomes]
        for i, outcome in zip(
            others, self._fan(lambda i: self._revoke_one(creds[i]), others), strict=True
        ):
            outcomes[i] = outcome
        return [(cred, outcomes[i]) for i, cred in enumerate(creds)]

    def _revoke_tokens(self, tokens: dict[int, Credential]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        missing = [i for i, c in tokens.items() if c.secret is None]
        for i in missing:
            outcomes[i] = ManualRequired(
                instructions=f"The value of GitHub token {tokens[i].fingerprint} is not known: "
                "revoke it under Settings → Developer settings.",
                url="https://github.com/settings/tokens",
            )
        pending = [i for i in tokens if i not in outcomes]

        checked = [i for i in pending if self._prechecks(token_kind(tokens[i]))]
        for i, outcome in zip(
            checked, self._fan(lambda i: self._already_dead(tokens[i]), checked), strict=True
        ):
            if isinstance(outcome, AlreadyRevoked):  # anything else: revoke it anyway
                outcomes[i] = outcome
        pending = [i for i in pending if i not in outcomes]

        if self.settings.oauth_apps:
            by_app = [i for i in pending if token_kind(tokens[i]) in APP_REVOCABLE]
            for i, outcome in zip(
                by_app, self._fan(lambda i: self._revoke_via_app(tokens[i]), by_app), strict=True
            ):
                if isinstance(outcome, Revoked):  # else the batch endpoint still can
                    outcomes[i] = outcome
            pending = [i for i in pending if i not in outcomes]

        stop: Failed | None = None
        for start in range(0, len(pending), MAX_BATCH):
            batch = pending[start : start + MAX_BATCH]
            result = stop or self._revoke_batch([tokens[i] for i in batch])
            if isinstance(result, Failed) and result.retry_after is not None:
                stop = result  # rate limited: the remaining batches would only be refused too
            for i in batch:
                outcomes[i] = result
        with self._lock:
            self._revoked_tokens |= {
                tokens[i].fingerprint for i, o in outcomes.items()
                if isinstance(o, Revoked | AlreadyRevoked)
            }
        return outcomes

    def _already_dead(self, cred: Credential) -> Outcome:
        """AlreadyRevoked if GitHub rejects the token; Skipped (go on and revoke) otherwise."""
        assert cred.secret is not None
        try:
            answer = self._request("GET", "/user", "GET /user", key=cred.secret)
        except CallFailed:
            return Skipped(reason="could not ask; revoke anyway")
        if answer.status == 401:
            return AlreadyRevoked(
                detail="GitHub already rejects this token (GET /user → 401)",
                facts={"checked_with": "GET /user", "http_status": 401},
            )
        return Skipped(reason="still accepted")

    def _revoke_via_app(self, cred: Credential) -> Outcome:
        """DELETE /applications/{client_id}/token for the app the token belongs to, if any."""
        assert cred.secret is not None
        for app in self.settings.oauth_apps:
            secret = self._store().resolve(app.client_secret)
            answer = self._request(
                "DELETE",
                f"/applications/{app.client_id}/token",
                f"DELETE /applications/{app.client_id}/token",
                auth=(app.client_id, secret.reveal()),
                json_body={"access_token": cred.secret.reveal()},
            )
            if answer.status == 204:
                return Revoked(
                    detail=f"revoked through OAuth app {app.client_id}",
                    facts={
                        "endpoint": "DELETE /applications/{client_id}/token",
                        "client_id": app.client_id,
                        "http_status": 204,
                    },
                )
            if answer.status in (404, 422):
                continue  # not this app's token
            if answer.status >= 500 or answer.status == 429:
                return _ANSWERS.failure_for_status(
                    answer.status, answer.headers, f"DELETE /applications/{app.client_id}/token", ""
                )
        return Skipped(reason="no configured OAuth app owns this token")

    def _revoke_batch(self, batch: list[Credential]) -> Outcome:
        action = "POST /credentials/revoke"
        try:
            # No Authorization header: GitHub answers 403 to authenticated calls here.
            answer = self._request(
                "POST",
                "/credentials/revoke",
                action,
                json_body={"credentials": [c.secret.reveal() for c in batch if c.secret]},
            )
        except CallFailed as err:
            return err.failed
        if answer.status == 202:
            return Revoked(
                detail="GitHub accepted the token for revocation (202); verify_revoked confirms",
                facts={"endpoint": action, "http_status": 202, "batch_size": len(batch)},
            )
        return _ANSWERS.failure_for_status(
            answer.status,
            answer.headers,
            action,
            "this endpoint must be called without authentication; check for a proxy adding it",
        )

    def _revoke_one(self, cred: Credential) -> Outcome:
        kind = token_kind(cred)
        if kind == KIND_INSTALLATION:
            return self._revoke_installation_token(cred)
        if kind == KIND_DEPLOY_KEY:
            repo, key_id = _split_id(cred, "keys")
            return self._delete_key(f"/repos/{repo}/keys/{key_id}", f"deploy key {key_id}")
        if kind == KIND_SSH_KEY:
            key_id = _split_id(cred, "keys")[1]
            return self._delete_key(f"/user/keys/{key_id}", f"SSH key {key_id}")
        if kind == KIND_SSH_PUBLIC_KEY:
            return self._revoke_public_key(cred)
        if kind in (KIND_WEBHOOK_SECRET, KIND_ACTIONS_SECRET):
            return self.rotate(cred, self._store())
        return ManualRequired(
            instructions=f"clawback cannot revoke {cred.kind} {cred.fingerprint}: do it in "
            "GitHub's settings.",
            url="https://github.com/settings/security",
        )

    def _revoke_installation_token(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return ManualRequired(
                instructions="the installation token's value is unknown; it "
                "expires within an hour of issue"
            )
        action = "DELETE /installation/token"
        answer = self._request("DELETE", "/installation/token", action, key=cred.secret)
        if answer.status == 204:
            return Revoked(
                detail="the installation token revoked itself",
                facts={"endpoint": action, "http_status": 204},
            )
        if answer.status == 401:
            return AlreadyRevoked(
                detail="GitHub already rejects this installation token",
                facts={"endpoint": action, "http_status": 401},
            )
        return _ANSWERS.failure_for_status(answer.status, answer.headers, action, "")

    def _delete_key(self, path: str, what: str) -> Outcome:
        github = self._github()
        try:
            self._pygithub_call(
                f"DELETE {path}",
                "the admin token needs admin rights on the repository (deploy keys) or the "
                "admin:public_key scope (user keys)",
                lambda: github.requester.requestJsonAndCheck("DELETE", path),
            )
        except CallFailed as err:
            if err.status == 404:
                facts = {"endpoint": f"DELETE {path}", "http_status": 404}
                return self._after_404(path, what, facts, AlreadyRevoked)
            raise
        return Revoked(detail=f"{what} deleted", facts={"endpoint": f"DELETE {path}"})

    def _after_404(
        self, path: str, what: str, facts: dict[str, Any],
        proven: type[AlreadyRevoked] | type[VerifiedDead],
    ) -> Outcome:
        """A 404 for ``…/keys/ID``: GitHub's own key list decides whether the key is gone or
        the repository is out of the token's sight (GitHub answers 404 for both)."""
        listing, key_id = path.rsplit("/", 1)
        try:
            keys = self._list_all(listing, "the admin token cannot list these keys")
        except CallFailed as err:
            if err.status != 404:
                raise
            repo = listing.removeprefix("/repos/").removesuffix("/keys")
            return Unproven(
                reason=f"GitHub answered 404 for {what} and for the list of {repo}'s deploy "
                "keys: it answers 404 for a repository the admin token cannot see, so the key "
                "may well still be there",
                check=f"that the admin token can administer {repo} (admin rights, or a "
                "fine-grained token with Administration access to it) and that its deploy "
                f"keys no longer include {key_id}",
                url=f"https://github.com/{repo}/settings/keys",
                facts={**facts, "listing": f"GET {listing} → 404"},
            )
        if any(str(k.get("id")) == key_id for k in keys):
            return Failed(error=f"GitHub answered 404 for {what} but still lists it",
                          retryable=True, facts=facts)
        return proven(
            detail=f"{what} is gone: 404, and GitHub's list of these keys leaves it out",
            facts={**facts, "listing": f"GET {listing} → {len(keys)} key(s), not it"},
        )

    def _matching_keys(self, public_key: str) -> list[tuple[str, str]]:
        """(delete path, description) of every deploy key in ``repos`` and user key carrying it."""
        advice = "the admin token cannot list keys"
        found: list[tuple[str, str]] = []
        for repo in self.settings.repos:
            found += [
                (f"/repos/{repo}/keys/{k['id']}", f"deploy key {k['id']} of {repo}")
                for k in self._list_all(f"/repos/{repo}/keys", advice)
                if _same_key(str(k.get("key", "")), public_key)
            ]
        found += [
            (f"/user/keys/{k['id']}", f"user SSH key {k['id']}")
            for k in self._list_all("/user/keys", advice)
            if _same_key(str(k.get("key", "")), public_key)
        ]
        return found

    def _list_all(self, path: str, advice: str) -> list[Mapping[str, Any]]:
        """Every item of a listing, paged by number.

        PyGithub's PaginatedList follows the ``Link`` URLs the server sends; paging by number
        keeps every request on ``base_url`` whatever a stand-in (or a proxy) puts in ``Link``.
        """
        github = self._github()
        items: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        page = 0
        while True:
            page += 1
            _, data = self._pygithub_call(
                f"GET {path}",
                advice,
                partial(
                    github.requester.requestJsonAndCheck,
                    "GET",
                    path,
                    parameters={"per_page": _PAGE_SIZE, "page": page},
                ),
            )
            batch = [item for item in data if isinstance(item, Mapping)] if data else []
            ids = {str(item.get("id")) for item in batch}
            if batch and ids <= seen:
                raise CallFailed(200, Failed(
                    error=f"GET {path}: incomplete listing (page {page} repeats earlier "
                    f"items after {len(items)}); nothing was concluded from it",
                    retryable=True,
                ))
            seen |= ids
            items += batch
            if len(batch) < _PAGE_SIZE:
                return items

    def _public_key_of(self, cred: Credential) -> str:
        for key in self.settings.ssh_public_keys:
            if ssh_key_id(key) == cred.key_id:
                return key
        raise ResponderError(f"{cred.key_id} is not among ssh_public_keys in [providers.github]")

    def _revoke_public_key(self, cred: Credential) -> Outcome:
        matches = self._matching_keys(self._public_key_of(cred))
        if not matches:
            return AlreadyRevoked(
                detail="no deploy key or user key carries this public key",
                facts={"searched": [*self.settings.repos, "user"]},
            )
        results = [self._delete_key(path, what) for path, what in matches]
        facts = {"keys": {what: r.name for (_, what), r in zip(matches, results, strict=True)}}
        failures = [r for r in results if isinstance(r, Failed)]
        if failures:
            return Failed(
                error="; ".join(f.error for f in failures),
                retryable=any(f.retryable for f in failures),
                facts=facts,
            )
        if all(isinstance(r, AlreadyRevoked) for r in results):
            return AlreadyRevoked(detail="every key carrying it was already gone", facts=facts)
        return Revoked(detail=f"deleted {len(matches)} key(s) carrying it", facts=facts)

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → test → finish; ``facts["stage"]`` is the last stage reached.

        A new secret is stored before GitHub hears of it (SSH keys, webhook secrets) or, when
        GitHub creates it (an OAuth token reset), before anything else; if storing fails the
        new secret is withdrawn again so no live credential is left without a home.
        """
        kind = token_kind(cred)
        try:
            if kind in (KIND_PAT, KIND_FINE_GRAINED_PAT):
                return ManualRequired(
                    instructions=(
                        f"GitHub has no API that creates personal access tokens. Create a "
                        f"replacement for {cred.fingerprint} with the same scopes, store it with "
                        f"`keyring set clawback github/agent-token`, and point the agent at it."
                    ),
                    url="https://github.com/settings/personal-access-tokens/new",
                )
            if kind in APP_REVOCABLE:
                return self._reset_app_token(cred, store)
            if kind == KIND_REFRESH:
                return Skipped(reason="a refresh token is replaced by refreshing its access token")
            if kind == KIND_INSTALLATION:
                return Skipped(reason="installation tokens are minted by the app and expire in 1 h")
            if kind in (KIND_DEPLOY_KEY, KIND_SSH_KEY):
                return self._rotate_ssh_key(cred, store)
            if kind == KIND_WEBHOOK_SECRET:
                return self._rotate_webhook_secret(cred, store)
            if kind == KIND_ACTIONS_SECRET:
                return self._rewrite_actions_secret(cred, store)
            if kind == KIND_SSH_PUBLIC_KEY:
                return Skipped(
                    reason="list the matching keys under deploy_keys / user_ssh_keys "
                    "by id to have each replaced"
                )
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        return Skipped(reason=f"clawback cannot replace {cred.kind}")

    def _reset_app_token(self, cred: Credential, store: SecretStore) -> Outcome:
        if cred.secret is None or not self.settings.oauth_apps:
            return ManualRequired(
                instructions="Configure the OAuth app under oauth_apps in [providers.github] so "
                "clawback can reset the token, or have the agent authorize again.",
                url="https://github.com/settings/applications",
            )
        with self._lock:
            revoked = cred.fingerprint in self._revoked_tokens
        if revoked or isinstance(self._already_dead(cred), AlreadyRevoked):
            # A reset takes a live token (GitHub answers 404 for an invalid one): a revoked
            # token has no successor but the one the agent gets by authorizing again.
            return ManualRequired(
                instructions=f"The OAuth token {cred.fingerprint} is revoked, so it cannot be "
                "reset: have the agent authorize the OAuth app again (a new token), and "
                "store it with `keyring set clawback github/oauth`.",
                url="https://github.com/settings/applications",
                facts={"old_token": "revoked"},
            )
        for app in self.settings.oauth_apps:
            client_secret = self._store().resolve(app.client_secret)
            action = f"PATCH /applications/{app.client_id}/token"
            answer = self._request(
                "PATCH",
                f"/applications/{app.client_id}/token",
                action,
                auth=(app.client_id, client_secret.reveal()),
                json_body={"access_token": cred.secret.reveal()},
            )
            if answer.status in (404, 422):
                continue
            if answer.status != 200 or not isinstance(answer.body, Mapping):
                return _ANSWERS.failure_for_status(
                    answer.status,
                    answer.headers,
                    action,
                    "the app's client credentials may not reset this token",
                    credential=f"the client secret of OAuth app {app.client_id}",
                )
            new = SecretValue(str(answer.body.get("token", "")))
            break
        else:
            return ManualRequired(
                instructions="No configured OAuth app owns this token: "
                "revoke it and have the agent authorize again."
            )
        # The reset already killed the old token: the new one must be stored or withdrawn.
        facts: dict[str, Any] = {
            "stage": "create",
            "client_id": app.client_id,
            "old_token": "invalidated by the reset",
        }
        name = self.settings.store_name.format(target=f"oauth/{app.client_id}")
        try:
            reference = store.store(name, new)
        except Exception as exc:
            withdrawn = self._request(
                "DELETE",
                f"/applications/{app.client_id}/token",
                f"DELETE /applications/{app.client_id}/token",
                auth=(app.client_id, client_secret.reveal()),
                json_body={"access_token": new.reveal()},
            )
            facts["new_token_revoked"] = withdrawn.status in (204, 404)
            return Failed(
                error=f"storing the new token failed ({describe_store_error(exc)}); the new "
                f"token was {'revoked' if facts['new_token_revoked'] else 'NOT revoked'}",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        tested = self._request("GET", "/user", "GET /user", key=new)
        if tested.status != 200:
            return Failed(
                error=f"the new token is stored at {reference} but GitHub answered "
                f"{tested.status} to GET /user with it",
                facts=facts,
            )
        facts["stage"] = "finish"
        return Rotated(
            detail=f"token reset through OAuth app {app.client_id}",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def _rotate_ssh_key(self, cred: Credential, store: SecretStore) -> Outcome:
        deploy = token_kind(cred) == KIND_DEPLOY_KEY
        repo, old_id = _split_id(cred, "keys")
        old_path = f"/repos/{repo}/keys/{old_id}" if deploy else f"/user/keys/{old_id}"
        github = self._github()
        advice = (
            "the admin token needs admin rights on the repository"
            if deploy
            else "the admin token needs the admin:public_key scope"
        )
        read_only = True  # least privilege when the old key's setting cannot be read
        old_state = "unknown"
        if deploy:
            try:
                _, old = self._pygithub_call(
                    f"GET {old_path}",
                    advice,
                    lambda: github.requester.requestJsonAndCheck("GET", old_path),
                )
                read_only = bool(old.get("read_only", True))
                old_state = "present"
            except CallFailed as err:
                if err.status != 404:
                    raise
                old_state = "already deleted"
        private_key, public_key = _new_ssh_keypair()
        facts: dict[str, Any] = {"stage": "create", "new_key": ssh_key_id(public_key)}
        target = f"{repo}/deploy-key" if deploy else "user/ssh-key"
        name = self.settings.store_name.format(target=target)
        reference = store.store(name, private_key)  # nothing exists at GitHub yet if this fails
        facts.update(stage="store", reference=reference)
        title = f"clawback {datetime.now(UTC):%Y-%m-%d}"
        try:
            if deploy:
                created = self._pygithub_call(
                    f"POST /repos/{repo}/keys",
                    advice,
                    lambda: github.get_repo(repo).create_key(
                        title, public_key, read_only=read_only
                    ),
                )
            else:
                created = self._pygithub_call(
                    "POST /user/keys",
                    advice,
                    lambda: github.get_user().create_key(title, public_key),
                )
        except CallFailed as err:
            try:
                store.delete(name)
                facts["stored_copy"] = "removed"
            except Exception as exc:
                facts["stored_copy"] = f"not removed: {describe_store_error(exc)}"
            return replace(
                err.failed,
                error=f"uploading the new public key failed: {err.failed.error}",
                facts=facts,
            )
        new_id = int(created.id)
        facts["new_key_id"] = new_id
        if str(new_id) == old_id:
            return Failed(
                error=f"GitHub reported the new key under the old key's id {old_id}; the old key "
                "was left alone rather than risk deleting the new one",
                facts=facts,
            )
        if deploy:
            new_path = f"/repos/{repo}/keys/{new_id}"
            self._pygithub_call(
                f"GET {new_path}",
                advice,
                lambda: github.requester.requestJsonAndCheck("GET", new_path),
            )
        facts["stage"] = "test"
        kept = handed_over(store, facts, f"the old key {old_id} stays")
        if kept is not None:
            return kept
        if old_state != "already deleted":
            finished = self._delete_key(old_path, f"key {old_id}")
            if isinstance(finished, Failed):
                return replace(
                    finished,
                    error=f"the new key works and is stored, but deleting the old one "
                    f"failed: {finished.error}",
                    facts=facts,
                )
        facts.update(stage="finish", old_key="deleted")
        return Rotated(
            detail=f"new key {new_id} replaces {old_id}",
            facts=facts,
            new_fingerprint=ssh_key_id(public_key),
            new_reference=reference,
        )

    def _rotate_webhook_secret(self, cred: Credential, store: SecretStore) -> Outcome:
        repo, hook = _split_id(cred, "hooks")
        token = self._admin_token()
        path = f"/repos/{repo}/hooks/{hook}/config"
        advice = "the admin token needs admin:repo_hook (or admin rights) on the repository"
        new = SecretValue(token_source.token_urlsafe(32))
        name = self.settings.store_name.format(target=f"{repo}/hooks/{hook}")
        reference = store.store(name, new)  # GitHub is told only once the secret is safe
        facts: dict[str, Any] = {"stage": "store", "reference": reference}
        # PATCH …/config changes only what it is given; a full hook PATCH would drop the secret.
        answer = self._request(
            "PATCH", path, f"PATCH {path}", key=token, json_body={"secret": new.reveal()}
        )
        if answer.status != 200:
            try:
                store.delete(name)
            except Exception as exc:
                facts["stored_copy"] = f"not removed: {describe_store_error(exc)}"
            if answer.status == 404:
                return Failed(error=f"webhook {hook} of {repo} does not exist (404)", facts=facts)
            failed = _ANSWERS.failure_for_status(
                answer.status, answer.headers, f"PATCH {path}", advice
            )
            return replace(failed, facts=facts)
        facts["stage"] = "set"
        check = self._request("GET", path, f"GET {path}", key=token)
        if check.status != 200 or not (
            isinstance(check.body, Mapping) and check.body.get("secret")
        ):
            return Failed(
                error=f"GitHub does not show a secret on webhook {hook} after the update",
                retryable=True,
                facts=facts,
            )
        facts["stage"] = "finish"
        return Rotated(
            detail=f"webhook {hook} of {repo} signs with a new secret: give the receiver the one "
            f"stored at {reference}",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def _rewrite_actions_secret(self, cred: Credential, store: SecretStore) -> Outcome:
        repo, name = _split_id(cred, "actions/secrets")
        entry = next(
            (s for s in self.settings.actions_secrets if s.repo == repo and s.name == name), None
        )
        if entry is None:
            raise ResponderError(
                f"{cred.key_id} is not among actions_secrets in [providers.github]"
            )
        value = store.resolve(entry.value)
        github = self._github()
        advice = "the admin token needs write access to the repository's Actions secrets"

        def put() -> Any:
            try:
                return github.get_repo(repo).create_secret(name, value.reveal())
            except ValueError:  # PyNaCl refuses a key that is not 32 bytes of Curve25519
                raise ResponderError(
                    f"GitHub's Actions public key for {repo} is not a valid Curve25519 key; "
                    f"nothing was written"
                ) from None

        self._pygithub_call(f"PUT /repos/{repo}/actions/secrets/{name}", advice, put)
        return Rotated(
            detail=f"Actions secret {name} of {repo} re-written from {entry.value}",
            facts={"stage": "finish", "source": entry.value},
            new_fingerprint=value.fingerprint,
            new_reference=entry.value,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """Prove the credential is dead: GitHub rejects the token, or the key is gone.

        A stand-in cannot know whether a token is dead; this asks the real question
        (``GET /user`` with the token: 401 means dead) and reports whatever the answer says.
        """
        kind = token_kind(cred)
        try:
            if kind == KIND_REFRESH:
                return Skipped(
                    reason="refresh tokens cannot call the API; GitHub revokes them "
                    "with their access token"
                )
            if kind in BATCH_REVOCABLE or kind == KIND_INSTALLATION:
                return self._verify_token(cred)
            if kind == KIND_DEPLOY_KEY:
                repo, key_id = _split_id(cred, "keys")
                path = f"/repos/{repo}/keys/{key_id}"
                github = self._github()
                try:
                    self._pygithub_call(
                        f"GET {path}", "", lambda: github.requester.requestJsonAndCheck("GET", path)
                    )
                except CallFailed as err:
                    if err.status == 404:
                        return self._after_404(
                            path, f"deploy key {key_id}",
                            {"endpoint": f"GET {path}", "http_status": 404}, VerifiedDead,
                        )
                    raise
                return Failed(error=f"deploy key {key_id} of {repo} still exists")
            if kind == KIND_SSH_KEY:
                ssh_key_id = int(_split_id(cred, "keys")[1])
                if any(k.get("id") == ssh_key_id for k in self._list_all("/user/keys", "")):
                    return Failed(error=f"user SSH key {ssh_key_id} still exists")
                return VerifiedDead(
                    detail=f"user SSH key {ssh_key_id} is gone",
                    facts={"endpoint": "GET /user/keys"},
                )
            if kind == KIND_SSH_PUBLIC_KEY:
                left = self._matching_keys(self._public_key_of(cred))
                if left:
                    return Failed(error=f"still present: {', '.join(w for _, w in left)}")
                return VerifiedDead(detail="no deploy key or user key carries it any more")
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        return Skipped(reason=f"nothing to prove dead for {cred.kind}")

    def _verify_token(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return Skipped(reason="the token's value is unknown, so it cannot be tried")
        answer = self._request("GET", "/user", "GET /user", key=cred.secret)
        facts = {"checked_with": "GET /user", "http_status": answer.status}
        if answer.status == 401:
            return VerifiedDead(detail="GitHub rejects the token (401)", facts=facts)
        # /credentials/revoke works asynchronously, and an installation token may not read
        # /user (403): still_accepted asks again later in both cases.
        return _ANSWERS.still_accepted(answer, "GET /user", "token", facts)

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Prove the admin token and app secrets work, with read-only calls."""
        try:
            s = self.settings
        except ResponderError as exc:
            return [PreflightCheck("github", "config", False, detail=str(exc))]
        checks = [self._check_app_secret(app) for app in s.oauth_apps]
        needs_token = bool(
            s.repos
            or s.deploy_keys
            or s.user_ssh_keys
            or s.ssh_public_keys
            or s.webhooks
            or s.actions_secrets
        )
        if not needs_token and not s.token:
            return checks
        try:
            token = self._admin_token()
        except ResponderError as exc:
            return [
                *checks,
                PreflightCheck(
                    "github", "admin token", False, detail=str(exc), missing_permission="token"
                ),
            ]
        probes = [("admin token", "GET /user", "/user", "a valid token")]
        for repo in dict.fromkeys([*s.repos, *(k.repo for k in s.deploy_keys)]):
            probes.append(
                (
                    "deploy keys",
                    f"GET /repos/{repo}/keys",
                    f"/repos/{repo}/keys",
                    "admin rights on the repository",
                )
            )
        if s.user_ssh_keys or s.ssh_public_keys:
            probes.append(
                ("user SSH keys", "GET /user/keys", "/user/keys", "the admin:public_key scope")
            )
        for hook in s.webhooks:
            path = f"/repos/{hook.repo}/hooks/{hook.id}/config"
            probes.append(("webhook secrets", f"GET {path}", path, "admin:repo_hook"))
        for repo in dict.fromkeys(a.repo for a in s.actions_secrets):
            path = f"/repos/{repo}/actions/secrets/public-key"
            probes.append(("Actions secrets", f"GET {path}", path, "Secrets write access"))

        def probe(item: tuple[str, str, str, str]) -> PreflightCheck:
            capability, action, path, needed = item
            try:
                answer = self._request("GET", path, action, key=token)
            except CallFailed as err:
                return PreflightCheck("github", capability, False, detail=err.failed.error)
            if answer.status == 200:
                scopes = header(answer.headers, "x-oauth-scopes")
                detail = f"{action}: 200" + (f" (scopes: {scopes})" if scopes else "")
                return PreflightCheck("github", capability, True, detail=detail)
            failed = _ANSWERS.failure_for_status(
                answer.status, answer.headers, action, f"needs {needed}"
            )
            return PreflightCheck(
                "github",
                capability,
                False,
                detail=failed.error,
                missing_permission=needed if answer.status in (401, 403, 404) else "",
            )

        return [*checks, *self.context.fan_out(probe, probes)]

    def _check_app_secret(self, app: OAuthApp) -> PreflightCheck:
        try:
            self._store().resolve(app.client_secret)
        except ResponderError as exc:
            return PreflightCheck(
                "github",
                f"OAuth app {app.client_id}",
                False,
                detail=str(exc),
                missing_permission="client_secret",
            )
        return PreflightCheck(
            "github",
            f"OAuth app {app.client_id}",
            True,
            detail="client secret resolves (GitHub offers no harmless call that proves it)",
        )


def _target(kind: str, key_id: str) -> Credential:
    return Credential(provider="github", kind=kind, fingerprint=key_id, key_id=key_id)


def _new_ssh_keypair() -> tuple[SecretValue, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return SecretValue(private), public

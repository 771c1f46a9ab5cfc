"""GitLab responder: personal, project and group access tokens revoke themselves.

A GitLab access token (``glpat-``: personal, project, group and impersonation tokens all share
the prefix) is revoked with ``DELETE /personal_access_tokens/self`` sent *with the token
itself* (the ``PRIVATE-TOKEN`` header): no admin credential is involved, and since GitLab 15.4
any token may revoke itself whatever its scopes
(https://docs.gitlab.com/api/personal_access_tokens/#self-revoke). Before that, clawback asks
``GET /personal_access_tokens/self`` (any scope, GitLab 15.5+,
https://docs.gitlab.com/api/personal_access_tokens/#self-inform) which instance knows the
token and what it is (id, name, scopes, expiry): the instance that answers 200 is the one that
revokes it, and the replacement recipe names the same scopes.

What proves a token dead: GitLab's own record of it, which it gives on every request made with
a token it knows: 401 ``invalid_token`` with "Token was revoked." (revoked or rotated) or
"Token is expired." (an expired token cannot be extended). Those come from GitLab's API guard
(lib/api/api_guard.rb). Everything else is ambiguous:

- a plain 401 (``{"message": "401 Unauthorized"}``) is what GitLab answers a token it has no
  record of at all: a token of another GitLab instance (self-managed, a second account on
  gitlab.com's Dedicated...) gets exactly that, so it is ``Unproven`` with the instance to
  configure (``base_url``, ``other_base_urls``);
- 401 ``invalid_token`` "Token is an impersonation token but impersonation was disabled." is a
  live impersonation token that works again the moment an administrator re-enables
  impersonation: ``Unproven``;
- 403 on ``GET …/self`` (which every scope may call) means the token's user is blocked, banned
  or deactivated: the token lives on and works again when the user is unblocked: ``Unproven``.

A token lacking a scope answers 403 ``insufficient_scope`` with the scopes it needed
(``"scope": "api self_rotate"``); clawback names them. GitLab before 15.4 let a token revoke
itself only with the ``api`` scope: that 403 becomes advice.

``rotate`` (the drill's replacement) is ``POST /personal_access_tokens/self/rotate`` with the
old token, which needs its ``api`` or ``self_rotate`` scope
(https://docs.gitlab.com/api/personal_access_tokens/#self-rotate): GitLab revokes the old token
and answers the new one at once, so this rotation is not zero-downtime: the agent must be
reloaded with the new value, which is stored through the SecretStore before anything else (if
that fails, the new token revokes itself, so no live token is left without a home). A token
``revoke`` already killed in this run cannot be rotated (rotating a revoked token is GitLab's
signal of a stolen token family): its replacement is a manual step naming the old token's name,
scopes and instance. Other GitLab secrets (``gldt-`` deploy tokens, ``glrt-`` runner tokens,
``glptt-`` trigger tokens, ``glft-`` feed tokens, ``gloas-`` OAuth application secrets, ...,
https://docs.gitlab.com/security/tokens/#token-prefixes) have no self-revocation endpoint and
are manual steps with the exact place to revoke them.

A token found already revoked is dead; but a *rotated* token answers the same, and whoever
rotated it holds a live successor. GitLab's automatic reuse detection revokes the whole token
family when someone rotates a revoked token by its id
(https://docs.gitlab.com/api/personal_access_tokens/#automatic-reuse-detection): the outcome
says so, for the case nobody on your side revoked it.

Config, the ``[providers.gitlab]`` table of clawback.toml (every key optional; the table itself
is what opts GitLab in)::

    base_url = "https://gitlab.com/api/v4"           # a self-managed instance: its /api/v4
    other_base_urls = ["https://git.example.com/api/v4"]  # further instances, asked in order
    expires_in_days = 30                             # the rotated token's (default: GitLab's)
    store_name = "gitlab/{target}"
    timeout_seconds = 10
    connect_timeout_seconds = 3

No admin credential, so no permission to grant: each token needs no scope to revoke itself
(GitLab 15.4+) and ``api`` or ``self_rotate`` to rotate itself. ``preflight`` proves each
configured instance answers like GitLab's API (an unauthenticated ``GET …/self``: 401).

Errors become outcomes: 429 → ``Failed(retryable=True)`` with ``retry_after`` from
``Retry-After`` (GitLab.com: 2,000 authenticated API requests a minute per user,
https://docs.gitlab.com/user/gitlab_com/#rate-limits-on-gitlabcom); 5xx, timeouts and refused
connections → retryable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
)
from responders.provider_responder import (
    KEY_CAPABILITIES,
    HttpProviderResponder,
    describe_store_error,
    kind_by_prefix,
    where_found,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_store_target,
    validate_table,
)

KIND_PAT = "gitlab:pat"
SELF = "/personal_access_tokens/self"
TOKENS_PAGE = "/-/user_settings/personal_access_tokens"
TOKEN_DOCS = "https://docs.gitlab.com/security/tokens/"

# https://docs.gitlab.com/security/tokens/#token-prefixes. Longest prefix first.
_PREFIX_KINDS = (
    ("glpat-", KIND_PAT),
    ("gloas-", "gitlab:oauth_application_secret"),
    ("gldt-", "gitlab:deploy_token"),
    ("glrtr-", "gitlab:runner_token"),
    ("glrt-", "gitlab:runner_token"),
    ("glcbt-", "gitlab:job_token"),
    ("glptt-", "gitlab:trigger_token"),
    ("glft-", "gitlab:feed_token"),
    ("glimt-", "gitlab:incoming_email_token"),
    ("glagent-", "gitlab:agent_token"),
    ("glwt-", "gitlab:workspace_token"),
    ("glsoat-", "gitlab:scim_token"),
    ("glffct-", "gitlab:feature_flags_token"),
)
# Where a human revokes what has no self-revocation endpoint.
_MANUAL_STEPS: Mapping[str, str] = {
    "gitlab:oauth_application_secret": "Open the application (User settings → Applications, "
    "Group → Settings → Applications, or Admin → Applications) and click Renew secret.",
    "gitlab:deploy_token": "Open the project or group → Settings → Repository → Deploy tokens "
    "and click Revoke on the token.",
    "gitlab:runner_token": "Open Settings → CI/CD → Runners, select the runner and delete it "
    "(or reset its authentication token), then register a new one.",
    "gitlab:job_token": "A CI/CD job token lives as long as its job: cancel the running job "
    "(Build → Jobs) and check the project's job token allowlist.",
    "gitlab:trigger_token": "Open the project → Settings → CI/CD → Pipeline trigger tokens and "
    "revoke the token.",
    "gitlab:feed_token": "Open User settings → Access tokens → Feed token and click Reset.",
    "gitlab:incoming_email_token": "Open User settings → Access tokens → Incoming email token "
    "and click Reset.",
    "gitlab:agent_token": "Open the project → Operate → Kubernetes clusters, select the agent, "
    "and revoke the token under Access tokens.",
    "gitlab:workspace_token": "Stop or terminate the workspace (Your work → Workspaces).",
    "gitlab:scim_token": "Open the group → Settings → SAML SSO and reset the SCIM token.",
    "gitlab:feature_flags_token": "Open the project → Deploy → Feature flags → Configure and "
    "reset the instance ID.",
}
_URL = re.compile(r"^https?://[^\s/]+(?:/\S*)?$")


@dataclass(frozen=True)
class GitLabSettings:
    """The validated ``[providers.gitlab]`` table (see the module docstring)."""

    base_url: str = "https://gitlab.com/api/v4"
    other_base_urls: tuple[str, ...] = ()
    expires_in_days: int | None = None
    store_name: str = "gitlab/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}

    @property
    def instances(self) -> tuple[str, ...]:
        """Every API root to ask, in order, without a trailing slash."""
        return tuple(u.rstrip("/") for u in (self.base_url, *self.other_base_urls))


def parse_settings(raw: Mapping[str, Any]) -> GitLabSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(GitLabSettings, raw, "gitlab")
    for where, url in (("base_url", settings.base_url),
                       *(("other_base_urls", u) for u in settings.other_base_urls)):
        if not _URL.match(url):
            raise ResponderError(
                f"[providers.gitlab] {where} must be an http(s) URL such as "
                "https://gitlab.example.com/api/v4"
            )
    if settings.expires_in_days is not None and not 1 <= settings.expires_in_days <= 400:
        raise ResponderError("[providers.gitlab] expires_in_days must be between 1 and 400")
    require_store_target("gitlab", settings.store_name)
    require_positive_timeouts("gitlab", settings.timeout_seconds, settings.connect_timeout_seconds)
    return settings


def token_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, _PREFIX_KINDS)


def revokes_itself(cred: Credential) -> bool:
    """An access token (``glpat-``, or a token under a GitLab name with a custom prefix an
    administrator set): one that ``…/self`` answers for."""
    kind = token_kind(cred)
    return cred.secret is not None and (kind == KIND_PAT or kind not in _MANUAL_STEPS)


# -- turning answers into outcomes -------------------------------------------------------------


_ANSWERS = ProviderAnswers(provider="GitLab", credential="the token")


@dataclass(frozen=True)
class _Answer(JsonObjectAnswer):
    """A GitLab API answer; its errors are ``{"message": …}`` or OAuth-style
    ``{"error": …, "error_description": …}`` (the API guard's)."""

    @property
    def _invalid(self) -> str:
        if self.status != 401 or self.body.get("error") != "invalid_token":
            return ""
        return str(self.body.get("error_description") or "")

    @property
    def revoked(self) -> bool:
        return self._invalid.startswith("Token was revoked")

    @property
    def expired(self) -> bool:
        return self._invalid.startswith(("Token is expired", "Token has expired"))

    @property
    def impersonation_disabled(self) -> bool:
        return "impersonation was disabled" in self._invalid

    @property
    def dead(self) -> bool:
        """GitLab's own record says the token can never work again."""
        return self.revoked or self.expired

    @property
    def unknown(self) -> bool:
        """A 401 that says nothing about this token: GitLab has no record of it."""
        return self.status == 401 and not self.dead and not self.impersonation_disabled

    @property
    def missing_scopes(self) -> str:
        if self.status == 403 and self.body.get("error") == "insufficient_scope":
            return str(self.body.get("scope") or "")
        return ""

    @property
    def said(self) -> str:
        """GitLab's own words, short (they never quote the token)."""
        text = self.body.get("error_description") or self.body.get("message") or ""
        return str(text)[:120]


def _failure(answer: _Answer, action: str, forbidden: str) -> Failed:
    return _ANSWERS.failure_for_status(
        answer.status, answer.headers, action, forbidden,
        said=f" ({answer.said})" if answer.said else "",
        facts={"endpoint": action, "http_status": answer.status},
    )


@dataclass(frozen=True)
class _Token:
    """What GitLab's ``GET …/self`` said about a token, and which instance said it."""

    instance: str
    token_id: str
    name: str
    scopes: tuple[str, ...]
    expires_at: str

    def facts(self) -> dict[str, Any]:
        return {"instance": self.instance, "token_id": self.token_id, "name": self.name,
                "scopes": list(self.scopes)}


class GitLabResponder(HttpProviderResponder[GitLabSettings]):
    """Revokes, rotates and verifies GitLab access tokens; see the module docstring."""

    name: ClassVar[str] = "gitlab"
    display_name: ClassVar[str] = "GitLab"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"gitlab"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES
    # docs.gitlab.com/user/gitlab_com/#rate-limits-on-gitlabcom: authenticated API traffic,
    # 2,000 requests a minute per user. Each token speaks for itself, so this is conservative.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=50, requests=2000, per_seconds=60,
        source="GitLab.com: 2,000 authenticated API requests a minute per user",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("base_url", "https://gitlab.com/api/v4",
                              "a self-managed instance: its /api/v4"),
            ),
            permissions=("none: a GitLab token revokes itself (GitLab 15.4+)",),
            note="deploy, runner, trigger and feed tokens have no self-revocation: manual steps",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._known: dict[str, _Token] = {}  # fingerprint → what GET …/self said
        self._revoked: set[str] = set()  # fingerprints this run's revoke killed

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def auth_headers(self, key: SecretValue) -> dict[str, str]:
        return {"PRIVATE-TOKEN": key.reveal()}

    def _call(self, method: str, instance: str, path: str, token: SecretValue | None,
              json_body: Any = None) -> _Answer:
        # An absolute URL: httpx leaves the client's base_url aside, so one client serves
        # every configured instance.
        action = f"{method} {path}"
        return _Answer.of(self._request(method, instance + path, action, key=token,
                                        json_body=json_body))

    def _remembered(self, cred: Credential) -> _Token | None:
        with self._lock:
            return self._known.get(cred.fingerprint)

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        instances = self.settings.instances
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            if not revokes_itself(cred):
                out.append((cred, self._manual(cred)))
                continue
            out.append((cred, Planned(
                action="revoke",
                detail=f"{token_kind(cred)} {cred.fingerprint}",
                commands=(
                    *(f"GET {i}{SELF} (with the token itself: which instance knows it)"
                      for i in instances),
                    f"DELETE {{that instance}}{SELF} (the token revokes itself)",
                ),
            )))
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        try:
            _ = self.settings  # a broken config is reported before anything else
            if not revokes_itself(cred):
                return self._manual(cred)
            assert cred.secret is not None
            found = self._inform(cred)
            if isinstance(found, Outcome):
                return found
            return self._delete_self(cred, found)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _inform(self, cred: Credential) -> _Token | Outcome:
        """``GET …/self`` at each instance until one knows the token."""
        assert cred.secret is not None
        asked: list[str] = []
        for instance in self.settings.instances:
            answer = self._call("GET", instance, SELF, cred.secret)
            asked.append(f"GET {instance}{SELF} → {answer.status}")
            body = answer.body
            if answer.status == 200 and body.get("id") is not None:
                token = _Token(
                    instance=instance,
                    token_id=str(body["id"]),
                    name=str(body.get("name") or ""),
                    scopes=tuple(str(s) for s in body.get("scopes") or ()),
                    expires_at=str(body.get("expires_at") or ""),
                )
                with self._lock:
                    self._known[cred.fingerprint] = token
                return token
            if answer.dead:
                return _already_dead(answer, instance, asked)
            if answer.impersonation_disabled:
                return _impersonation_unproven(cred, instance, asked)
            if answer.status == 403:
                return Failed(
                    error=f"GitLab at {instance} refused the token (403{_said(answer)}): its "
                    "user is blocked, banned or deactivated, so the token cannot revoke itself. "
                    "An administrator revokes it under Admin → Users → (user) → Access tokens; "
                    "the token works again if the user is unblocked",
                    facts={"checked_with": asked},
                )
            if answer.status == 404:
                # GitLab before 15.5 has no GET …/self; DELETE …/self exists since 15.0.
                return _Token(instance, "", "", (), "")
            if not answer.unknown:
                return _failure(answer, f"GET {instance}{SELF}", "")
        return _unknown_everywhere(cred, asked)

    def _delete_self(self, cred: Credential, token: _Token) -> Outcome:
        assert cred.secret is not None
        answer = self._call("DELETE", token.instance, SELF, cred.secret)
        facts = {**token.facts(), "endpoint": f"DELETE {SELF}", "http_status": answer.status}
        if answer.status == 204:
            with self._lock:
                self._revoked.add(cred.fingerprint)
            what = f"token {token.token_id} ({token.name})" if token.token_id else "the token"
            return Revoked(detail=f"GitLab revoked {what}; it revoked itself", facts=facts)
        if answer.dead:
            return _already_dead(answer, token.instance, [f"DELETE {SELF} → 401"])
        if answer.missing_scopes or answer.status == 403:
            return Failed(error=_forbidden_delete(answer, token.instance), facts=facts)
        if answer.status == 400:
            return Failed(error=f"GitLab could not revoke the token (400{_said(answer)}): "
                          f"revoke it under {_page(token.instance)}", facts=facts)
        if answer.status == 401:
            return Unproven(
                reason=f"GitLab at {token.instance} knew the token a moment ago but answered "
                f"DELETE {SELF} with 401{_said(answer)}, which it answers a token it has no "
                "record of too",
                check=f"that the token is listed as revoked under {_page(token.instance)}",
                url=_page(token.instance),
                facts=facts,
            )
        return _failure(answer, f"DELETE {SELF}", "")

    def _manual(self, cred: Credential) -> ManualRequired:
        kind = token_kind(cred)
        steps = _MANUAL_STEPS.get(kind)
        instance = self.settings.base_url.removesuffix("/api/v4")
        if steps is None:  # an access token whose value is unknown
            steps = f"Open {instance}{TOKENS_PAGE} (or the project's or group's Settings → " \
                "Access tokens) and revoke the token."
        return ManualRequired(
            detail=f"manual: GitLab {kind} {cred.fingerprint}",
            instructions=f"GitLab has no API that revokes a {kind} with itself. {steps} The old "
            f"value is {cred.fingerprint}, found at {where_found(cred)}: remove it there too.",
            url=TOKEN_DOCS,
        )

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """self-rotate (GitLab revokes the old token) → store → test with the new one."""
        try:
            _ = self.settings
            if not revokes_itself(cred):
                return self._manual(cred)
            assert cred.secret is not None
            with self._lock:
                revoked_here = cred.fingerprint in self._revoked
            if revoked_here:
                return self._recreate_by_hand(cred)
            known = self._remembered(cred)
            instances = (known.instance,) if known else self.settings.instances
            asked: list[str] = []
            for instance in instances:
                outcome = self._rotate_at(cred, instance, store, asked)
                if outcome is not None:
                    return outcome
            return _unknown_everywhere(cred, asked)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _rotate_at(self, cred: Credential, instance: str, store: SecretStore,
                   asked: list[str]) -> Outcome | None:
        """One instance's answer to a self-rotation; None: it does not know the token."""
        assert cred.secret is not None
        days = self.settings.expires_in_days
        body = None
        if days is not None:
            body = {"expires_at": (datetime.now(UTC) + timedelta(days=days)).date().isoformat()}
        path = f"{SELF}/rotate"
        answer = self._call("POST", instance, path, cred.secret, json_body=body)
        asked.append(f"POST {instance}{path} → {answer.status}")
        if answer.unknown:
            return None
        if answer.dead:
            return _already_dead(answer, instance, asked)
        if answer.impersonation_disabled:
            return _impersonation_unproven(cred, instance, asked)
        if answer.missing_scopes or answer.status in (403, 405):
            scopes = answer.missing_scopes or "api self_rotate"
            return ManualRequired(
                detail=f"GitLab will not let {cred.fingerprint} rotate itself",
                instructions=f"GitLab refused to rotate {cred.fingerprint} with itself "
                f"({answer.status}{_said(answer)}): a token rotates itself only with one of the "
                f"scopes {scopes.replace(' ', ', ')} (and only a personal, project or group "
                f"access token). Create a replacement with the same scopes under "
                f"{_page(instance)}, give it to the agent, then revoke the old one there.",
                url=_page(instance),
                facts={"checked_with": list(asked), "needs_scope": scopes},
            )
        new_value = answer.body.get("token")
        if answer.status not in (200, 201) or not isinstance(new_value, str) or not new_value:
            return _failure(answer, f"POST {path}", "the token needs the api or self_rotate scope")
        new = SecretValue(new_value)
        new_id = str(answer.body.get("id") or "")
        facts: dict[str, Any] = {
            "stage": "create", "instance": instance, "token_id": new_id,
            "scopes": [str(s) for s in answer.body.get("scopes") or ()],
            "old_token": "revoked by GitLab's rotation at once (not zero-downtime)",
        }
        try:
            reference = store.store(self.settings.store_name.format(target=f"tokens/{new_id}"),
                                    new)
        except Exception as exc:
            withdrawn = self._call("DELETE", instance, SELF, new).status == 204
            return Failed(
                error=f"storing the rotated token failed ({describe_store_error(exc)}); the new "
                f"token was {'revoked' if withdrawn else 'NOT revoked'}: create one by hand "
                f"under {_page(instance)} once the store works",
                facts={**facts, "new_token_revoked": withdrawn},
            )
        facts.update(stage="store", reference=reference)
        tested = self._call("GET", instance, SELF, new)
        if tested.status != 200 or str(tested.body.get("id")) != new_id:
            return Failed(
                error=f"the rotated token is stored at {reference} but GET {SELF} with it "
                f"answered {tested.status}",
                facts=facts,
            )
        facts["stage"] = "finish"
        return Rotated(
            detail=f"token rotated in place on {instance} (same scopes), stored and tested; "
            "GitLab revoked the old one: reload the agent with the new value",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def _recreate_by_hand(self, cred: Credential) -> ManualRequired:
        known = self._remembered(cred)
        instance = known.instance if known else self.settings.instances[0]
        recipe = (
            f"named {known.name!r} with the scopes {', '.join(known.scopes) or '(none)'}"
            if known and known.token_id else "with the scopes the agent needs"
        )
        return ManualRequired(
            detail=f"replacement for GitLab token {cred.fingerprint}: by hand",
            instructions=f"The GitLab token {cred.fingerprint} is revoked, and a revoked token "
            "cannot make its own replacement (rotating it is GitLab's signal of a stolen token "
            f"family). Create a new access token {recipe} under {_page(instance)} (or the "
            "project's or group's Settings → Access tokens), store it with `keyring set "
            "clawback gitlab/agent`, and give it to the agent.",
            url=_page(instance),
            facts=known.facts() if known else {},
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """``GET …/self`` with the old token: 401 ``invalid_token`` "revoked" or "expired" is
        GitLab's own record that it is dead; anything else proves nothing (module docstring)."""
        if not revokes_itself(cred):
            return Skipped(reason=f"GitLab offers no call that proves a {token_kind(cred)} dead")
        assert cred.secret is not None
        try:
            known = self._remembered(cred)
            instances = (known.instance,) if known else self.settings.instances
            asked: list[str] = []
            for instance in instances:
                answer = self._call("GET", instance, SELF, cred.secret)
                asked.append(f"GET {instance}{SELF} → {answer.status}")
                facts = {"checked_with": list(asked), "instance": instance}
                if answer.dead:
                    state = "revoked" if answer.revoked else "expired"
                    return VerifiedDead(
                        detail=f"GitLab's record of the token says {state} (401 invalid_token)",
                        facts={**facts, "record": state},
                    )
                if answer.impersonation_disabled:
                    return _impersonation_unproven(cred, instance, asked)
                if answer.status == 200:
                    return Failed(error=f"GitLab at {instance} still accepts the token",
                                  retryable=True, facts=facts)
                if answer.status == 403:
                    return Unproven(
                        reason=f"GitLab at {instance} answered 403{_said(answer)}: the token's "
                        "user is blocked, banned or deactivated; the token itself lives on",
                        check="that the token is revoked under Admin → Users → (user) → "
                        "Access tokens, before anyone unblocks the user",
                        url=_page(instance), facts=facts,
                    )
                if not answer.unknown:
                    return _failure(answer, f"GET {SELF}", "")
            return _unknown_everywhere(cred, asked)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Each configured instance answers like GitLab's API; the permission contain needs
        (none: each token revokes itself) is listed."""
        try:
            instances = self.settings.instances
        except ResponderError as exc:
            return [PreflightCheck("gitlab", "config", False, detail=str(exc))]
        needs = ("no admin credential: each token revokes itself (DELETE …/self, any scope, "
                 "GitLab 15.4+); the drill's rotation needs the token's api or self_rotate scope")

        def probe(instance: str) -> PreflightCheck:
            capability = f"self-revocation at {instance}"
            try:
                answer = self._call("GET", instance, SELF, None)
            except CallFailed as err:
                return PreflightCheck("gitlab", capability, False, detail=err.failed.error)
            if answer.status == 401:
                return PreflightCheck("gitlab", capability, True, detail=needs)
            return PreflightCheck(
                "gitlab", capability, False,
                detail=f"GET {SELF} without a token answered {answer.status}, not GitLab's "
                "401: check base_url in [providers.gitlab] (a self-managed instance: "
                "https://HOST/api/v4)",
            )

        return list(self.context.fan_out(probe, list(instances)))


# -- outcomes shared by revoke, rotate and verify ------------------------------------------------


def _said(answer: _Answer) -> str:
    return f", {answer.said}" if answer.said else ""


def _page(instance: str) -> str:
    """The instance's page listing the user's access tokens."""
    return instance.removesuffix("/api/v4") + TOKENS_PAGE


def _already_dead(answer: _Answer, instance: str, asked: list[str]) -> AlreadyRevoked:
    state = "revoked" if answer.revoked else "expired"
    return AlreadyRevoked(
        detail=f"GitLab says the token is already {state}. If nobody on your side revoked or "
        "rotated it, a rotation may have made a live successor: rotating the old token by its "
        "id (POST /personal_access_tokens/:id/rotate) revokes its whole family"
        if answer.revoked else f"GitLab says the token is already {state}",
        facts={"checked_with": list(asked), "instance": instance, "record": state},
    )


def _impersonation_unproven(cred: Credential, instance: str, asked: list[str]) -> Unproven:
    return Unproven(
        reason=f"GitLab at {instance} says {cred.fingerprint} is an impersonation token while "
        "impersonation is disabled: the token is not revoked and works again once an "
        "administrator re-enables impersonation",
        check="an administrator revokes it under Admin → Users → (user) → Impersonation tokens",
        url=_page(instance),
        facts={"checked_with": list(asked), "instance": instance},
    )


def _unknown_everywhere(cred: Credential, asked: list[str]) -> Unproven:
    return Unproven(
        reason=f"every configured GitLab instance answered 401 without a record of "
        f"{cred.fingerprint} ({'; '.join(asked)}); a token of another GitLab instance gets "
        "exactly that answer, so it proves nothing",
        check="which GitLab instance issued the token (the agent's GITLAB_HOST, git remotes, "
        "glab config), then add its API URL to base_url or other_base_urls in "
        "[providers.gitlab] and run again",
        url=TOKEN_DOCS,
        facts={"checked_with": list(asked)},
    )


def _forbidden_delete(answer: _Answer, instance: str) -> str:
    if answer.missing_scopes:
        return (f"GitLab refused DELETE {SELF} (403 insufficient_scope, needs "
                f"{answer.missing_scopes}): GitLab before 15.4 lets a token revoke itself only "
                f"with the api scope. Revoke it under {_page(instance)}")
    return (f"GitLab refused DELETE {SELF} (403{_said(answer)}): the token's user is blocked, "
            "banned or deactivated, so its tokens cannot act. An administrator revokes it under "
            "Admin → Users → (user) → Access tokens")

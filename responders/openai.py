"""OpenAI responder: project keys, service-account keys and admin keys, through the Admin API.

A discovered key is only a value; the Admin API knows keys by id and shows each one redacted
(``redacted_value``: a prefix, an ellipsis, the last characters). clawback lists the keys of the
configured projects (or of every project), finds the one whose redacted form fits the value, and
deletes it:

- a key a *user* owns (``sk-proj-…``, legacy ``sk-…``): ``DELETE /organization/projects/{p}/
  api_keys/{id}``. OpenAI has no API that creates user keys, so replacing one is a guided step;
- a key a *service account* owns (``sk-svcacct-…``, or ``sk-proj-…`` issued to one): the Admin
  API refuses to delete it and offers no per-key delete, so the service account itself is deleted
  (all of its keys die with it). ``rotate`` creates a new service account in the same project,
  stores its key through the SecretStore, proves it works with ``GET /models``, and only then
  deletes the old account (already gone after a revoke: 404 counts as done);
- an admin key (``sk-admin-…``): ``DELETE /organization/admin_api_keys/{id}``; ``rotate``
  creates a replacement (``expires_in_seconds``), stores it, proves it, deletes the old one.
  When the compromised admin key is the very one clawback acts with, it is replaced *first*
  (create → store → switch → delete), and last, so clawback never saws off the branch it sits on.

What proves a key dead is OpenAI's documented answer for an invalid key, 401 with the error code
``invalid_api_key`` ("Incorrect API key provided",
https://platform.openai.com/docs/guides/error-codes), plus OpenAI's own record: the key (or its
service account) is gone from the Admin API (``GET …/api_keys/{id}`` → 404). A 401 *without*
that code proves nothing: a live restricted key without ``api.model.read`` gets 401 "Missing
scopes" from ``GET /models`` (https://help.openai.com/en/articles/8867743-assign-api-key-permissions),
and a key used from outside its project's IP allow-list gets 401 "IP not authorized"; both are
``Unproven`` with what to check. A key that is not in any listing is tried once with
``GET /models``: ``invalid_api_key`` from a complete listing is ``AlreadyRevoked``; a key that still
works but is in no project the admin key can see becomes a guided step, never a false success.
Listings are paged to the end (``has_more``/``after``); one that stops early is an "incomplete
listing" failure, never a silent cap. Codex OAuth tokens have no API at all.

A service account's key is rotated without killing its siblings and with its account's role:
when the account holds other keys, the new key is made on the same account
(``POST …/service_accounts/{sa}/api_keys``) and the old key, which the API cannot delete on its
own, becomes a guided step; when it is the account's only key, a new account is made with
``create_service_account_only``, given the old account's role, and its key made with the
scopes configured for it. OpenAI does not show a key's scopes through the API, so
``service_account_scopes`` says which the replacement carries (unset: OpenAI's default).

Config, the ``[providers.openai]`` table of clawback.toml (every key optional)::

    base_url = "https://api.openai.com/v1"
    admin_key = "keyring:clawback/openai-admin"   # an Admin API key (sk-admin-…), by reference
    projects = ["proj_abc"]                 # searched for project keys; empty: every project
    timeout_seconds = 10
    connect_timeout_seconds = 3
    store_name = "openai/{target}"          # where replacements go through the SecretStore
    admin_key_expires_in_seconds = 7776000  # lifetime of a replacement admin key (90 days)
    service_account_scopes = {"svc_acct_abc" = ["api.responses.write"]}  # by id or name
    extra_headers = {}                      # sent with every request

Errors become outcomes as in ``responders.github``: 429 (with ``Retry-After``/``retry-after-ms``),
5xx, timeouts and refused connections → ``Failed(retryable=True)``; 401/403 → advice naming the
credential or permission; a 404 on a delete → ``AlreadyRevoked``. The runner retries, not this
module. ``matches_redacted`` (``responders.kit.redacted_keys``) is shared with Anthropic and
OpenRouter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar

from responders.http_answers import (
    CallFailed,
    HttpAnswer,
    ProviderAnswers,
    as_outcome,
    json_object,
    listing_page,
)
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
    UsageReport,
    VerifiedDead,
    admin_reference,
    handed_over,
)
from responders.kit.redacted_keys import matches_redacted
from responders.provider_responder import (
    KEY_CAPABILITIES,
    HttpProviderResponder,
    describe_store_error,
    kind_by_prefix,
    where_found,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

KIND_PROJECT_KEY = "openai:project_key"
KIND_SERVICE_ACCOUNT_KEY = "openai:service_account_key"
KIND_LEGACY_KEY = "openai:api_key"
KIND_ADMIN_KEY = "openai:admin_key"
KIND_OAUTH_ACCESS = "openai:oauth_access"
KIND_OAUTH_REFRESH = "openai:oauth_refresh"

PROJECT_KINDS = frozenset({KIND_PROJECT_KEY, KIND_SERVICE_ACCOUNT_KEY, KIND_LEGACY_KEY})
OAUTH_KINDS = frozenset({KIND_OAUTH_ACCESS, KIND_OAUTH_REFRESH})
# The value's own prefix beats whatever label discovery gave it.
_PREFIX_KINDS = (
    ("sk-admin-", KIND_ADMIN_KEY),
    ("sk-svcacct-", KIND_SERVICE_ACCOUNT_KEY),
    ("sk-proj-", KIND_PROJECT_KEY),
)

API_KEYS_PAGE = "https://platform.openai.com/api-keys"
ADMIN_KEYS_PAGE = "https://platform.openai.com/settings/organization/admin-keys"
CODEX_SIGN_OUT_PAGE = "https://chatgpt.com/#settings/Security"

_PAGE_SIZE = 100
INVALID_KEY_CODE = "invalid_api_key"
_MAX_ADMIN_KEY_SECONDS = 31_536_000
_PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_ROTATION_SUFFIX = re.compile(r" \(clawback \d{4}-\d{2}-\d{2}\)$")


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAISettings:
    """The validated ``[providers.openai]`` table (see the module docstring)."""

    base_url: str = "https://api.openai.com/v1"
    admin_key: str | None = None
    projects: tuple[str, ...] = ()
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    store_name: str = "openai/{target}"
    admin_key_expires_in_seconds: int | None = 7_776_000
    service_account_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> OpenAISettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(OpenAISettings, raw, "openai")
    require_references(
        "openai", [("admin_key", settings.admin_key)], noun="key", spaces_allowed=False
    )
    for project in settings.projects:
        if not _PROJECT_ID.match(project):
            raise ResponderError(f"[providers.openai] {project!r} is not a project id (proj_…)")
    require_positive_timeouts("openai", settings.timeout_seconds, settings.connect_timeout_seconds)
    lifetime = settings.admin_key_expires_in_seconds
    if lifetime is not None and not 1 <= lifetime <= _MAX_ADMIN_KEY_SECONDS:
        raise ResponderError(
            f"[providers.openai] admin_key_expires_in_seconds must be 1…{_MAX_ADMIN_KEY_SECONDS}"
        )
    require_store_target("openai", settings.store_name)
    return settings


def key_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, _PREFIX_KINDS)


# OpenAI's error text is never repeated: it quotes part of a rejected key.
_ANSWERS = ProviderAnswers(
    provider="OpenAI",
    rate_limit="rate limit was hit (HTTP 429)",
    rejected="expired, deleted or wrong; check admin_key in [providers.openai]",
    refused="refused the request (HTTP {status})",
    credential="the admin key",
    server_errors_wait=True,
    retry_after_ms=True,
)


@dataclass(frozen=True)
class KeyRecord:
    """One key as the Admin API lists it: where it lives and who owns it. Holds no secret."""

    key_id: str
    redacted: str
    name: str
    project_id: str | None = None  # None: an admin key
    owner_type: str = "user"  # user | service_account | admin
    service_account_id: str | None = None
    service_account_name: str | None = None
    last_used_at: int | float | None = None  # the listing's ``last_used_at`` (Unix seconds)

    def facts(self) -> dict[str, Any]:
        # ``account`` is where ``usage`` asks again later (the project; none for an admin key);
        # ``last_used_at`` is OpenAI's own word on the key's last use, taken from the listing
        # just before the delete that makes OpenAI forget it.
        out: dict[str, Any] = {"key_id": self.key_id, "owner": self.owner_type}
        if self.project_id:
            out["project_id"] = self.project_id
            out["account"] = self.project_id
        if self.service_account_id:
            out["service_account_id"] = self.service_account_id
        if self.last_used_at is not None:
            out["last_used_at"] = _iso(self.last_used_at)
            listing = (f"/organization/projects/{self.project_id}/api_keys" if self.project_id
                       else "/organization/admin_api_keys")
            out["last_used_source"] = f"openai:GET {listing}"
        return out


def _iso(seconds: int | float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _seconds(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class _Listing:
    records: tuple[KeyRecord, ...]
    failure: Failed | None = None  # a part that could not be listed

    def matching(self, value: str) -> list[KeyRecord]:
        return [r for r in self.records if r.redacted and matches_redacted(r.redacted, value)]


_ADMIN_ADVICE = (
    "the admin key must be an Admin API key (sk-admin-…) created by an organization owner"
)
_PROJECT_ADVICE = "the admin key cannot manage this project's API keys and service accounts"


class OpenAIResponder(HttpProviderResponder[OpenAISettings]):
    """Deletes, replaces and checks OpenAI keys; see the module docstring."""

    name: ClassVar[str] = "openai"
    display_name: ClassVar[str] = "OpenAI"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"openai"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES | {Capability.USAGE}
    # OpenAI documents no rate limit for its Administration API (only per-model limits for
    # inference); its 429 answers carry Retry-After, which the runner honours. Twenty at once
    # keeps a few thousand keys to seconds without looking like a flood.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=20, source="none published for the Administration API; 429 + Retry-After"
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("admin_key", admin_reference("openai"),
                              "an Admin API key (sk-admin-...)"),
                ConfigSetting("projects", ["proj_abc"],
                              "searched for project keys; unset: every project",
                              optional=True),
            ),
            permissions=(
                "an Admin API key of the organization: list projects, their API keys and "
                "service accounts; delete keys and service accounts; create admin keys",
            ),
            console="https://platform.openai.com/settings/organization/admin-keys",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._admin: SecretValue | None = None
        # What revoke learnt, for rotate: the key it deleted (by fingerprint) and the admin
        # keys it already replaced.
        self._located: dict[str, KeyRecord] = {}
        self._replaced: dict[str, Rotated] = {}
        self._orphaned: set[str] = set()  # own admin keys deleted without a replacement
        self._roles: dict[str, str] = {}  # service account → its role, read before deleting it

    # -- configuration and transport -----------------------------------------------------------

    def _admin_key(self) -> SecretValue:
        with self._lock:
            if self._admin is None:
                if not self.settings.admin_key:
                    raise ResponderError(
                        'this needs an OpenAI Admin API key: set admin_key = "keyring:SERVICE/'
                        'USER" in [providers.openai] (create one under Organization settings → '
                        f"Admin keys, {ADMIN_KEYS_PAGE})"
                    )
                self._admin = self._store().resolve(self.settings.admin_key)
            return self._admin

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", **self.settings.extra_headers}

    def _admin_call(
        self,
        method: str,
        path: str,
        advice: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> HttpAnswer:
        """An Admin API call that must succeed (or answer 404, which the caller judges)."""
        action = f"{method} {path}"
        answer = self._request(
            method, path, action, key=self._admin_key(), params=params, json_body=json_body
        )
        if answer.status in ok or answer.status == 404:
            return answer
        raise CallFailed(
            answer.status,
            _ANSWERS.failure_for_status(answer.status, answer.headers, action, advice),
        )

    def _list(
        self, path: str, advice: str, params: Mapping[str, Any] | None = None
    ) -> list[Mapping[str, Any]]:
        """Every item of a cursor-paged listing (``has_more`` / ``last_id`` → ``after``)."""
        items: list[Mapping[str, Any]] = []
        query: dict[str, Any] = {"limit": _PAGE_SIZE, **(params or {})}
        seen: set[str] = set()
        while True:
            answer = self._admin_call("GET", path, advice, params=query)
            if answer.status == 404:
                raise CallFailed(
                    404,
                    Failed(
                        error=f"GET {path}: not found (404); check the project ids in "
                        "[providers.openai] projects"
                    ),
                )
            body = listing_page(answer, f"GET {path}", "OpenAI")
            page = [i for i in body.get("data") or () if isinstance(i, Mapping)]
            items += page
            last = body.get("last_id") or (page[-1].get("id") if page else None)
            if not body.get("has_more"):
                return items
            if not last or str(last) in seen:
                raise CallFailed(answer.status, Failed(
                    error=f"GET {path}: incomplete listing (has_more without a new cursor "
                    f"after {len(items)} items); nothing was concluded from it",
                    retryable=True,
                ))
            seen.add(str(last))
            query["after"] = last

    # -- finding keys ---------------------------------------------------------------------------

    def _projects(self) -> list[str]:
        if self.settings.projects:
            return list(self.settings.projects)
        listed = self._list(
            "/organization/projects", "the admin key cannot list the organization's projects"
        )
        return [str(p["id"]) for p in listed if p.get("id")]

    def _project_keys(self, project: str) -> list[KeyRecord]:
        # owner_project_access=any: without it the API hides keys whose owner left the project,
        # and a departed user's key is exactly the kind an attacker keeps using.
        listed = self._list(
            f"/organization/projects/{project}/api_keys",
            _PROJECT_ADVICE,
            params={"owner_project_access": "any"},
        )
        records = []
        for item in listed:
            owner = json_object(item.get("owner"))
            account = owner.get("service_account") if isinstance(owner, Mapping) else None
            account = account if isinstance(account, Mapping) else {}
            records.append(
                KeyRecord(
                    key_id=str(item.get("id", "")),
                    redacted=str(item.get("redacted_value", "")),
                    name=str(item.get("name", "")),
                    project_id=project,
                    owner_type=str(owner.get("type") or "user"),
                    service_account_id=account.get("id"),
                    service_account_name=account.get("name"),
                    last_used_at=_seconds(item.get("last_used_at")),
                )
            )
        return records

    def _all_project_keys(self) -> _Listing:
        """The keys of every project, listed concurrently; a project that could not be listed
        is remembered, so a key missing from the rest is not taken for a dead one."""
        projects = self._projects()
        records: list[KeyRecord] = []
        failure: Failed | None = None
        for outcome in self.context.fan_out(self._guarded_keys, projects):
            if isinstance(outcome, Failed):
                failure = failure or outcome
            else:
                records += outcome
        return _Listing(tuple(records), failure)

    def _guarded_keys(self, project: str) -> list[KeyRecord] | Failed:
        try:
            return self._project_keys(project)
        except CallFailed as err:
            return err.failed

    def _admin_keys(self) -> _Listing:
        listed = self._list("/organization/admin_api_keys", _ADMIN_ADVICE)
        return _Listing(
            tuple(
                KeyRecord(
                    key_id=str(item.get("id", "")),
                    redacted=str(item.get("redacted_value", "")),
                    name=str(item.get("name") or ""),
                    owner_type="admin",
                    last_used_at=_seconds(item.get("last_used_at")),
                )
                for item in listed
            )
        )

    def _is_own_admin_key(self, cred: Credential) -> bool:
        if cred.secret is None or not self.settings.admin_key:
            return False
        try:
            return self._admin_key() == cred.secret
        except ResponderError:
            return False

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke_all would send, from the config alone: no request is made."""
        s = self.settings
        listing = (
            [f"GET /organization/projects/{p}/api_keys" for p in s.projects]
            if s.projects
            else ["GET /organization/projects", "GET /organization/projects/{each}/api_keys"]
        )
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            kind = key_kind(cred)
            if not s.admin_key:
                detail = f"{cred.kind}: by hand (no admin_key in [providers.openai])"
                out.append((cred, Planned(action="manual", detail=detail)))
            elif kind in PROJECT_KINDS and cred.secret is not None:
                commands: tuple[str, ...] = (
                    *listing,
                    "match redacted_value",
                    "DELETE /organization/projects/{p}/api_keys/{id} (a user's key) or "
                    "DELETE /organization/projects/{p}/service_accounts/{id} (a service "
                    "account's key)",
                    "not found: GET /models with the key (401: already dead)",
                )
            elif kind == KIND_ADMIN_KEY and cred.secret is not None:
                commands = (
                    "GET /organization/admin_api_keys, match redacted_value",
                    "if it is clawback's own admin key: POST /organization/admin_api_keys, "
                    "store the replacement, switch to it (last of all)",
                    "DELETE /organization/admin_api_keys/{id}",
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

    # -- revoke ---------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        return self.revoke_all([cred])[0][1]

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """List each kind of key once, then delete every match concurrently; clawback's own
        admin key goes last, after its replacement is stored."""
        if (broken := self._config_failures(creds)) is not None:
            return broken
        outcomes: dict[int, Outcome] = {}
        project_creds: list[int] = []
        admin_creds: list[int] = []
        for i, cred in enumerate(creds):
            kind = key_kind(cred)
            if cred.secret is None or kind not in (*PROJECT_KINDS, KIND_ADMIN_KEY):
                outcomes[i] = self._manual(cred)
            elif kind == KIND_ADMIN_KEY:
                admin_creds.append(i)
            else:
                project_creds.append(i)

        if not self.settings.admin_key:
            for i in (*project_creds, *admin_creds):
                outcomes[i] = self._unconfigured(creds[i])
            project_creds, admin_creds = [], []
        if project_creds:
            outcomes.update(self._revoke_matching(creds, project_creds, self._all_project_keys))
        if admin_creds:
            own = [i for i in admin_creds if self._is_own_admin_key(creds[i])]
            others = [i for i in admin_creds if i not in own]
            if others:
                outcomes.update(self._revoke_matching(creds, others, self._admin_keys))
            for i in own:
                outcomes[i] = as_outcome(partial(self._replace_own_admin_key, creds[i]))
        return [(cred, outcomes[i]) for i, cred in enumerate(creds)]

    def _revoke_matching(
        self,
        creds: Sequence[Credential],
        indexes: list[int],
        listing: Callable[[], _Listing],
    ) -> dict[int, Outcome]:
        try:
            listed = listing()
        except CallFailed as err:
            return {i: err.failed for i in indexes}
        except ResponderError as exc:
            return {i: Failed(error=str(exc)) for i in indexes}
        outcomes = self._fan(lambda i: self._revoke_one(creds[i], listed), indexes)
        return dict(zip(indexes, outcomes, strict=True))

    def _revoke_one(self, cred: Credential, listed: _Listing) -> Outcome:
        matches = listed.matching(self._value(cred))
        if not matches:
            if listed.failure is not None:
                # It may sit in the project that could not be listed: that is no proof of death.
                return listed.failure
            return self._not_listed(cred)
        if len(matches) > 1:
            return _ambiguous(cred, matches)
        record = matches[0]
        with self._lock:
            self._located[cred.fingerprint] = record
        if record.owner_type == "admin":
            return self._delete(
                f"/organization/admin_api_keys/{record.key_id}",
                f"admin key {record.key_id}",
                _ADMIN_ADVICE,
                record,
            )
        if record.owner_type == "service_account" and record.service_account_id:
            account = record.service_account_id
            base = f"/organization/projects/{record.project_id}/service_accounts/{account}"
            self._remember_role(base, account)
            siblings = [r.key_id for r in listed.records
                        if r.service_account_id == account and r.key_id != record.key_id]
            deleted = self._delete(
                base,
                f"service account {account} (owner of key {record.key_id}; OpenAI deletes no "
                "single key of a service account, so every key of the account dies with it)",
                _PROJECT_ADVICE,
                record,
            )
            if siblings:
                deleted = replace(deleted, facts={**deleted.facts, "died_with_it": siblings})
            return deleted
        return self._delete(
            f"/organization/projects/{record.project_id}/api_keys/{record.key_id}",
            f"key {record.key_id} of project {record.project_id}",
            _PROJECT_ADVICE,
            record,
        )

    def _delete(self, path: str, what: str, advice: str, record: KeyRecord) -> Outcome:
        answer = self._admin_call("DELETE", path, advice)
        facts = {**record.facts(), "endpoint": f"DELETE {path}", "http_status": answer.status}
        if answer.status == 404:
            return AlreadyRevoked(detail=f"{what} is already gone (404)", facts=facts)
        return Revoked(detail=f"deleted {what}", facts=facts)

    def _remember_role(self, path: str, account: str) -> str:
        """The account's role (member | owner), read once; "member" if it cannot be read."""
        with self._lock:
            known = self._roles.get(account)
        if known is not None:
            return known
        try:
            answer = self._admin_call("GET", path, _PROJECT_ADVICE)
        except CallFailed:
            return "member"
        body = answer.body if isinstance(answer.body, Mapping) else {}
        role = str(body.get("role") or "member") if answer.status == 200 else "member"
        with self._lock:
            self._roles[account] = role
        return role

    def _try_key(self, cred: Credential) -> tuple[str, HttpAnswer]:
        """A harmless call made with the key itself: only a dead key gets 401."""
        assert cred.secret is not None
        if key_kind(cred) == KIND_ADMIN_KEY:
            path, params = "/organization/admin_api_keys", {"limit": 1}
        else:
            path, params = "/models", None
        action = f"GET {path}"
        return action, self._request("GET", path, action, key=cred.secret, params=params)

    def _not_listed(self, cred: Credential) -> Outcome:
        """No listed key fits: ask OpenAI with the key itself whether it still works."""
        action, answer = self._try_key(cred)
        facts = {"checked_with": action, "http_status": answer.status}
        if invalid_key(answer):
            return AlreadyRevoked(
                detail=f"no listed key matches, and OpenAI rejects this one as invalid "
                f"({action} → 401 {INVALID_KEY_CODE})",
                facts=facts,
            )
        if answer.status == 401:
            return self._unproven_401(cred, action, facts, listed=False)
        if answer.status < 300 or answer.status == 403:
            admin = key_kind(cred) == KIND_ADMIN_KEY
            where = (
                "the organization's admin keys"
                if admin
                else "the keys of "
                + (", ".join(self.settings.projects) or "any project the admin key can list")
            )
            return ManualRequired(
                instructions=(
                    f"OpenAI still accepts key {cred.fingerprint}, but it is not among {where}: "
                    "it belongs to another organization (or project). Delete it in that "
                    "organization's dashboard, or configure [providers.openai] with an admin key "
                    "(and projects) of that organization."
                ),
                url=ADMIN_KEYS_PAGE if admin else API_KEYS_PAGE,
                facts=facts,
            )
        return _ANSWERS.failure_for_status(answer.status, answer.headers, action, "")

    def _unproven_401(
        self, cred: Credential, action: str, facts: Mapping[str, Any], *, listed: bool
    ) -> Unproven:
        admin = key_kind(cred) == KIND_ADMIN_KEY
        where = (
            "the organization's admin keys" if admin
            else "the project's API keys (and the project's usage for calls with it)"
        )
        return Unproven(
            reason=f"OpenAI answered {action} with 401 but without its invalid-key code "
            f"({INVALID_KEY_CODE}): a live restricted key without the scope that call needs, "
            "or one used from outside its project's IP allow-list, gets the same status"
            + ("" if listed else "; and no listing the admin key can see holds it"),
            check=f"that {cred.fingerprint} is gone from {where}",
            url=ADMIN_KEYS_PAGE if admin else API_KEYS_PAGE,
            facts=dict(facts),
        )

    def _record_gone(self, cred: Credential) -> str | None:
        """OpenAI's own record of the key revoke found: "gone", "still listed", or None when
        there is none to read (no admin key, or the key was never located)."""
        with self._lock:
            record = self._located.get(cred.fingerprint)
        if record is None or not self.settings.admin_key:
            return None
        if record.owner_type == "admin":
            path = f"/organization/admin_api_keys/{record.key_id}"
        elif record.owner_type == "service_account" and record.service_account_id:
            path = (f"/organization/projects/{record.project_id}/service_accounts/"
                    f"{record.service_account_id}")
        else:
            path = f"/organization/projects/{record.project_id}/api_keys/{record.key_id}"
        answer = self._admin_call("GET", path, _PROJECT_ADVICE)
        return "gone" if answer.status == 404 else "still listed"

    def _unconfigured(self, cred: Credential) -> Outcome:
        admin = key_kind(cred) == KIND_ADMIN_KEY
        return ManualRequired(
            instructions=(
                f"Delete OpenAI {'admin key' if admin else 'key'} {cred.fingerprint} in the "
                f"dashboard (it ends in {cred.fingerprint.split()[0].lstrip('…')}), or give "
                'clawback an Admin API key (admin_key = "keyring:…" in [providers.openai]) '
                f"to do it next time. It was found in: {where_found(cred)}"
            ),
            url=ADMIN_KEYS_PAGE if admin else API_KEYS_PAGE,
        )

    def _manual(self, cred: Credential) -> Outcome:
        if key_kind(cred) in OAUTH_KINDS:
            return ManualRequired(
                instructions=(
                    f"The agent holds a ChatGPT/Codex sign-in token ({cred.fingerprint}); the "
                    "Admin API cannot revoke it. Sign out of all sessions under ChatGPT → "
                    "Settings → Security, change the account password, then sign the agent in "
                    f"again. Remove the old token from: {where_found(cred)}"
                ),
                url=CODEX_SIGN_OUT_PAGE,
            )
        return ManualRequired(
            instructions=(
                f"clawback cannot identify OpenAI {cred.kind} {cred.fingerprint} (its value is "
                f"unknown or unlike any OpenAI key): delete it in the dashboard. It was found "
                f"in: {where_found(cred)}"
            ),
            url=API_KEYS_PAGE,
        )

    # -- admin keys -----------------------------------------------------------------------------

    def _create_admin_key(self) -> tuple[str, SecretValue]:
        body: dict[str, Any] = {"name": f"clawback {datetime.now(UTC):%Y-%m-%d %H:%M}"}
        if self.settings.admin_key_expires_in_seconds is not None:
            body["expires_in_seconds"] = self.settings.admin_key_expires_in_seconds
        answer = self._admin_call(
            "POST", "/organization/admin_api_keys", _ADMIN_ADVICE, json_body=body
        )
        created = answer.body if isinstance(answer.body, Mapping) else {}
        if answer.status != 200 or not created.get("value") or not created.get("id"):
            raise CallFailed(
                answer.status,
                Failed(error="POST /organization/admin_api_keys: no new key in the answer"),
            )
        return str(created["id"]), SecretValue(str(created["value"]))

    def _store_admin_replacement(
        self, new_id: str, new: SecretValue, store: SecretStore, facts: dict[str, Any]
    ) -> str | Failed:
        """Store the new admin key, or withdraw it again so no live key is left homeless."""
        name = self.settings.store_name.format(target=f"admin-key/{new_id}")
        try:
            return store.store(name, new)
        except Exception as exc:
            path = f"/organization/admin_api_keys/{new_id}"
            try:
                withdrawn = self._request("DELETE", path, f"DELETE {path}", key=self._admin_key())
                facts["new_key_deleted"] = withdrawn.status in (200, 404)
            except CallFailed:
                facts["new_key_deleted"] = False
            return Failed(
                error=f"storing the new admin key failed ({describe_store_error(exc)}); the new "
                f"key was {'deleted' if facts['new_key_deleted'] else 'NOT deleted'}",
                facts=facts,
            )

    def _prove_admin_key(self, key: SecretValue) -> HttpAnswer:
        return self._request(
            "GET",
            "/organization/admin_api_keys",
            "GET /organization/admin_api_keys",
            key=key,
            params={"limit": 1},
        )

    def _replace_own_admin_key(self, cred: Credential) -> Outcome:
        """The exposed admin key is clawback's own: replace it, switch to the replacement, and
        delete it. Containment wins: without a working replacement it is deleted all the same."""
        matches = self._admin_keys().matching(self._value(cred))
        if len(matches) > 1:
            return _ambiguous(cred, matches)
        if not matches:
            return self._not_listed_admin(cred)
        old = matches[0]
        with self._lock:
            self._located[cred.fingerprint] = old
        rotated = as_outcome(lambda: self._rotate_admin_key(cred, old, self._store(), switch=True))
        if isinstance(rotated, Rotated):
            with self._lock:
                self._replaced[cred.fingerprint] = rotated
            return Revoked(
                detail=f"clawback's own admin key {old.key_id} was replaced (the new one is "
                f"stored at {rotated.new_reference}) and then deleted",
                facts={**rotated.facts, **old.facts()},
            )
        problem = getattr(rotated, "error", "") or rotated.detail
        deleted = as_outcome(
            lambda: self._delete(
                f"/organization/admin_api_keys/{old.key_id}",
                f"admin key {old.key_id}",
                _ADMIN_ADVICE,
                old,
            )
        )
        if isinstance(deleted, Failed):
            return replace(
                deleted,
                error=f"{problem}; deleting the exposed admin key failed too: {deleted.error}",
                facts={**rotated.facts, **deleted.facts},
            )
        with self._lock:
            self._orphaned.add(cred.fingerprint)
        return Revoked(
            detail=f"deleted clawback's own admin key {old.key_id} without a working "
            f"replacement ({problem}): create a new admin key in the dashboard",
            facts={**rotated.facts, **deleted.facts},
        )

    def _not_listed_admin(self, cred: Credential) -> Outcome:
        # The listing was made with this very key, so it works: it just is not shown.
        return ManualRequired(
            instructions=(
                f"clawback's own OpenAI admin key {cred.fingerprint} is exposed but not among "
                "the admin keys it can list: delete it in the dashboard, create a new one and "
                "store it under the admin_key reference in [providers.openai]."
            ),
            url=ADMIN_KEYS_PAGE,
        )

    def _rotate_admin_key(
        self, cred: Credential, old: KeyRecord | None, store: SecretStore, *, switch: bool
    ) -> Outcome:
        """create → store → test → finish (delete the old key unless it is already gone)."""
        new_id, new = self._create_admin_key()
        facts: dict[str, Any] = {"stage": "create", "new_key_id": new_id}
        reference = self._store_admin_replacement(new_id, new, store, facts)
        if isinstance(reference, Failed):
            return reference
        facts.update(stage="store", reference=reference)
        proved = self._prove_admin_key(new)
        if proved.status != 200:
            return Failed(
                error=f"the new admin key is stored at {reference} but OpenAI answered "
                f"{proved.status} to it",
                retryable=proved.status >= 500 or proved.status == 429,
                facts=facts,
            )
        facts["stage"] = "test"
        if switch:
            with self._lock:
                self._admin = new
        elif old is not None:
            kept = handed_over(store, facts, f"the old admin key {old.key_id} stays",
                               lambda: self._key_last_used(
                                   f"/organization/admin_api_keys/{old.key_id}"))
            if kept is not None:
                return kept
        if old is not None and old.key_id != new_id:
            path = f"/organization/admin_api_keys/{old.key_id}"
            try:
                finished = self._admin_call("DELETE", path, _ADMIN_ADVICE)
            except CallFailed as err:
                return replace(
                    err.failed,
                    error=f"the new admin key works and is stored at {reference}, but deleting "
                    f"the old one failed: {err.failed.error}",
                    facts=facts,
                )
            facts["old_key"] = "already gone" if finished.status == 404 else "deleted"
        facts["stage"] = "finish"
        return Rotated(
            detail=f"new admin key {new_id} stored at {reference}: point admin_key in "
            f"[providers.openai] at it",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    # -- rotate ---------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → test → finish; ``facts["stage"]`` is the last stage reached."""
        kind = key_kind(cred)
        try:
            if kind == KIND_ADMIN_KEY and cred.secret is not None:
                with self._lock:
                    done = self._replaced.get(cred.fingerprint)
                if done is not None:
                    return done
                if cred.fingerprint in self._orphaned:
                    return ManualRequired(
                        instructions="clawback's own admin key was deleted without a "
                        "replacement: create a new Admin API key and store it under the "
                        "admin_key reference in [providers.openai].",
                        url=ADMIN_KEYS_PAGE,
                    )
                if self._is_own_admin_key(cred):
                    return self._replace_own_admin_key(cred)
                return self._rotate_admin_key(cred, self._locate(cred), store, switch=False)
            if kind in PROJECT_KINDS and cred.secret is not None:
                record = self._locate(cred)
                if record is not None and record.owner_type == "service_account":
                    return self._rotate_service_account(record, store)
                return self._user_key_by_hand(cred, record)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        if kind in OAUTH_KINDS:
            return Skipped(reason="a sign-in token is replaced by signing the agent in again")
        return Skipped(reason=f"clawback cannot replace {cred.kind}")

    def _value(self, cred: Credential) -> str:
        assert cred.secret is not None
        return cred.secret.reveal()

    def _locate(self, cred: Credential) -> KeyRecord | None:
        """Where the key was (from revoke), or where it is now; None if nowhere or ambiguous."""
        with self._lock:
            known = self._located.get(cred.fingerprint)
        if known is not None:
            return known
        listed = (
            self._admin_keys() if key_kind(cred) == KIND_ADMIN_KEY else self._all_project_keys()
        )
        matches = listed.matching(self._value(cred))
        return matches[0] if len(matches) == 1 else None

    def _user_key_by_hand(self, cred: Credential, record: KeyRecord | None) -> Outcome:
        where = f" in project {record.project_id}" if record and record.project_id else ""
        name = self.settings.store_name.format(target="project-key")
        return ManualRequired(
            instructions=(
                f"OpenAI has no API that creates a user's project key. Create a replacement for "
                f"{cred.fingerprint}{where} in the dashboard (or use a service account), store "
                f"it with `keyring set clawback {name}`, and point the agent at it."
            ),
            url=API_KEYS_PAGE,
            facts=record.facts() if record else {},
        )

    def _key_last_used(self, path: str) -> datetime | None:
        """The Admin API's ``last_used_at`` of a key (None: never used, or gone)."""
        answer = self._admin_call("GET", path, _PROJECT_ADVICE)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        used = body.get("last_used_at") if answer.status == 200 else None
        return datetime.fromtimestamp(used, UTC) if isinstance(used, int | float) else None

    # -- usage (clawback investigate) -----------------------------------------------------------

    def usage(self, cred: Credential) -> Outcome:
        """OpenAI's ``last_used_at`` of the key, read-only. OpenAI keeps one time per key and
        no history of calls, and forgets the key when it is deleted: after ``contain`` the time
        OpenAI gave just before the delete is in the revoke entry's facts (``last_used_at``).
        The key is found by the id the revoke step recorded (``key_id``, ``account``: the
        project), never guessed from a redacted form."""
        if not cred.key_id:
            return Skipped(reason="no OpenAI key id was recorded for it (the revoke step "
                                  "records one when it finds the key in a listing)")
        if cred.account:
            path = f"/organization/projects/{cred.account}/api_keys/{cred.key_id}"
        elif key_kind(cred) == KIND_ADMIN_KEY:
            path = f"/organization/admin_api_keys/{cred.key_id}"
        else:
            return Skipped(reason=f"no project was recorded for OpenAI key {cred.key_id}")
        return as_outcome(lambda: self._usage_of(cred.key_id or "", path))

    def _usage_of(self, key_id: str, path: str) -> Outcome:
        answer = self._admin_call("GET", path, _PROJECT_ADVICE)
        source = f"openai:GET {path}"
        if answer.status == 404:
            return Skipped(reason=f"OpenAI no longer has key {key_id} (deleted); the last use "
                                  "it listed before the delete is in the revoke entry's facts")
        body = answer.body if isinstance(answer.body, Mapping) else {}
        used = _seconds(body.get("last_used_at"))
        when = _iso(used) if used is not None else ""
        return UsageReport(
            detail=f"{key_id}: " + (f"last used {when}" if when else "never used, OpenAI says"),
            last_used=when, sources=(source,),
            caveat="OpenAI keeps the time of the last use only, no list of calls",
        )

    def _scopes_for(self, old: KeyRecord) -> tuple[str, ...] | None:
        configured = self.settings.service_account_scopes
        for name in (old.service_account_id, old.service_account_name):
            if name and name in configured:
                return tuple(configured[name])
        return None

    def _rotate_service_account(self, old: KeyRecord, store: SecretStore) -> Outcome:
        """A new key with the old account's role and the configured scopes; the old account's
        other keys are never killed for it (see the module docstring)."""
        project, old_account = old.project_id, old.service_account_id
        base = f"/organization/projects/{project}/service_accounts"
        assert old_account is not None
        exists = self._admin_call("GET", f"{base}/{old_account}", _PROJECT_ADVICE).status != 404
        role = self._remember_role(f"{base}/{old_account}", old_account) if exists else (
            self._roles.get(old_account, "member"))
        siblings = [
            r.key_id for r in (self._project_keys(str(project)) if exists else [])
            if r.service_account_id == old_account and r.key_id != old.key_id
        ]
        scopes = self._scopes_for(old)
        facts: dict[str, Any] = {
            "stage": "create", "project_id": project, "role": role,
            "scopes": list(scopes) if scopes else "OpenAI's default (a key's scopes are not "
            "readable through the API; set service_account_scopes to carry them)",
        }
        if siblings:
            return self._new_key_beside_siblings(old, store, base, siblings, scopes, facts)
        # Repeated rotations keep one suffix, not a growing tail of them.
        label = _ROTATION_SUFFIX.sub("", old.service_account_name or old_account or "agent")
        answer = self._admin_call(
            "POST", base, _PROJECT_ADVICE,
            json_body={"name": f"{label} (clawback {datetime.now(UTC):%Y-%m-%d})",
                       "create_service_account_only": True},
        )
        created = answer.body if isinstance(answer.body, Mapping) else {}
        new_account = str(created.get("id") or "")
        facts["new_service_account_id"] = new_account
        if answer.status != 200 or not new_account:
            return Failed(error=f"POST {base}: the answer holds no new service account",
                          facts=facts)
        try:
            if role in ("member", "owner") and created.get("role") != role:
                self._admin_call("POST", f"{base}/{new_account}", _PROJECT_ADVICE,
                                 json_body={"role": role})
            new = self._create_account_key(base, new_account, scopes)
        except CallFailed as err:
            self._withdraw_account(base, new_account, facts)
            return replace(err.failed, facts={**err.failed.facts, **facts})
        name = self.settings.store_name.format(target=f"{project}/{new_account}")
        try:
            reference = store.store(name, new)
        except Exception as exc:
            withdrawn = self._withdraw_account(base, new_account, facts)
            return Failed(
                error="storing the new service account key failed "
                f"({describe_store_error(exc)}); the new account was "
                f"{'deleted' if withdrawn else 'NOT deleted'}",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        tested = self._test_new_key(new, reference, facts)
        if tested is not None:
            return tested
        facts["stage"] = "test"
        kept = handed_over(store, facts, f"the old service account {old_account} stays",
                           lambda: self._key_last_used(
                               f"/organization/projects/{project}/api_keys/{old.key_id}"))
        if kept is not None:
            return kept
        if exists and old_account != new_account:
            try:
                finished = self._admin_call("DELETE", f"{base}/{old_account}", _PROJECT_ADVICE)
            except CallFailed as err:
                return replace(
                    err.failed,
                    error=f"the new key works and is stored at {reference}, but deleting the "
                    f"old service account failed: {err.failed.error}",
                    facts=facts,
                )
            facts["old_service_account"] = "already gone" if finished.status == 404 else "deleted"
        else:
            facts["old_service_account"] = "already gone"
        facts["stage"] = "finish"
        return Rotated(
            detail=f"service account {new_account} ({role}) replaces {old_account} in "
            f"{project}; its key is stored at {reference}",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def _create_account_key(
        self, base: str, account: str, scopes: tuple[str, ...] | None
    ) -> SecretValue:
        body: dict[str, Any] = {"name": f"clawback {datetime.now(UTC):%Y-%m-%d}"}
        if scopes:
            body["scopes"] = list(scopes)
        answer = self._admin_call("POST", f"{base}/{account}/api_keys", _PROJECT_ADVICE,
                                  json_body=body)
        made = answer.body if isinstance(answer.body, Mapping) else {}
        if answer.status != 200 or not made.get("value"):
            raise CallFailed(answer.status, Failed(
                error=f"POST {base}/{account}/api_keys: the answer holds no new key"))
        return SecretValue(str(made["value"]))

    def _test_new_key(self, new: SecretValue, reference: str, facts: dict[str, Any]
                      ) -> Outcome | None:
        tested = self._request("GET", "/models", "GET /models", key=new)
        if tested.status == 200:
            return None
        if tested.status == 401 and not invalid_key(tested):
            # Authenticated, but restricted without api.model.read: the key itself works.
            facts["tested"] = "accepted as a key; its scopes do not include GET /models"
            return None
        failed = _ANSWERS.failure_for_status(
            tested.status, tested.headers, "GET /models", "", credential="the new key"
        )
        return replace(
            failed,
            error=f"the new key is stored at {reference} but GET /models with it answered "
            f"{tested.status}; the old key was left alone",
            facts=facts,
        )

    def _new_key_beside_siblings(
        self, old: KeyRecord, store: SecretStore, base: str, siblings: list[str],
        scopes: tuple[str, ...] | None, facts: dict[str, Any],
    ) -> Outcome:
        """The account holds other keys: a new key on the same account (its role kept, the
        others untouched); the old key cannot be deleted on its own through the API."""
        account = old.service_account_id
        assert account is not None
        facts["siblings_kept"] = siblings
        new = self._create_account_key(base, account, scopes)
        name = self.settings.store_name.format(target=f"{old.project_id}/{account}")
        try:
            reference = store.store(name, new)
        except Exception as exc:
            return Failed(
                error=f"storing the new key of service account {account} failed "
                f"({describe_store_error(exc)}), and OpenAI cannot delete one key of a service "
                "account: delete the newest key of that account in the dashboard",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        tested = self._test_new_key(new, reference, facts)
        if tested is not None:
            return tested
        facts["stage"] = "test"
        return ManualRequired(
            instructions=(
                f"The new key of service account {account} works and is stored at "
                f"{reference}. The old key {old.key_id} is still live: OpenAI's API deletes no "
                f"single key of a service account, and deleting the account would kill its "
                f"{len(siblings)} other key(s). Once the agent uses the new key, delete key "
                f"{old.key_id} in the dashboard (project {old.project_id} → API keys)."
            ),
            url=API_KEYS_PAGE,
            facts={**facts, "old_key": "still live: delete it by hand"},
        )

    def _withdraw_account(self, base: str, account: str, facts: dict[str, Any]) -> bool:
        """Delete a service account clawback just created and cannot use."""
        path = f"{base}/{account}"
        try:
            answer = self._request("DELETE", path, f"DELETE {path}", key=self._admin_key())
        except CallFailed:
            facts["new_service_account_deleted"] = False
            return False
        facts["new_service_account_deleted"] = answer.status in (200, 404)
        return bool(facts["new_service_account_deleted"])

    # -- verify ---------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """Prove the key is dead: a harmless call with it must get 401."""
        kind = key_kind(cred)
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        if kind in OAUTH_KINDS:
            return Skipped(reason="a sign-in token is checked by the person who signs out")
        if kind not in (*PROJECT_KINDS, KIND_ADMIN_KEY):
            return Skipped(reason=f"nothing to prove dead for {cred.kind}")
        try:
            action, answer = self._try_key(cred)
            facts: dict[str, Any] = {"checked_with": action, "http_status": answer.status}
            if answer.status == 401 and not invalid_key(answer):
                return self._unproven_401(cred, action, facts, listed=True)
            if answer.status != 401:
                return _ANSWERS.still_accepted(answer, action, "key", facts)
            facts["rejected_with"] = INVALID_KEY_CODE
            record = self._record_gone(cred)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        facts["record"] = record or "not read (no admin key, or the key was never listed)"
        if record == "still listed":
            return Unproven(
                reason="OpenAI rejects the key as invalid but its Admin API still lists it",
                check=f"that {cred.fingerprint} is gone from the dashboard's key list",
                url=ADMIN_KEYS_PAGE if kind == KIND_ADMIN_KEY else API_KEYS_PAGE,
                facts=facts,
            )
        return VerifiedDead(
            detail=f"OpenAI rejects the key as invalid ({action} → 401 {INVALID_KEY_CODE})"
            + ("; the Admin API no longer lists it" if record == "gone" else ""),
            facts=facts,
        )

    # -- preflight ------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Prove the admin key can list admin keys, projects, project keys and accounts."""
        try:
            _ = self.settings
            self._admin_key()
        except ResponderError as exc:
            return [
                PreflightCheck(
                    "openai", "admin key", False, detail=str(exc), missing_permission="admin_key"
                )
            ]
        checks: list[PreflightCheck] = []
        probes: list[tuple[str, str, str]] = [
            ("admin keys", "/organization/admin_api_keys", _ADMIN_ADVICE)
        ]
        try:
            projects = self._projects()
        except CallFailed as err:
            return [
                PreflightCheck(
                    "openai",
                    "projects",
                    False,
                    detail=err.failed.error,
                    missing_permission="list projects" if err.status in (401, 403) else "",
                )
            ]
        if not self.settings.projects:
            checks.append(
                PreflightCheck(
                    "openai", "projects", True, detail=f"{len(projects)} project(s) listed"
                )
            )
        for project in projects:
            keys = f"/organization/projects/{project}/api_keys"
            accounts = f"/organization/projects/{project}/service_accounts"
            probes.append((f"keys of {project}", keys, _PROJECT_ADVICE))
            probes.append((f"service accounts of {project}", accounts, _PROJECT_ADVICE))

        def probe(item: tuple[str, str, str]) -> PreflightCheck:
            capability, path, needed = item
            action = f"GET {path}"
            try:
                answer = self._request(
                    "GET", path, action, key=self._admin_key(), params={"limit": 1}
                )
            except CallFailed as err:
                return PreflightCheck("openai", capability, False, detail=err.failed.error)
            if answer.status == 200:
                return PreflightCheck("openai", capability, True, detail=f"{action}: 200")
            failed = _ANSWERS.failure_for_status(answer.status, answer.headers, action, needed)
            return PreflightCheck(
                "openai",
                capability,
                False,
                detail=failed.error,
                missing_permission=needed if answer.status in (401, 403, 404) else "",
            )

        return [*checks, *self.context.fan_out(probe, probes)]


def invalid_key(answer: HttpAnswer) -> bool:
    """OpenAI's documented answer for a key it does not accept: 401 with code invalid_api_key.
    (Its message is never repeated: it quotes part of the key.)"""
    body = answer.body if isinstance(answer.body, Mapping) else {}
    error = body.get("error")
    return (
        answer.status == 401
        and isinstance(error, Mapping)
        and error.get("code") == INVALID_KEY_CODE
    )


def _ambiguous(cred: Credential, matches: Sequence[KeyRecord]) -> ManualRequired:
    candidates = ", ".join(f"{r.key_id} ({r.project_id or 'admin key'})" for r in matches)
    return ManualRequired(
        instructions=(
            f"{len(matches)} OpenAI keys look like {cred.fingerprint} once redacted "
            f"({candidates}): clawback will not guess. Delete the right one in the dashboard."
        ),
        url=ADMIN_KEYS_PAGE if key_kind(cred) == KIND_ADMIN_KEY else API_KEYS_PAGE,
        facts={"candidates": [r.key_id for r in matches]},
    )

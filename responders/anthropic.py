"""Anthropic responder: API keys switched off through the Admin API, replacements by hand.

The Admin API lists an organization's keys with a redacted hint of each (``partial_key_hint``,
e.g. ``sk-ant-api03-R2D...igAA``) and can change a key's ``status``; it has no call that creates
or deletes a key. So:

- ``revoke`` finds the key whose hint fits the discovered value and sets it ``inactive``
  (``POST /v1/organizations/api_keys/{id}``), which an admin can undo in the Console: reversible
  containment, reported as ``Disabled``. With ``archive = true`` it is set ``archived`` instead
  (treated as final) and reported as ``Revoked``. A key that is already inactive, archived or
  expired is ``AlreadyRevoked``. A key no listing shows is tried with a harmless call
  (``GET /v1/models``): 401 ``authentication_error`` means dead, anything else becomes a guided
  step. Listings are paged to the end (``has_more``/``after_id``); one that stops early is an
  "incomplete listing" failure, never a silent cap;
- ``verify_revoked`` makes that harmless call with the old key and wants Anthropic's documented
  answer for a bad key, 401 ``authentication_error`` (https://docs.anthropic.com/en/api/errors),
  plus its own record: the key revoke found is ``inactive``/``archived``/``expired`` in the Admin
  API (``GET /v1/organizations/api_keys/{id}``). Any other answer is ``Unproven``;
- ``rotate`` is a guided step (Console link, what to create, where clawback will keep it);
  ``accept_replacement`` is what the engine calls with the key the operator pastes: it stores
  it first, proves it with the same harmless call, and withdraws the stored copy if Anthropic
  rejects it;
- admin keys and Claude sign-in tokens have no API at all: guided steps.

Config, the ``[providers.anthropic]`` table of clawback.toml (every key optional)::

    base_url = "https://api.anthropic.com"
    admin_key = "keyring:clawback/anthropic-admin"   # an Admin API key (sk-ant-admin…)
    anthropic_version = "2023-06-01"
    archive = false                     # true: archive (final) instead of inactive (reversible)
    workspaces = []                     # only search these workspace ids (default: all)
    timeout_seconds = 10
    connect_timeout_seconds = 3
    store_name = "anthropic/{target}"   # where pasted replacements go through the SecretStore
    extra_headers = {}

Errors become outcomes as in ``responders.github``: 429 (``Retry-After``), 5xx and 529
(overloaded), timeouts and refused connections → retryable; 401/403 → advice; a 404 on the
update → ``AlreadyRevoked``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from responders.http_answers import CallFailed, HttpAnswer, ProviderAnswers, listing_page
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
    Revoked,
    Rotated,
    SecretStore,
    SecretValue,
    Skipped,
    Unproven,
    VerifiedDead,
    admin_reference,
)
from responders.kit.redacted_keys import matches_redacted
from responders.provider_responder import (
    KEY_CAPABILITIES_WITH_DISABLE,
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

KIND_API_KEY = "anthropic:api_key"
KIND_ADMIN_KEY = "anthropic:admin_key"
KIND_OAUTH_TOKEN = "anthropic:oauth_token"
KIND_OAUTH_REFRESH = "anthropic:oauth_refresh"
_PREFIX_KINDS = (
    ("sk-ant-admin", KIND_ADMIN_KEY),
    ("sk-ant-oat", KIND_OAUTH_TOKEN),
    ("sk-ant-ort", KIND_OAUTH_REFRESH),
    ("sk-ant-", KIND_API_KEY),
)
DEAD_STATUSES = frozenset({"inactive", "archived", "expired"})

KEYS_PAGE = "https://console.anthropic.com/settings/keys"
ADMIN_KEYS_PAGE = "https://console.anthropic.com/settings/admin-keys"
CLAUDE_ACCOUNT_PAGE = "https://claude.ai/settings/account"

KEYS_PATH = "/v1/organizations/api_keys"
MODELS_PATH = "/v1/models"
_PAGE_SIZE = 100
_WORKSPACE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class AnthropicSettings:
    """The validated ``[providers.anthropic]`` table (see the module docstring)."""

    base_url: str = "https://api.anthropic.com"
    admin_key: str | None = None
    anthropic_version: str = "2023-06-01"
    archive: bool = False
    workspaces: tuple[str, ...] = ()
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    store_name: str = "anthropic/{target}"
    extra_headers: dict[str, str] = field(default_factory=dict)

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> AnthropicSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(AnthropicSettings, raw, "anthropic")
    require_references(
        "anthropic", [("admin_key", settings.admin_key)], noun="key", spaces_allowed=False
    )
    for workspace in settings.workspaces:
        if not _WORKSPACE_ID.match(workspace):
            raise ResponderError(f"[providers.anthropic] {workspace!r} is not a workspace id")
    require_positive_timeouts(
        "anthropic", settings.timeout_seconds, settings.connect_timeout_seconds
    )
    require_store_target("anthropic", settings.store_name)
    return settings


def key_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, _PREFIX_KINDS)


_ANSWERS = ProviderAnswers(
    provider="Anthropic",
    rate_limit="rate limit was hit (HTTP 429)",
    rejected="disabled, deleted or wrong; check admin_key in [providers.anthropic]",
    refused="refused the request (HTTP {status})",
    credential="the admin key",
    server_errors_wait=True,  # 529 is "overloaded"
    retry_after_ms=True,
)


@dataclass(frozen=True)
class ApiKeyRecord:
    """One key as the Admin API lists it. Holds no secret."""

    key_id: str
    hint: str
    name: str
    status: str
    workspace_id: str | None

    def facts(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "workspace_id": self.workspace_id or "default",
            "status_before": self.status,
        }


_ADMIN_ADVICE = (
    "the admin key must be an Admin API key (sk-ant-admin…) created by an organization admin "
    "under Console → Settings → Admin keys"
)


class AnthropicResponder(HttpProviderResponder[AnthropicSettings]):
    """Disables Anthropic API keys and checks them; see the module docstring."""

    name: ClassVar[str] = "anthropic"
    display_name: ClassVar[str] = "Anthropic"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"anthropic"})
    # No API creates a key: the operator pastes the one they made (accept_replacement).
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES_WITH_DISABLE | {
        Capability.ACCEPT_REPLACEMENT
    }
    # Anthropic documents no rate limit for its Admin API (the published limits are for
    # Messages); its 429 answers carry retry-after, which the runner honours.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=20, source="none published for the Admin API; 429 + retry-after"
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("admin_key", admin_reference("anthropic"),
                              "an Admin API key (sk-ant-admin...)"),
                ConfigSetting("archive", False,
                              "true: archive keys (final) instead of inactive (reversible)",
                              optional=True),
            ),
            permissions=(
                "an Admin API key of the organization: list API keys "
                "(GET /v1/organizations/api_keys) and change their status",
            ),
            console="https://console.anthropic.com/settings/admin-keys",
            note="no API creates or deletes a key: replacements are made by hand",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._located: dict[str, ApiKeyRecord] = {}

    # -- configuration and transport -----------------------------------------------------------

    def _admin_key(self) -> SecretValue:
        if not self.settings.admin_key:
            raise ResponderError(
                'this needs an Anthropic Admin API key: set admin_key = "keyring:SERVICE/USER" '
                f"in [providers.anthropic] (an organization admin creates one at {ADMIN_KEYS_PAGE})"
            )
        return self._store().resolve(self.settings.admin_key)

    def client_headers(self) -> dict[str, str]:
        s = self.settings
        return {
            "User-Agent": "clawback",
            "anthropic-version": s.anthropic_version,
            **s.extra_headers,
        }

    def auth_headers(self, key: SecretValue) -> dict[str, str]:
        return {"x-api-key": key.reveal()}

    def _list_keys(self) -> list[ApiKeyRecord]:
        """Every key of the organization (or of the configured workspaces), all statuses."""
        scopes: list[dict[str, Any]] = [{"workspace_id": w} for w in self.settings.workspaces]
        records: list[ApiKeyRecord] = []
        for scope in scopes or [{}]:
            query: dict[str, Any] = {"limit": _PAGE_SIZE, **scope}
            seen: set[str] = set()
            while True:
                action = f"GET {KEYS_PATH}"
                answer = self._request(
                    "GET", KEYS_PATH, action, key=self._admin_key(), params=query
                )
                if answer.status != 200:
                    raise CallFailed(
                        answer.status,
                        _ANSWERS.failure_for_status(
                            answer.status, answer.headers, action, _ADMIN_ADVICE
                        ),
                    )
                body = listing_page(answer, action, "Anthropic")
                page = [k for k in body.get("data") or () if isinstance(k, Mapping)]
                records += [
                    ApiKeyRecord(
                        key_id=str(k.get("id", "")),
                        hint=str(k.get("partial_key_hint") or ""),
                        name=str(k.get("name") or ""),
                        status=str(k.get("status") or ""),
                        workspace_id=k.get("workspace_id"),
                    )
                    for k in page
                ]
                last = body.get("last_id") or (page[-1].get("id") if page else None)
                if not body.get("has_more"):
                    break
                if not last or str(last) in seen:
                    raise CallFailed(answer.status, Failed(
                        error=f"{action}: incomplete listing (has_more without a new cursor "
                        f"after {len(records)} keys); nothing was concluded from it",
                        retryable=True,
                    ))
                seen.add(str(last))
                query["after_id"] = last
        return records

    def _matching(self, records: Sequence[ApiKeyRecord], cred: Credential) -> list[ApiKeyRecord]:
        assert cred.secret is not None
        value = cred.secret.reveal()
        return [r for r in records if r.hint and matches_redacted(r.hint, value)]

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke_all would send, from the config alone: no request is made."""
        status = "archived" if self.settings.archive else "inactive"
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            if not self.settings.admin_key:
                detail = f"{cred.kind}: by hand (no admin_key in [providers.anthropic])"
                out.append((cred, Planned(action="manual", detail=detail)))
            elif key_kind(cred) == KIND_API_KEY and cred.secret is not None:
                commands = (
                    f"GET {KEYS_PATH} (match partial_key_hint)",
                    f"POST {KEYS_PATH}/{{id}} {{status: {status}}}",
                    f"not found: GET {MODELS_PATH} with the key (401: already dead)",
                )
                detail = f"{KIND_API_KEY} {cred.fingerprint} → {status}"
                out.append((cred, Planned(action="revoke", commands=commands, detail=detail)))
            else:
                out.append((cred, Planned(action="manual", detail=f"{cred.kind}: by hand")))
        return out

    # -- revoke ---------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        return self.revoke_all([cred])[0][1]

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """List the organization's keys once, then switch every match off concurrently."""
        if (broken := self._config_failures(creds)) is not None:
            return broken
        outcomes: dict[int, Outcome] = {}
        keys = []
        for i, cred in enumerate(creds):
            if key_kind(cred) == KIND_API_KEY and cred.secret is not None:
                keys.append(i)
            else:
                outcomes[i] = self._manual(cred)
        if keys and not self.settings.admin_key:
            outcomes.update({i: self._unconfigured(creds[i]) for i in keys})
        elif keys:
            try:
                records = self._list_keys()
            except CallFailed as err:
                outcomes.update({i: err.failed for i in keys})
            except ResponderError as exc:
                outcomes.update({i: Failed(error=str(exc)) for i in keys})
            else:
                results = self._fan(lambda i: self._switch_off(creds[i], records), keys)
                outcomes.update(zip(keys, results, strict=True))
        return [(cred, outcomes[i]) for i, cred in enumerate(creds)]

    def _switch_off(self, cred: Credential, records: Sequence[ApiKeyRecord]) -> Outcome:
        matches = self._matching(records, cred)
        if not matches:
            return self._not_listed(cred)
        if len(matches) > 1:
            return ManualRequired(
                instructions=(
                    f"{len(matches)} Anthropic keys show the hint of {cred.fingerprint} "
                    f"({', '.join(r.key_id for r in matches)}): clawback will not guess. Disable "
                    "the right one in the Console."
                ),
                url=KEYS_PAGE,
                facts={"candidates": [r.key_id for r in matches]},
            )
        record = matches[0]
        with self._lock:
            self._located[cred.fingerprint] = record
        wanted = "archived" if self.settings.archive else "inactive"
        archive_pending = wanted == "archived" and record.status != "archived"
        if record.status in DEAD_STATUSES and not archive_pending:
            return AlreadyRevoked(
                detail=f"key {record.key_id} is already {record.status}", facts=record.facts()
            )
        path = f"{KEYS_PATH}/{record.key_id}"
        action = f"POST {path}"
        answer = self._request(
            "POST", path, action, key=self._admin_key(), json_body={"status": wanted}
        )
        facts = {**record.facts(), "endpoint": action, "http_status": answer.status}
        if answer.status == 404:
            return AlreadyRevoked(detail=f"key {record.key_id} is gone (404)", facts=facts)
        if answer.status != 200:
            return _ANSWERS.failure_for_status(
                answer.status,
                answer.headers,
                action,
                "the admin key may not change API keys: " + _ADMIN_ADVICE,
            )
        facts["status"] = wanted
        if wanted == "archived":
            return Revoked(detail=f"key {record.key_id} archived", facts=facts)
        return Disabled(
            detail=f"key {record.key_id} set inactive (an admin can reactivate it in the Console)",
            facts=facts,
        )

    def _unconfigured(self, cred: Credential) -> Outcome:
        return ManualRequired(
            instructions=(
                f"Disable Anthropic key {cred.fingerprint} in the Console (Settings → API keys; "
                f"it ends in {cred.fingerprint.split()[0].lstrip('…')}), or give clawback an "
                'Admin API key (admin_key = "keyring:…" in [providers.anthropic]) to do it next '
                f"time. It was found in: {where_found(cred)}"
            ),
            url=KEYS_PAGE,
        )

    def _not_listed(self, cred: Credential) -> Outcome:
        """No hint fits: ask Anthropic with the key itself whether it still works."""
        answer = self._try_key(cred)
        facts = {"checked_with": f"GET {MODELS_PATH}", "http_status": answer.status}
        if authentication_error(answer):
            return AlreadyRevoked(
                detail="no listed key matches, and Anthropic rejects this one (401 "
                "authentication_error)",
                facts=facts,
            )
        if answer.status == 401:
            return _unproven_401(cred, facts)
        if answer.status < 300 or answer.status == 403:
            return ManualRequired(
                instructions=(
                    f"Anthropic still accepts key {cred.fingerprint}, but the organization the "
                    "admin key manages does not list it: it belongs to another organization. "
                    "Disable it in that organization's Console (Settings → API keys), or give "
                    "clawback that organization's admin key."
                ),
                url=KEYS_PAGE,
                facts=facts,
            )
        return _ANSWERS.failure_for_status(answer.status, answer.headers, f"GET {MODELS_PATH}", "")

    def _try_key(self, cred: Credential) -> HttpAnswer:
        assert cred.secret is not None
        return self._request(
            "GET", MODELS_PATH, f"GET {MODELS_PATH}", key=cred.secret, params={"limit": 1}
        )

    def _manual(self, cred: Credential) -> Outcome:
        kind = key_kind(cred)
        where = where_found(cred)
        if kind == KIND_ADMIN_KEY:
            own = ""
            if self.settings.admin_key:
                try:
                    own = (
                        " It is the admin key clawback itself uses: store the new one under "
                        f"{self.settings.admin_key}."
                        if cred.secret is not None and self._admin_key() == cred.secret
                        else ""
                    )
                except ResponderError:
                    own = ""
            return ManualRequired(
                instructions=(
                    f"Anthropic admin keys cannot be disabled through the API. Delete admin key "
                    f"{cred.fingerprint} in the Console (Settings → Admin keys) and create a new "
                    f"one if you need it.{own} It was found in: {where}"
                ),
                url=ADMIN_KEYS_PAGE,
            )
        if kind in (KIND_OAUTH_TOKEN, KIND_OAUTH_REFRESH):
            return ManualRequired(
                instructions=(
                    f"The agent holds a Claude sign-in token ({cred.fingerprint}); no API revokes "
                    "it. Log out of all sessions in your claude.ai account settings, change the "
                    f"password, then sign the agent in again. Remove the old token from: {where}"
                ),
                url=CLAUDE_ACCOUNT_PAGE,
            )
        return ManualRequired(
            instructions=(
                f"clawback cannot identify Anthropic {cred.kind} {cred.fingerprint}: disable it "
                f"in the Console. It was found in: {where}"
            ),
            url=KEYS_PAGE,
        )

    # -- rotate ---------------------------------------------------------------------------------

    def _store_target(self, cred: Credential) -> str:
        with self._lock:
            record = self._located.get(cred.fingerprint)
        if record is not None:
            return f"{record.workspace_id or 'default'}/{record.key_id}"
        return "api-key-" + cred.fingerprint.rsplit(":", 1)[-1]

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """Anthropic cannot create keys: say exactly what to create and where it will be kept.

        The engine later hands the pasted key to ``accept_replacement``.
        """
        kind = key_kind(cred)
        if kind != KIND_API_KEY:
            return Skipped(reason=f"{cred.kind} is replaced by hand (see its revoke step)")
        with self._lock:
            record = self._located.get(cred.fingerprint)
        workspace = (record.workspace_id or "Default") if record else "the same workspace"
        name = record.name if record and record.name else "the agent's key"
        name_in_store = self.settings.store_name.format(target=self._store_target(cred))
        return ManualRequired(
            instructions=(
                f"Anthropic has no API that creates keys. In the Console (Settings → API keys) "
                f"create a key in workspace {workspace} to replace {name} ({cred.fingerprint}), "
                f"then paste it when clawback asks (or run `clawback contain --resume` with the "
                f"incident id). clawback stores it as {name_in_store} and checks it with a "
                "harmless call before anything uses it."
            ),
            url=KEYS_PAGE,
            facts={
                "replaces": cred.fingerprint,
                "store_as": name_in_store,
                **(record.facts() if record else {}),
            },
        )

    def accept_replacement(
        self, cred: Credential, new_value: SecretValue, store: SecretStore
    ) -> Outcome:
        """Store the key the operator pasted for ``cred``, then prove it works.

        Stored first, so a key Anthropic showed only once is never lost; withdrawn from the
        store again if Anthropic rejects it. What was pasted is never echoed.
        """
        pasted = new_value.reveal().strip()
        new = SecretValue(pasted)
        if not pasted.startswith("sk-ant-") or key_kind(_pasted(new)) != KIND_API_KEY:
            return Failed(
                error="what was pasted is not an Anthropic API key (sk-ant-api…): nothing stored"
            )
        if cred.secret is not None and cred.secret == new:
            return Failed(error="that is the exposed key itself: create a new one in the Console")
        name = self.settings.store_name.format(target=self._store_target(cred))
        try:
            reference = store.store(name, new)
        except Exception as exc:
            return Failed(error=f"storing the new key failed: {describe_store_error(exc)}")
        facts: dict[str, Any] = {"stage": "store", "reference": reference}
        try:
            answer = self._try_key(_pasted(new))
        except CallFailed as err:
            return Failed(
                error=f"the new key is stored at {reference} but could not be checked: "
                f"{err.failed.error}",
                retryable=True,
                facts=facts,
            )
        facts["http_status"] = answer.status
        if answer.status in (401, 403):
            try:
                store.delete(name)
                facts["stored_copy"] = "removed"
            except ResponderError:
                facts["stored_copy"] = "not removed"
            return Failed(
                error=f"Anthropic rejects the pasted key (HTTP {answer.status}); it was "
                f"{facts['stored_copy']} from the keyring. Paste the key you just created.",
                facts=facts,
            )
        if answer.status != 200:
            failed = _ANSWERS.failure_for_status(
                answer.status, answer.headers, f"GET {MODELS_PATH}", "", credential="the new key"
            )
            return replace(
                failed,
                error=f"the new key is stored at {reference} but the check failed: {failed.error}",
                facts=facts,
            )
        facts["stage"] = "finish"
        return Rotated(
            detail=f"the pasted key works and is stored at {reference}: point the agent at it",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    # -- verify ---------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """Prove the key is dead: ``GET /v1/models`` with it must get 401."""
        if key_kind(cred) != KIND_API_KEY:
            return Skipped(reason=f"{cred.kind} is checked by the person who revokes it")
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        try:
            answer = self._try_key(cred)
        except CallFailed as err:
            return err.failed
        facts: dict[str, Any] = {"checked_with": f"GET {MODELS_PATH}",
                                 "http_status": answer.status}
        if answer.status == 401 and not authentication_error(answer):
            return _unproven_401(cred, facts)
        if answer.status != 401:
            return _ANSWERS.still_accepted(answer, f"GET {MODELS_PATH}", "key", facts)
        with self._lock:
            record = self._located.get(cred.fingerprint)
        if record is not None and self.settings.admin_key:
            path = f"{KEYS_PATH}/{record.key_id}"
            try:
                held = self._request("GET", path, f"GET {path}", key=self._admin_key())
            except CallFailed as err:
                return err.failed
            body = held.body if isinstance(held.body, Mapping) else {}
            status = "deleted" if held.status == 404 else str(body.get("status") or "")
            facts["record"] = status or f"HTTP {held.status}"
            if status not in (*DEAD_STATUSES, "deleted"):
                return Unproven(
                    reason="Anthropic rejects the key (401 authentication_error) but its Admin "
                    f"API shows key {record.key_id} {status or 'unreadable'}",
                    check=f"that key {record.key_id} is inactive or archived in the Console",
                    url=KEYS_PAGE,
                    facts=facts,
                )
        return VerifiedDead(
            detail="Anthropic rejects the key (401 authentication_error)"
            + (f"; the Admin API shows it {facts['record']}" if "record" in facts else ""),
            facts=facts,
        )

    # -- preflight ------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Prove the admin key can list the organization's API keys."""
        try:
            key = self._admin_key()
        except ResponderError as exc:
            return [
                PreflightCheck(
                    "anthropic", "admin key", False, detail=str(exc), missing_permission="admin_key"
                )
            ]
        action = f"GET {KEYS_PATH}"
        try:
            answer = self._request("GET", KEYS_PATH, action, key=key, params={"limit": 1})
        except CallFailed as err:
            return [PreflightCheck("anthropic", "list API keys", False, detail=err.failed.error)]
        if answer.status == 200:
            return [PreflightCheck("anthropic", "list API keys", True, detail=f"{action}: 200")]
        failed = _ANSWERS.failure_for_status(answer.status, answer.headers, action, _ADMIN_ADVICE)
        return [
            PreflightCheck(
                "anthropic",
                "list API keys",
                False,
                detail=failed.error,
                missing_permission="an Admin API key" if answer.status in (401, 403) else "",
            )
        ]


def authentication_error(answer: HttpAnswer) -> bool:
    """Anthropic's documented answer for a bad key: 401 with error type authentication_error."""
    body = answer.body if isinstance(answer.body, Mapping) else {}
    error = body.get("error")
    return answer.status == 401 and isinstance(error, Mapping) and (
        error.get("type") == "authentication_error")


def _unproven_401(cred: Credential, facts: Mapping[str, Any]) -> Unproven:
    return Unproven(
        reason="Anthropic answered 401 without its documented error type for a bad key "
        "(authentication_error)",
        check=f"that {cred.fingerprint} is inactive or archived in the Console (Settings → API "
        "keys), and that the usage page shows no calls with it since",
        url=KEYS_PAGE,
        facts=dict(facts),
    )


def _pasted(value: SecretValue) -> Credential:
    return Credential(
        provider="anthropic", kind=KIND_API_KEY, fingerprint=value.fingerprint, secret=value
    )

"""OpenRouter responder: API keys (``sk-or-v1-…``) are deleted or disabled, replaced and proven
dead through the management API, with a management key (formerly "provisioning key").

A discovered key is only a value; the management API knows keys by a ``hash`` and shows each
one redacted in ``label`` (``sk-or-v1-0e6...1c96``). OpenRouter documents no way to compute the
hash from the value, so clawback lists every key (``GET /keys?include_disabled=true``, paged with
``offset`` until a page comes back empty, in the default workspace and in every workspace
``GET /workspaces`` names) and takes the one whose label fits the value. Two keys that look the
same once redacted are a guided step: clawback never guesses. Then:

- ``revoke`` deletes the key (``DELETE /keys/{hash}``), or switches it off
  (``PATCH /keys/{hash}`` with ``disabled: true``, reversible) when ``revoke_action =
  "disable"``; a key already gone or disabled is ``AlreadyRevoked``. A key missing from the
  complete listing is tried once with its own ``GET /key``: 401 means already dead; a key that
  still answers is in no workspace the management key can see, or is a management key itself
  (the API manages neither): a guided step, never a false success.
- ``rotate`` creates a replacement (``POST /keys``) carrying over the old key's name (with a
  "(clawback YYYY-MM-DD)" suffix), credit ``limit``, ``limit_reset``, ``include_byok_in_limit``,
  ``workspace_id`` and a future ``expires_at``; stores it through the SecretStore *before*
  anything else (a replacement that cannot be stored is deleted again), proves it with its own
  ``GET /key``, waits until the agent is proven to use it (``handed_over``), and only then
  retires the old key (already gone after a revoke). The new key's spending starts from zero:
  ``limit`` is a cap per key, not a shared budget.
- ``verify_revoked`` asks ``GET /key`` with the old value. OpenRouter answers 401 for "disabled/
  invalid API key" (https://openrouter.ai/docs/api/reference/errors-and-debugging): the same
  answer for a deleted key and for a disabled one, which a management key can switch back on.
  So the 401 is proof only together with OpenRouter's own record: the key's hash answers 404
  (deleted) or ``disabled: true``, or, when clawback never learnt its hash, no key of a
  complete listing fits the value. A 401 while the record still shows the key active, or while
  the listing cannot be completed (a workspace the management key may not read), is
  ``Unproven`` with what to check. A 402 (no credits) or 403 (guardrail) means the key still
  authenticates: not dead.

Doc pages followed: https://openrouter.ai/docs/guides/overview/auth/management-api-keys,
https://openrouter.ai/docs/cookbook/administration/api-key-rotation,
https://openrouter.ai/docs/api/api-reference/api-keys/ (list, create, update, delete, get
current key), https://openrouter.ai/docs/api/api-reference/workspaces/list-workspaces.

Permission: a *management* key (https://openrouter.ai/settings/management-keys); it is accepted
only by the management endpoints, which is all clawback needs. Management keys themselves are
not listed nor deleted by the API: one the agent held is a guided step.

Config, the ``[providers.openrouter]`` table of clawback.toml::

    management_key = "keyring:clawback/openrouter-management"   # required, a reference
    base_url = "https://openrouter.ai/api/v1"
    revoke_action = "delete"                 # or "disable" (reversible)
    store_name = "openrouter/{target}"       # where replacements go through the SecretStore
    timeout_seconds = 10
    connect_timeout_seconds = 3

Errors become outcomes as elsewhere (``responders.http_answers``): 429 with ``Retry-After``, 5xx,
timeouts and refused connections → ``Failed(retryable=True)``; 401 names the management key;
403 says what it lacks; 404 on a delete or update → ``AlreadyRevoked``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from responders.http_answers import (
    CallFailed,
    HttpAnswer,
    ProviderAnswers,
    json_object,
    listing_page,
)
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
    SecretStore,
    SecretValue,
    Skipped,
    Unproven,
    VerifiedDead,
)
from responders.kit.redacted_keys import matches_redacted
from responders.provider_responder import (
    KEY_CAPABILITIES_WITH_DISABLE,
    KeyReplacingResponder,
    NewKey,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

KIND_API_KEY = "openrouter:api_key"
KEYS_PAGE = "https://openrouter.ai/settings/keys"
MANAGEMENT_KEYS_PAGE = "https://openrouter.ai/settings/management-keys"
_ROTATION_SUFFIX = re.compile(r" \(clawback \d{4}-\d{2}-\d{2}\)$")
_WORKSPACE_PAGE = 100  # the documented maximum of GET /workspaces ``limit``
# A listing that never ends (a server ignoring ``offset``) is cut here and reported as an
# incomplete listing, never read as complete: 100 keys a page, a million keys.
_MAX_PAGES = 10_000
MANAGEMENT_ADVICE = (
    "the management key must be an OpenRouter management key (Settings → Management Keys), "
    "not an ordinary API key"
)


@dataclass(frozen=True)
class OpenRouterSettings:
    """The validated ``[providers.openrouter]`` table (see the module docstring)."""

    management_key: str
    base_url: str = "https://openrouter.ai/api/v1"
    revoke_action: Literal["delete", "disable"] = "delete"
    store_name: str = "openrouter/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> OpenRouterSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(OpenRouterSettings, raw, "openrouter")
    require_references("openrouter", [("management_key", settings.management_key)], noun="key")
    require_positive_timeouts(
        "openrouter", settings.timeout_seconds, settings.connect_timeout_seconds
    )
    require_store_target("openrouter", settings.store_name)
    return settings


# OpenRouter's error messages are never repeated: nothing documents that they never quote a key.
_ANSWERS = ProviderAnswers(
    provider="OpenRouter",
    rate_limit="rate limit was hit (HTTP 429)",
    rejected="deleted, disabled or not a management key; check management_key in "
    "[providers.openrouter]",
    credential="the management key",
)


@dataclass(frozen=True)
class KeyRecord:
    """One key as the management API lists it. Holds no secret (``label`` is redacted)."""

    key_hash: str
    label: str
    name: str
    disabled: bool
    workspace_id: str | None = None
    carried: Mapping[str, Any] = field(default_factory=dict)  # what a replacement keeps

    @property
    def key_id(self) -> str:
        return self.key_hash

    @property
    def shown(self) -> str:
        return f"{self.key_hash[:12]}…"

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key_hash": self.key_hash, "name": self.name}
        if self.workspace_id:
            out["workspace_id"] = self.workspace_id
        return out


@dataclass(frozen=True)
class _Listing:
    records: tuple[KeyRecord, ...]
    workspaces: int

    def matching(self, value: str) -> list[KeyRecord]:
        return [r for r in self.records if r.label and matches_redacted(r.label, value)]


def _record(item: Mapping[str, Any]) -> KeyRecord:
    carried: dict[str, Any] = {
        k: item[k]
        for k in ("limit", "limit_reset", "include_byok_in_limit", "workspace_id")
        if item.get(k) is not None
    }
    expires = item.get("expires_at")
    if isinstance(expires, str) and _in_future(expires):
        carried["expires_at"] = expires
    return KeyRecord(
        key_hash=str(item.get("hash") or ""),
        label=str(item.get("label") or ""),
        name=str(item.get("name") or ""),
        disabled=item.get("disabled") is True,
        workspace_id=str(item["workspace_id"]) if item.get("workspace_id") else None,
        carried=carried,
    )


def _in_future(timestamp: str) -> bool:
    try:
        when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) > datetime.now(UTC)


class OpenRouterResponder(KeyReplacingResponder[OpenRouterSettings, KeyRecord]):
    """Deletes (or disables), replaces and checks OpenRouter keys; see the module docstring."""

    name: ClassVar[str] = "openrouter"
    display_name: ClassVar[str] = "OpenRouter"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    replacement_console: ClassVar[str] = "the dashboard"
    old_key_fact: ClassVar[str] = "old_key"
    providers: ClassVar[frozenset[str]] = frozenset({"openrouter"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES_WITH_DISABLE
    # openrouter.ai/docs/api/reference/limits documents limits for inference (free models, DDoS
    # protection) and none for the management API; its 429 answers are retried by the runner.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10, source="none published for the management API; 429 answers are retried"
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("management_key", "keyring:clawback/openrouter-management",
                              "a management key (not an API key: those can't manage keys)"),
                ConfigSetting("revoke_action", "disable",
                              "reversible instead of a delete", optional=True),
            ),
            permissions=(
                "a management key of the account: list keys in every workspace, delete or "
                "disable them, create replacements",
            ),
            console=MANAGEMENT_KEYS_PAGE,
            note="a management key the agent held is never listed by the API: revoke it in "
                 "the console by hand",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._management: SecretValue | None = None
        self._located: dict[str, KeyRecord] = {}  # fingerprint → the key revoke found

    # -- configuration and transport -----------------------------------------------------------

    def _management_key(self) -> SecretValue:
        with self._lock:
            if self._management is None:
                self._management = self._store().resolve(self.settings.management_key)
            return self._management

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _managed(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> HttpAnswer:
        """A management call that succeeded (2xx) or answered 404, which the caller judges."""
        action = f"{method} {path}"
        answer = self._request(
            method, path, action, key=self._management_key(), params=params, json_body=json_body
        )
        if answer.status < 300 or answer.status == 404:
            return answer
        raise CallFailed(
            answer.status,
            _ANSWERS.failure_for_status(answer.status, answer.headers, action, MANAGEMENT_ADVICE),
        )

    def _own_call(self, key: SecretValue) -> HttpAnswer:
        """``GET /key`` with ``key`` itself."""
        return self._request("GET", "/key", "GET /key", key=key)

    # -- listing --------------------------------------------------------------------------------

    def _paged(self, path: str, params: Mapping[str, Any], size: int | None) -> list[Any]:
        """Every item of an offset-paged listing, until a page is empty (or, with ``size``,
        shorter than it); a page that repeats an earlier one is an incomplete listing."""
        items: list[Any] = []
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            query = {**params, "offset": len(items), **({"limit": size} if size else {})}
            answer = self._managed("GET", path, params=query)
            if answer.status == 404:
                raise CallFailed(404, Failed(error=f"GET {path}: not found (404); check "
                                             "base_url in [providers.openrouter]"))
            page = [i for i in listing_page(answer, f"GET {path}", "OpenRouter")["data"]
                    if isinstance(i, Mapping)]
            ids = {str(i.get("hash") or i.get("id") or "") for i in page} - {""}
            if ids & seen:
                break
            seen |= ids
            items += page
            if not page or (size is not None and len(page) < size):
                return items
        raise CallFailed(200, Failed(
            error=f"GET {path}: incomplete listing (a page repeated an earlier one after "
            f"{len(items)} items); nothing was concluded from it",
            retryable=True,
        ))

    def _workspaces(self) -> list[str]:
        listed = self._paged("/workspaces", {}, _WORKSPACE_PAGE)
        return [str(w["id"]) for w in listed if w.get("id")]

    def _listing(self) -> _Listing:
        """Every key the management key can see: the default workspace and every workspace."""
        workspaces = self._workspaces()
        scopes: list[str | None] = [None, *workspaces]

        def keys_of(workspace: str | None) -> list[Any] | Failed:
            params: dict[str, Any] = {"include_disabled": "true"}
            if workspace:
                params["workspace_id"] = workspace
            try:
                return self._paged("/keys", params, None)
            except CallFailed as err:
                return err.failed

        records: dict[str, KeyRecord] = {}
        for listed in self.context.fan_out(keys_of, scopes):
            if isinstance(listed, Failed):
                raise CallFailed(0, listed)
            for item in listed:
                record = _record(item)
                if record.key_hash:
                    records.setdefault(record.key_hash, record)
        return _Listing(tuple(records.values()), len(workspaces))

    def _is_management_key(self, cred: Credential) -> bool:
        try:
            return cred.secret is not None and self._management_key() == cred.secret
        except ResponderError:
            return False

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke_all would send, from the config alone: no request is made."""
        act = (
            "DELETE /keys/{hash}" if self.settings.revoke_action == "delete"
            else "PATCH /keys/{hash} {disabled: true}"
        )
        commands = (
            "GET /workspaces (paged)",
            "GET /keys?include_disabled=true (default workspace and each workspace, paged)",
            "match label (the redacted key)",
            act,
            "not listed: GET /key with the key itself (401: already dead)",
        )
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            if cred.secret is None:
                out.append((cred, self._unknown_value(cred)))
                continue
            out.append((cred, Planned(action=self.settings.revoke_action, commands=commands,
                                      detail=f"{cred.kind} {cred.fingerprint}")))
        return out

    # -- revoke ---------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        return self.revoke_all([cred])[0][1]

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """List every key once, then delete (or disable) each match concurrently."""
        if (broken := self._config_failures(creds)) is not None:
            return broken
        outcomes: dict[int, Outcome] = {}
        wanted: list[int] = []
        for i, cred in enumerate(creds):
            if cred.secret is None:
                outcomes[i] = self._unknown_value(cred)
            elif self._is_management_key(cred):
                outcomes[i] = _own_management_key(cred)
            else:
                wanted.append(i)
        if wanted:
            try:
                listed = self._listing()
            except CallFailed as err:
                outcomes.update({i: err.failed for i in wanted})
            except ResponderError as exc:
                outcomes.update({i: Failed(error=str(exc)) for i in wanted})
            else:
                done = self._fan(lambda i: self._revoke_one(creds[i], listed), wanted)
                outcomes.update(zip(wanted, done, strict=True))
        return [(cred, outcomes[i]) for i, cred in enumerate(creds)]

    def _revoke_one(self, cred: Credential, listed: _Listing) -> Outcome:
        assert cred.secret is not None
        matches = listed.matching(cred.secret.reveal())
        if len(matches) > 1:
            return _ambiguous(cred, matches)
        if not matches:
            return self._not_listed(cred, listed)
        record = matches[0]
        with self._lock:
            self._located[cred.fingerprint] = record
        return self._retire(record)

    def _retire(self, record: KeyRecord) -> Outcome:
        """Delete or disable the key, as configured."""
        path = f"/keys/{record.key_hash}"
        facts = record.facts()
        if self.settings.revoke_action == "disable":
            if record.disabled:
                return AlreadyRevoked(detail=f"key {record.shown} is already disabled",
                                      facts={**facts, "disabled": True})
            answer = self._managed("PATCH", path, json_body={"disabled": True})
            facts["endpoint"] = "PATCH /keys/{hash}"
            if answer.status == 404:
                return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
            self._mark_retired(record)
            return Disabled(detail=f"key {record.shown} disabled (reversible; "
                            "rotate replaces it)", facts={**facts, "disabled": True})
        answer = self._managed("DELETE", path)
        facts["endpoint"] = "DELETE /keys/{hash}"
        if answer.status == 404:
            return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
        self._mark_retired(record)
        return Revoked(detail=f"key {record.shown} deleted", facts=facts)

    def _not_listed(self, cred: Credential, listed: _Listing) -> Outcome:
        """No key of the complete listing fits: dead, a management key, or out of sight."""
        assert cred.secret is not None
        answer = self._own_call(cred.secret)
        facts: dict[str, Any] = {"checked_with": "GET /key", "http_status": answer.status,
                                 "workspaces_listed": listed.workspaces + 1}
        if answer.status == 401:
            return AlreadyRevoked(
                detail="OpenRouter rejects the key (401) and no listed key fits it", facts=facts
            )
        if answer.status >= 300 and answer.status not in (402, 403):
            return _ANSWERS.failure_for_status(answer.status, answer.headers, "GET /key", "",
                                               credential="the key", facts=facts)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        data = json_object(body.get("data"))
        if data.get("is_management_key") or data.get("is_provisioning_key"):
            return ManualRequired(
                instructions=f"{cred.fingerprint} (found at {_places(cred)}) is an OpenRouter "
                "management key: the API neither lists nor deletes those. Delete it under "
                "Settings → Management Keys.",
                url=MANAGEMENT_KEYS_PAGE,
                facts=facts,
            )
        return ManualRequired(
            instructions=f"OpenRouter still accepts {cred.fingerprint} (found at "
            f"{_places(cred)}), but no key the management key can list fits it: it belongs to "
            "another account or to a workspace this management key cannot see. Delete it "
            "under Settings → API Keys of the account that owns it.",
            url=KEYS_PAGE,
            facts=facts,
        )

    def _unknown_value(self, cred: Credential) -> Outcome:
        return ManualRequired(
            instructions=f"The value of {cred.kind} {cred.fingerprint} is unknown, so it cannot "
            f"be matched: delete it under Settings → API Keys ({_places(cred)}).",
            url=KEYS_PAGE,
        )

    # -- rotate ---------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → test → agent handover → retire the old key (unless revoke did)."""
        if cred.secret is None:
            return self._unknown_value(cred)
        try:
            if self._is_management_key(cred):
                return _own_management_key(cred)
            with self._lock:
                old = self._located.get(cred.fingerprint)
            if old is None:
                matches = self._listing().matching(cred.secret.reveal())
                if len(matches) > 1:
                    return _ambiguous(cred, matches)
                if not matches:
                    return ManualRequired(
                        instructions=f"No listed OpenRouter key fits {cred.fingerprint}, so "
                        "there are no settings to carry over: create a new key under Settings "
                        "→ API Keys with the credit limit the agent needs, store it with "
                        "`keyring set clawback openrouter/agent`, and point the agent at it.",
                        url=KEYS_PAGE,
                    )
                old = matches[0]
                with self._lock:
                    self._located[cred.fingerprint] = old
            return self._replace(old, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _create_replacement(self, old: KeyRecord, facts: dict[str, Any]) -> NewKey | Failed:
        label = _ROTATION_SUFFIX.sub("", old.name or "agent")
        body = {**old.carried, "name": f"{label} (clawback {datetime.now(UTC):%Y-%m-%d})"}
        facts.update(old_key_hash=old.key_hash, carried_over=sorted(old.carried))
        answer = self._managed("POST", "/keys", json_body=body)
        created = json_object(answer.body)
        new_hash = str(json_object(created.get("data")).get("hash") or "")
        value = created.get("key")
        if answer.status not in (200, 201) or not new_hash or not isinstance(value, str):
            return Failed(error=f"POST /keys answered {answer.status} without a new key",
                          facts=facts)
        facts["new_key_hash"] = new_hash
        return NewKey(SecretValue(value), new_hash, store_target=f"keys/{new_hash}")

    def _delete_replacement(self, old: KeyRecord, new: NewKey) -> bool:
        return self._managed("DELETE", f"/keys/{new.key_id}").status in (200, 404)

    def _replacement_accepted(self, new: NewKey) -> Failed | None:
        """The new key answers its own ``GET /key``."""
        tested = self._own_call(new.value)
        if tested.status == 200:
            return None
        failed = _ANSWERS.failure_for_status(
            tested.status, tested.headers, "GET /key", "", credential="the new key"
        )
        return replace(failed, error=f"GET /key with it answered {tested.status}")

    def _rotated_detail(self, old: KeyRecord, new: NewKey, reference: str) -> str:
        return (f"new key {new.key_id[:12]}… replaces {old.shown} "
                f"({', '.join(sorted(old.carried)) or 'no limits'} carried over); stored at "
                f"{reference}")

    # -- verify ---------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """``GET /key`` with the old value answers 401, and OpenRouter's record agrees: the
        hash is gone or disabled, or no key of a complete listing fits the value."""
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        try:
            answer = self._own_call(cred.secret)
            facts: dict[str, Any] = {"checked_with": "GET /key", "http_status": answer.status}
            if answer.status == 402:  # out of credits, but the key authenticated
                return Failed(error="OpenRouter still accepts the key (HTTP 402: it has no "
                              "credits left, but it authenticates)", retryable=True, facts=facts)
            if answer.status != 401:
                return _ANSWERS.still_accepted(answer, "GET /key", "key", facts)
            return self._verified_by_record(cred, facts)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verified_by_record(self, cred: Credential, facts: dict[str, Any]) -> Outcome:
        assert cred.secret is not None
        with self._lock:
            known = self._located.get(cred.fingerprint)
        if known is not None:
            answer = self._managed("GET", f"/keys/{known.key_hash}")
            body = answer.body if isinstance(answer.body, Mapping) else {}
            data = json_object(body.get("data"))
            state = ("deleted" if answer.status == 404
                     else "disabled" if data.get("disabled") is True else "active")
            facts.update(record=state, key_hash=known.key_hash)
        else:
            try:
                listed = self._listing()
            except CallFailed as err:
                if err.failed.retryable:
                    raise
                return Unproven(
                    reason="OpenRouter rejects the key (401), the same answer it gives a "
                    "disabled key, and its listing of keys could not be read to tell: "
                    + err.failed.error,
                    check=f"that no key ending in {cred.secret.reveal()[-4:]} is listed "
                    "(enabled) under Settings → API Keys, in every workspace",
                    url=KEYS_PAGE,
                    facts=facts,
                )
            matches = listed.matching(cred.secret.reveal())
            facts["workspaces_listed"] = listed.workspaces + 1
            state = ("absent" if not matches
                     else "disabled" if all(m.disabled for m in matches) else "active")
            facts["record"] = state
        if state == "active":
            return Unproven(
                reason="OpenRouter rejects the key (401) but its management API still lists "
                "it enabled",
                check=f"that {cred.fingerprint} is deleted or disabled under Settings → API "
                "Keys",
                url=KEYS_PAGE,
                facts=facts,
            )
        return VerifiedDead(
            detail=f"OpenRouter rejects the key (GET /key → 401) and its record says {state}"
            + (" (reversible by a management key)" if state == "disabled" else ""),
            facts=facts,
        )

    # -- preflight ------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The management key is one, and can list workspaces and keys (writes have no
        harmless probe)."""
        try:
            key = self._management_key()
        except ResponderError as exc:
            return [PreflightCheck("openrouter", "management key", False, detail=str(exc),
                                   missing_permission="management_key")]
        checks: list[PreflightCheck] = []
        try:
            own = self._own_call(key)
        except CallFailed as err:
            return [PreflightCheck("openrouter", "management key", False,
                                   detail=err.failed.error)]
        body = own.body if isinstance(own.body, Mapping) else {}
        data = json_object(body.get("data"))
        is_management = bool(data.get("is_management_key") or data.get("is_provisioning_key"))
        checks.append(PreflightCheck(
            "openrouter", "management key", own.status == 200 and is_management,
            detail=f"GET /key: {own.status}"
            + ("" if is_management or own.status != 200 else ", but it is not a management key"),
            missing_permission="" if is_management else "management key",
        ))

        def probe(item: tuple[str, str, dict[str, Any]]) -> PreflightCheck:
            capability, path, params = item
            action = f"GET {path}"
            try:
                answer = self._request("GET", path, action, key=key, params=params)
            except CallFailed as err:
                return PreflightCheck("openrouter", capability, False, detail=err.failed.error)
            if answer.status == 200:
                return PreflightCheck("openrouter", capability, True, detail=f"{action}: 200")
            failed = _ANSWERS.failure_for_status(answer.status, answer.headers, action,
                                                 MANAGEMENT_ADVICE)
            return PreflightCheck(
                "openrouter", capability, False, detail=failed.error,
                missing_permission="management key" if answer.status in (401, 403) else "",
            )

        probes = [("list workspaces", "/workspaces", {"limit": 1}),
                  ("list keys", "/keys", {"include_disabled": "true"})]
        return [*checks, *self.context.fan_out(probe, probes)]


def _places(cred: Credential) -> str:
    return ", ".join(str(loc) for loc in cred.locations) or "no file recorded"


def _own_management_key(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"{cred.fingerprint} is the management key clawback itself uses: create a "
        "new management key under Settings → Management Keys, point management_key in "
        "[providers.openrouter] at it, then delete this one there.",
        url=MANAGEMENT_KEYS_PAGE,
    )


def _ambiguous(cred: Credential, matches: Sequence[KeyRecord]) -> ManualRequired:
    candidates = ", ".join(f"{r.key_hash[:12]}… ({r.name})" for r in matches)
    return ManualRequired(
        instructions=f"{len(matches)} OpenRouter keys look like {cred.fingerprint} once "
        f"redacted ({candidates}): clawback will not guess. Delete the right one under "
        "Settings → API Keys.",
        url=KEYS_PAGE,
        facts={"candidates": [r.key_hash for r in matches]},
    )

"""ElevenLabs API keys (``sk_…``, OpenClaw's ``talk.apiKey`` and
``messages.tts.elevenlabs.apiKey``): a workspace service account's key deleted (or disabled),
replaced and proven dead through ElevenLabs' service-account API, with a workspace admin's key.

Every call sends its key in the ``xi-api-key`` header (base ``https://api.elevenlabs.io``;
elevenlabs.io/docs/api-reference/authentication). With the admin key:

- the workspace's record is ``GET /v1/service-accounts``: every service account with all its
  keys (``api-keys``: ``key_id``, ``name``, ``hint``, ``is_disabled``, ``permissions``,
  ``character_limit``); one account's keys are ``GET /v1/service-accounts/{id}/api-keys``.
  Neither call pages (the description has no paging parameter), so a 200 whose body holds the
  required arrays *is* the listing read to its end; any other body is unreadable and nothing is
  concluded from it.
- A key is recognised in that record by its ``hint``, the redacted form ElevenLabs shows: its
  visible ends must be the value's own ends (at least four characters shown) and exactly one key
  of the workspace may fit; two that fit are never guessed between (ManualRequired). The
  description names the field and nothing more: this reading is an inference, labelled so.
- ``revoke`` deletes the key (``DELETE /v1/service-accounts/{id}/api-keys/{key_id}``), or, with
  ``revoke_action = "disable"``, switches it off (``PATCH`` of the same path with
  ``is_enabled: false``, its name and permissions unchanged: the description requires all
  three). A key absent from the record and rejected by ElevenLabs is ``AlreadyRevoked``; a key
  ElevenLabs accepts but the record does not hold is a person's own key, which no admin call
  reaches (ManualRequired).
- ``rotate`` creates a replacement for the same service account with the old key's permissions
  and character limit (``POST /v1/service-accounts/{id}/api-keys``; the new value arrives once, as
  ``xi-api-key``), as ElevenLabs' rotation guide asks ("create the API key for the same service
  account and copy the API key permissions from the old API key"); stores it through the
  SecretStore before anything else (a replacement that cannot be stored is deleted again); waits
  until ElevenLabs accepts it; waits for the agent to take it up (``handed_over``); and only then
  deletes (or disables) the old key.
- ``verify_revoked`` needs ElevenLabs' unambiguous answer for a key it does not know:
  ``GET /v1/user`` sent with the key answers 401 whose ``detail.status`` is ``invalid_api_key``
  (the code of elevenlabs.io/docs/developer-guides/error-messages, "Code 400/401") *and* the
  service account's listing, read to its end, no longer holds the key. A 401 whose status is
  ``missing_permissions`` is a scoped key ElevenLabs still knows (it lacks ``user_read``): never
  death, ``Unproven``. So is any other 401, a key the listing still holds (disabled: reversible
  by any workspace admin) and a listing that cannot be read.

Doc pages followed: elevenlabs.io/docs/api-reference/service-accounts (list, create, update,
delete of service-account keys), elevenlabs.io/docs/product-guides/administration/workspaces/
service-accounts (rotation; service accounts are for multi-seat workspaces, managed by workspace
admins), elevenlabs.io/docs/api-reference/authentication (scope restriction, credit quota) and
elevenlabs.io/docs/developer-guides/error-messages (``invalid_api_key``; 429
``too_many_concurrent_requests`` and ``system_busy``: retry with backoff). The request and answer
shapes are ElevenLabs' OpenAPI description (tests/contracts/elevenlabs.json, cut from
github.com/elevenlabs/elevenlabs-docs).

Permission: the admin key belongs to a workspace admin (the service-accounts guide: "only
Workspace admins can use this feature") and, if it is scope-restricted, includes workspace
access. Which scope each call needs is not documented; the names here are inferred from the
description's permission list: ``workspace_read`` to read the record, ``workspace_write`` to
create, disable and delete service-account keys (2026's pages also list
``service_account_write``). A key without it gets 401 ``missing_permissions``, which preflight
reports. ElevenLabs publishes no rate limit for these calls (only generation's
concurrency per plan, elevenlabs.io/docs/models); at most 5 go at once and a 429 is retried.

Config, the ``[providers.elevenlabs]`` table of clawback.toml::

    admin_key = "keyring:clawback/elevenlabs-admin"   # required, a reference
    base_url = "https://api.elevenlabs.io"           # or a residency host (api.eu.residency…)
    revoke_action = "delete"                 # or "disable" (reversible)
    store_name = "elevenlabs/{target}"
    activation_wait_seconds = 30
    poll_seconds = 1
    timeout_seconds = 10
    connect_timeout_seconds = 3
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from responders.http_answers import CallFailed, HttpAnswer, ProviderAnswers
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
from responders.provider_responder import (
    KEY_CAPABILITIES_WITH_DISABLE,
    KeyReplacingResponder,
    NewKey,
    where_found,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

KIND_API_KEY = "elevenlabs:api_key"
SERVICE_ACCOUNTS_PAGE = "https://elevenlabs.io/app/workspace/service-accounts"
KEYS_PAGE = "https://elevenlabs.io/app/settings/api-keys"
OWN_CALL = "GET /v1/user"
_ROTATION_SUFFIX = re.compile(r" \(clawback \d{4}-\d{2}-\d{2}\)$")
_ELLIPSIS = re.compile(r"…|\.{3,}|\*{3,}")
_MIN_SHOWN = 4
ADMIN_ADVICE = (
    "the admin key must be a workspace admin's, with workspace access in its scope "
    "(workspace_read, workspace_write)"
)


@dataclass(frozen=True)
class ElevenLabsSettings:
    """The validated ``[providers.elevenlabs]`` table (see the module docstring)."""

    admin_key: str
    base_url: str = "https://api.elevenlabs.io"
    revoke_action: Literal["delete", "disable"] = "delete"
    store_name: str = "elevenlabs/{target}"
    activation_wait_seconds: float = 30.0
    poll_seconds: float = 1.0
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> ElevenLabsSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(ElevenLabsSettings, raw, "elevenlabs")
    require_references("elevenlabs", [("admin_key", settings.admin_key)], noun="key")
    require_positive_timeouts("elevenlabs", settings.timeout_seconds,
                              settings.connect_timeout_seconds)
    if settings.activation_wait_seconds < 0 or settings.poll_seconds < 0:
        raise ResponderError("[providers.elevenlabs] activation_wait_seconds and poll_seconds "
                             "cannot be negative")
    require_store_target("elevenlabs", settings.store_name)
    return settings


_ANSWERS = ProviderAnswers(
    provider="ElevenLabs",
    rate_limit="limit was hit (HTTP {status}: too many concurrent requests or system busy)",
    rejected="deleted, disabled or missing a permission; check admin_key in "
    "[providers.elevenlabs]",
    credential="the admin key",
)


@dataclass(frozen=True)
class KeyRecord:
    """One service-account key as the workspace's record lists it. Holds no secret."""

    key_id: str
    account: str
    name: str = ""
    hint: str = ""
    disabled: bool = False
    permissions: tuple[str, ...] | None = None  # None: the record does not say
    character_limit: int | None = None

    @property
    def shown(self) -> str:
        return self.key_id

    def facts(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "service_account_user_id": self.account}


def _record(item: Mapping[str, Any], account: str) -> KeyRecord | None:
    key_id = item.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        return None
    permissions = item.get("permissions")
    limit = item.get("character_limit")
    return KeyRecord(
        key_id=key_id,
        account=str(item.get("service_account_user_id") or account),
        name=str(item.get("name") or ""),
        hint=str(item.get("hint") or ""),
        disabled=item.get("is_disabled") is True,
        permissions=tuple(str(p) for p in permissions) if isinstance(permissions, list) else None,
        character_limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
    )


def hint_fits(hint: str, value: str) -> bool:
    """Whether ElevenLabs' redacted ``hint`` shows this value's ends (see the docstring)."""
    parts = _ELLIPSIS.split(hint.strip(), maxsplit=1)
    head, tail = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    if len(head) + len(tail) < _MIN_SHOWN or len(head) + len(tail) >= len(value):
        return False
    return value.startswith(head) and value.endswith(tail)


def detail_status(answer: HttpAnswer) -> str:
    """``detail.status`` of an ElevenLabs error answer, or ""."""
    body = answer.body if isinstance(answer.body, Mapping) else {}
    detail = body.get("detail")
    status = detail.get("status") if isinstance(detail, Mapping) else None
    return status if isinstance(status, str) else ""


class ElevenLabsResponder(KeyReplacingResponder[ElevenLabsSettings, KeyRecord]):
    """Deletes (or disables), replaces and checks ElevenLabs service-account keys; see the
    module docstring."""

    name: ClassVar[str] = "elevenlabs"
    display_name: ClassVar[str] = "ElevenLabs"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    replacement_console: ClassVar[str] = "the workspace"
    providers: ClassVar[frozenset[str]] = frozenset({"elevenlabs"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES_WITH_DISABLE
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=5, source="none published for service-account calls; elevenlabs.io/docs/"
        "models lists a concurrency limit per plan for generation (15 on the multi-seat plans "
        "that have service accounts), so 5 at once stays well under it; 429 "
        "(too_many_concurrent_requests, system_busy) is retried with backoff as "
        "elevenlabs.io/docs/developer-guides/error-messages advises"
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("admin_key", "keyring:clawback/elevenlabs-admin",
                              "a workspace admin's API key (workspace access)"),
                ConfigSetting("revoke_action", "disable",
                              "reversible instead of a delete", optional=True),
            ),
            permissions=(
                "a workspace admin's key with workspace_read: read the service accounts and "
                "their API keys",
                "workspace_write: create replacement keys, disable and delete old ones",
            ),
            console=SERVICE_ACCOUNTS_PAGE,
            note="Only a workspace service account's keys can be replaced by API; a person's "
            "own key stays a manual step.",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._workspace_cache: list[KeyRecord] | None = None  # read once per run, for locating
        self._located: dict[str, KeyRecord] = {}  # fingerprint → its record
        self.sleep: Callable[[float], None] = time.sleep  # tests count polls, never wait

    # -- transport ------------------------------------------------------------------------------

    def auth_headers(self, key: SecretValue) -> dict[str, str]:
        return {"xi-api-key": key.reveal()}

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _admin_key(self) -> SecretValue:
        return self._store().resolve(self.settings.admin_key)

    def _admin(self, method: str, path: str, *, json_body: Any = None) -> HttpAnswer:
        """An admin call that succeeded or answered 404 (the caller judges that)."""
        action = f"{method} {_generic(path)}"
        answer = self._request(method, path, action, key=self._admin_key(), json_body=json_body)
        if answer.status < 300 or answer.status == 404:
            return answer
        raise CallFailed(answer.status, _ANSWERS.failure_for_status(
            answer.status, answer.headers, action, ADMIN_ADVICE))

    def _own_call(self, key: SecretValue) -> HttpAnswer:
        return self._request("GET", "/v1/user", OWN_CALL, key=key)

    def _is_admin_key(self, cred: Credential) -> bool:
        try:
            return cred.secret is not None and self._admin_key() == cred.secret
        except ResponderError:
            return False

    # -- the workspace's record -----------------------------------------------------------------

    def _workspace(self, *, fresh: bool = False) -> list[KeyRecord]:
        """Every service account's keys (``GET /v1/service-accounts``), whole or CallFailed."""
        with self._lock:
            if self._workspace_cache is not None and not fresh:
                return self._workspace_cache
        answer = self._admin("GET", "/v1/service-accounts")
        body = answer.body if isinstance(answer.body, Mapping) else {}
        accounts = body.get("service-accounts")
        if answer.status != 200 or not isinstance(accounts, list):
            raise _unreadable("GET /v1/service-accounts", answer.status)
        records: list[KeyRecord] = []
        for account in accounts:
            keys = account.get("api-keys") if isinstance(account, Mapping) else None
            owner = account.get("service_account_user_id") if isinstance(account, Mapping) else None
            if not isinstance(keys, list) or not isinstance(owner, str):
                raise _unreadable("GET /v1/service-accounts", answer.status)
            records += [r for item in keys if isinstance(item, Mapping)
                        and (r := _record(item, owner)) is not None]
        with self._lock:
            self._workspace_cache = records
        return records

    def _account_keys(self, account: str) -> dict[str, KeyRecord]:
        """One service account's keys by id, whole or CallFailed."""
        path = _keys_path(account)
        answer = self._admin("GET", path)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        keys = body.get("api-keys")
        if answer.status != 200 or not isinstance(keys, list):
            raise _unreadable(f"GET {_generic(path)}", answer.status)
        return {r.key_id: r for item in keys if isinstance(item, Mapping)
                and (r := _record(item, account)) is not None}

    def _matches(self, cred: Credential, records: Sequence[KeyRecord]) -> list[KeyRecord]:
        assert cred.secret is not None
        value = cred.secret.reveal()
        return [r for r in records if r.hint and hint_fits(r.hint, value)]

    def _locate(self, cred: Credential) -> KeyRecord | Outcome:
        """The key's record, or the outcome that says why there is none to act on."""
        with self._lock:
            known = self._located.get(cred.fingerprint)
        if known is not None:
            return known
        found = self._matches(cred, self._workspace())
        if len(found) == 1:
            with self._lock:
                self._located[cred.fingerprint] = found[0]
            return found[0]
        if len(found) > 1:
            return ManualRequired(
                instructions=f"{len(found)} keys of the workspace show the same hint as "
                f"{cred.fingerprint} (found at {where_found(cred)}); clawback does not guess: "
                "delete the one the agent used under Service Accounts in the workspace settings.",
                url=SERVICE_ACCOUNTS_PAGE,
                facts={"candidates": sorted(r.key_id for r in found)})
        assert cred.secret is not None
        answer = self._own_call(cred.secret)
        status = detail_status(answer)
        facts: dict[str, Any] = {"checked_with": OWN_CALL, "http_status": answer.status,
                                 "listing": "read to its end, key absent"}
        if answer.status == 401 and status == "invalid_api_key":
            return AlreadyRevoked(detail="ElevenLabs rejects the key (invalid_api_key) and no "
                                  "service account of the workspace holds it", facts=facts)
        if answer.status == 429 or answer.status >= 500:
            return _ANSWERS.failure_for_status(answer.status, answer.headers, OWN_CALL, "",
                                               facts=facts)
        if answer.status == 200 or status == "missing_permissions":
            return ManualRequired(
                instructions=f"ElevenLabs still accepts {cred.fingerprint} (found at "
                f"{where_found(cred)}) but no service account of this workspace holds it: it is a "
                "person's own key (or another workspace's). Its owner deletes it under "
                "Settings → API Keys.", url=KEYS_PAGE, facts=facts)
        return ManualRequired(
            instructions=f"ElevenLabs answered HTTP {answer.status} for {cred.fingerprint} "
            f"(found at {where_found(cred)}) without calling it invalid, and no service account "
            "of this workspace holds it: find it under Settings → API Keys and delete it.",
            url=KEYS_PAGE, facts=facts)

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        act = ("DELETE /v1/service-accounts/{id}/api-keys/{key_id}"
               if self.settings.revoke_action == "delete"
               else "PATCH /v1/service-accounts/{id}/api-keys/{key_id} {is_enabled: false}")
        commands = ("GET /v1/service-accounts (find the key by its hint)", act,
                    "absent: GET /v1/user with the key (invalid_api_key: already dead)")
        return [(c, Planned(action=self.settings.revoke_action, commands=commands,
                            detail=f"{c.kind} {c.fingerprint}"))
                if c.secret is not None else (c, _unknown_value(c)) for c in creds]

    # -- revoke ---------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return _unknown_value(cred)
        try:
            if self._is_admin_key(cred):
                return _own_admin_key(cred)
            record = self._locate(cred)
            if isinstance(record, Outcome):
                return record
            return self._retire(record)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _retire(self, record: KeyRecord) -> Outcome:
        path = _keys_path(record.account, record.key_id)
        facts = record.facts()
        if self.settings.revoke_action == "disable":
            if record.disabled:
                return AlreadyRevoked(detail=f"key {record.key_id} is already disabled",
                                      facts={**facts, "disabled": True})
            if record.permissions is None:
                return ManualRequired(
                    instructions=f"The record of key {record.key_id} does not list its "
                    "permissions, which disabling it must restate: disable or delete it under "
                    "Service Accounts in the workspace settings.", url=SERVICE_ACCOUNTS_PAGE,
                    facts=facts)
            answer = self._admin("PATCH", path, json_body={
                "is_enabled": False, "name": record.name or "agent",
                "permissions": list(record.permissions),
                "character_limit": record.character_limit})
            if answer.status == 404:
                return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
            self._mark_retired(record)
            return Disabled(detail=f"key {record.key_id} disabled (reversible; rotate replaces "
                            "it)", facts={**facts, "disabled": True})
        answer = self._admin("DELETE", path)
        if answer.status == 404:
            return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
        self._mark_retired(record)
        return Revoked(detail=f"key {record.key_id} deleted", facts=facts)

    # -- rotate ---------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → accepted → agent handover → retire the old key (unless revoke did)."""
        if cred.secret is None:
            return _unknown_value(cred)
        try:
            if self._is_admin_key(cred):
                return _own_admin_key(cred)
            record = self._locate(cred)
            if isinstance(record, Outcome):
                return ManualRequired(
                    instructions=f"No service account of the workspace holds {cred.fingerprint}"
                    ", so there is nothing to carry over: create a key for the agent's service "
                    "account with the permissions it needs, store it with `keyring set clawback "
                    "elevenlabs/agent`, and point the agent at it.", url=SERVICE_ACCOUNTS_PAGE)
            if record.permissions is None:
                return ManualRequired(
                    instructions=f"The record of key {record.key_id} does not list its "
                    "permissions, so a replacement could not carry them over: create one for "
                    f"service account {record.account} by hand with the same permissions.",
                    url=SERVICE_ACCOUNTS_PAGE, facts=record.facts())
            return self._replace(record, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _create_replacement(self, old: KeyRecord, facts: dict[str, Any]) -> NewKey | Failed:
        assert old.permissions is not None
        label = _ROTATION_SUFFIX.sub("", old.name or "agent")
        body: dict[str, Any] = {"name": f"{label} (clawback {datetime.now(UTC):%Y-%m-%d})",
                                "permissions": list(old.permissions)}
        if old.character_limit is not None:
            body["character_limit"] = old.character_limit
        facts.update(old_key=old.key_id, service_account_user_id=old.account,
                     carried_over=["permissions", "character_limit"])
        answer = self._admin("POST", _keys_path(old.account), json_body=body)
        made = answer.body if isinstance(answer.body, Mapping) else {}
        value = made.get("xi-api-key")
        if answer.status != 200 or not isinstance(value, str) or not value:
            return Failed(error=f"POST /v1/service-accounts/{{id}}/api-keys answered "
                          f"{answer.status} without a new key", facts=facts)
        new = SecretValue(value)
        new_id = self._new_key_id(old.account, new)
        facts["new_key"] = new_id or "not yet listed"
        return NewKey(new, new_id, store_target=new_id or old.key_id)

    def _delete_replacement(self, old: KeyRecord, new: NewKey) -> bool:
        # The create answer carries no id: one not found in the listing cannot be deleted.
        if not new.key_id:
            return False
        return self._admin("DELETE", _keys_path(old.account, new.key_id)).status in (200, 404)

    def _replacement_accepted(self, new: NewKey) -> Failed | None:
        return self._until_accepted(new.value)

    def _rotated_detail(self, old: KeyRecord, new: NewKey, reference: str) -> str:
        return (f"new key {new.key_id or '(not yet listed)'} replaces {old.key_id} for service "
                f"account {old.account} (permissions and character limit carried over); stored "
                f"at {reference}")

    def _new_key_id(self, account: str, new: SecretValue) -> str:
        """The replacement's id: the create answer carries only the value, so it is found in
        the account's listing by its hint. "" when it is not there (yet) or not alone."""
        try:
            listed = self._account_keys(account)
        except CallFailed:
            return ""
        value = new.reveal()
        fits = [r.key_id for r in listed.values() if r.hint and hint_fits(r.hint, value)]
        return fits[0] if len(fits) == 1 else ""

    def _until_accepted(self, new: SecretValue) -> Failed | None:
        """None once ElevenLabs authenticates the new key: 200, or a 401 that only says a
        permission is missing (a scoped key may lack ``user_read``: it was still recognised)."""
        deadline = time.monotonic() + self.settings.activation_wait_seconds
        while True:
            answer = self._own_call(new)
            status = detail_status(answer)
            if answer.status == 200 or status == "missing_permissions":
                return None
            if status != "invalid_api_key" or time.monotonic() >= deadline:
                return _ANSWERS.failure_for_status(answer.status, answer.headers, OWN_CALL, "",
                                                   credential="the new key")
            self.sleep(self.settings.poll_seconds)

    # -- verify ---------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """The key's own call answers 401 ``invalid_api_key`` and the service account's
        listing, read to its end, no longer holds it."""
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        try:
            answer = self._own_call(cred.secret)
            status = detail_status(answer)
            facts: dict[str, Any] = {"checked_with": OWN_CALL, "http_status": answer.status}
            if status:
                facts["detail_status"] = status
            if answer.status < 300:
                return Failed(error=f"ElevenLabs still accepts the key ({OWN_CALL} → "
                              f"{answer.status})", retryable=True, facts=facts)
            if answer.status == 429 or answer.status >= 500:
                return _ANSWERS.failure_for_status(answer.status, answer.headers, OWN_CALL, "",
                                                   facts=facts)
            check = f"that {cred.fingerprint} is gone from Service Accounts in the workspace"
            if status == "missing_permissions":
                return Unproven(
                    reason="ElevenLabs refused the call for a missing permission: it still "
                    "recognises the key (a scoped key), so this is no proof of death",
                    check=check, url=SERVICE_ACCOUNTS_PAGE, facts=facts)
            if answer.status != 401 or status != "invalid_api_key":
                return Unproven(
                    reason=f"ElevenLabs answered HTTP {answer.status} without its documented "
                    "invalid_api_key status", check=check, url=SERVICE_ACCOUNTS_PAGE, facts=facts)
            return self._verified_by_record(cred, facts)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verified_by_record(self, cred: Credential, facts: dict[str, Any]) -> Outcome:
        with self._lock:
            known = self._located.get(cred.fingerprint)
        try:
            if known is not None:
                listed = self._account_keys(known.account)
                record = listed.get(known.key_id)
                facts.update(known.facts())
                facts["listing"] = f"GET /v1/service-accounts/{{id}}/api-keys, {len(listed)} keys"
            else:
                found = self._matches(cred, self._workspace(fresh=True))
                record = found[0] if found else None
                facts["listing"] = "GET /v1/service-accounts, every service account"
                if len(found) > 1:
                    return Unproven(
                        reason="ElevenLabs rejects the key, but more than one key of the "
                        "workspace shows its hint", check=f"that {cred.fingerprint} is gone "
                        "from Service Accounts in the workspace", url=SERVICE_ACCOUNTS_PAGE,
                        facts=facts)
        except CallFailed as err:
            if err.failed.retryable:
                raise
            return Unproven(reason=f"ElevenLabs rejects the key but the workspace's listing "
                            f"could not be read: {err.failed.error}",
                            check=f"that {cred.fingerprint} is gone from Service Accounts in "
                            "the workspace", url=SERVICE_ACCOUNTS_PAGE, facts=facts)
        if record is not None:
            facts.update(record=("disabled" if record.disabled else "listed"),
                         key_id=record.key_id)
            return Unproven(
                reason="ElevenLabs rejects the key but its service account still lists it"
                + (" (disabled: any workspace admin can enable it again)" if record.disabled
                   else ""),
                check=f"key {record.key_id} under Service Accounts in the workspace: delete it "
                "there", url=SERVICE_ACCOUNTS_PAGE, facts=facts)
        facts["record"] = "deleted"
        return VerifiedDead(detail="ElevenLabs rejects the key (invalid_api_key) and the "
                            "workspace's listing, read to its end, no longer holds it",
                            facts=facts)

    # -- preflight ------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The admin key reads the workspace's service accounts and their keys."""
        try:
            self._admin_key()
        except ResponderError as exc:
            return [PreflightCheck("elevenlabs", "admin key", False, detail=str(exc),
                                   missing_permission="a workspace admin's key")]
        try:
            accounts = len({r.account for r in self._workspace(fresh=True)})
        except CallFailed as err:
            return [PreflightCheck("elevenlabs", "list service-account keys", False,
                                   detail=err.failed.error,
                                   missing_permission="workspace_read (a workspace admin's key)"
                                   if err.status in (401, 403) else "")]
        return [
            PreflightCheck("elevenlabs", "list service-account keys", True,
                           detail=f"GET /v1/service-accounts: 200 ({accounts} with keys)"),
            PreflightCheck("elevenlabs", "create, disable, delete keys", True,
                           detail="not probed (it would change the workspace): needs "
                           "workspace_write"),
        ]


def _keys_path(account: str, key_id: str | None = None) -> str:
    """A service account's keys (or one of them); ids from ElevenLabs' answers are quoted, so an
    odd one can never reach another path."""
    from urllib.parse import quote

    path = f"/v1/service-accounts/{quote(account, safe='')}/api-keys"
    return path if key_id is None else f"{path}/{quote(key_id, safe='')}"


def _generic(path: str) -> str:
    """A path with its ids replaced by their names, for messages."""
    parts = path.split("/")
    if len(parts) > 3 and parts[2] == "service-accounts":
        parts[3] = "{id}"
    if len(parts) > 5:
        parts[5] = "{key_id}"
    return "/".join(parts)


def _unreadable(action: str, status: int) -> CallFailed:
    return CallFailed(status, Failed(
        error=f"{action} answered {status} without the documented list of keys; nothing was "
        "concluded from it", retryable=status != 404))


def _unknown_value(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"The value of {cred.kind} {cred.fingerprint} is unknown, so it cannot be "
        f"looked up: delete it under Service Accounts in the workspace settings, or Settings → "
        f"API Keys if it is a person's ({where_found(cred)}).", url=SERVICE_ACCOUNTS_PAGE)


def _own_admin_key(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"{cred.fingerprint} is the admin key clawback itself uses: create a new "
        "one (Settings → API Keys, as a workspace admin), point admin_key in "
        "[providers.elevenlabs] at it, then delete this one there.", url=KEYS_PAGE)

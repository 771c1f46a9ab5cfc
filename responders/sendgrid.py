"""SendGrid responder: API keys are deleted by id, replaced with the same scopes, proven dead.

A SendGrid API key reads ``SG.<api_key_id>.<secret>``: the middle part is the id SendGrid's
API Keys API uses (the "API Key ID" its settings page lists; 22 characters, as in the
description's examples), so a discovered key is located without listing anything. Should a key
ever not follow that, its id is found nowhere, and that is reported ``Unproven``, never dead.

With the admin key (a reference to a key holding the ``api_keys.read``, ``api_keys.create``
and ``api_keys.delete`` scopes: "API Keys: Full Access"), ``revoke`` reads the key's record
(``GET /v3/api_keys/{api_key_id}``: name and scopes) in the parent account, then in each
configured subuser's (the ``on-behalf-of`` header,
https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/on-behalf-of),
and deletes it there (``DELETE /v3/api_keys/{api_key_id}``,
https://www.twilio.com/docs/sendgrid/api-reference/api-keys/delete-api-keys). A key in none of
those accounts, or with no admin key configured, is asked to delete itself, which works when the
key holds ``api_keys.delete``.

What proves a key dead: SendGrid's record of it gone (``GET /v3/api_keys/{id}`` answering 404
in the account that held it, or this run's own 204 from the delete) *and* the key itself
rejected: ``GET /v3/scopes`` with it answering 401 "authorization required". The 401 alone is
not proof: it is SendGrid's one answer for any credential it will not take, including a live key
used from an address outside the account's IP Access Management allow-list
(https://www.twilio.com/docs/sendgrid/ui/account-and-settings/ip-access-management); and a key
id missing from the configured accounts may live in a subuser nobody listed. Both are
``Unproven`` with what to check.

``rotate`` creates the replacement with ``POST /v3/api_keys`` in the same account, carrying the
old key's scopes over (SendGrid makes a key without ``scopes`` a Full Access key, so a key whose
scopes are unknown is never replaced by API), stores it through the SecretStore, tests it with
``GET /v3/scopes`` (it must hold the same scopes), and retires the old key only once the agent
is proven to use the new one (``AgentHandover``); a key ``revoke`` already deleted is simply
replaced. If storing fails, the new key is deleted again.

Config, the ``[providers.sendgrid]`` table of clawback.toml::

    base_url = "https://api.sendgrid.com"       # EU regional subusers: https://api.eu.sendgrid.com
    api_key = "keyring:clawback/sendgrid-admin"  # admin key (reference), API Keys: Full Access
    subusers = ["marketing"]                     # subusers whose keys the agent may hold
    store_name = "sendgrid/{target}"
    timeout_seconds = 10
    connect_timeout_seconds = 3

Errors become outcomes: 429 → ``Failed(retryable=True)``, waiting until ``X-RateLimit-Reset``
(SendGrid sends ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` per endpoint,
https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits);
5xx, timeouts and refused connections → retryable; 401 for the admin key → named; 403 → the
missing scope is named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
    Unproven,
    VerifiedDead,
    admin_reference,
    handed_over,
)
from responders.provider_responder import (
    KEY_CAPABILITIES,
    HttpProviderResponder,
    describe_store_error,
    where_found,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

KIND_API_KEY = "sendgrid:api_key"
KEYS_URL = "https://app.sendgrid.com/settings/api_keys"
_KEY = re.compile(r"^SG\.([A-Za-z0-9_\-]{16,32})\.([A-Za-z0-9_\-]{16,64})$")
# What the admin key needs, by the step that needs it.
NEEDED_SCOPES = ("api_keys.read", "api_keys.delete", "api_keys.create")
# Account flags GET /v3/api_keys/{id} lists among a key's scopes; no key can be granted them.
_NOT_GRANTABLE = frozenset({"2fa_required", "2fa_exempt", "sender_verification_eligible",
                            "sender_verification_legacy"})
PARENT = ""  # the account of the admin key itself: no on-behalf-of header


@dataclass(frozen=True)
class SendGridSettings:
    """The validated ``[providers.sendgrid]`` table (see the module docstring)."""

    base_url: str = "https://api.sendgrid.com"
    api_key: str | None = None
    subusers: tuple[str, ...] = ()
    store_name: str = "sendgrid/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> SendGridSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(SendGridSettings, raw, "sendgrid")
    require_references("sendgrid", [("api_key", settings.api_key)], noun="API key")
    if not re.match(r"^https?://\S+$", settings.base_url):
        raise ResponderError("[providers.sendgrid] base_url must be an http(s) URL such as "
                             "https://api.sendgrid.com")
    if any(not s or s != s.strip() for s in settings.subusers):
        raise ResponderError("[providers.sendgrid] subusers must be subuser usernames")
    require_store_target("sendgrid", settings.store_name)
    require_positive_timeouts("sendgrid", settings.timeout_seconds,
                              settings.connect_timeout_seconds)
    return settings


def key_id_of(cred: Credential) -> str | None:
    """The API key id inside an ``SG.<id>.<secret>`` value."""
    if cred.secret is None:
        return None
    match = _KEY.match(cred.secret.reveal())
    return match.group(1) if match else None


def api_key_id(value: str) -> str | None:
    """``key_id`` for the pattern table: the id part of an ``SG.`` key."""
    match = _KEY.match(value)
    return match.group(1) if match else None


# -- turning answers into outcomes -------------------------------------------------------------


# SendGrid answers 429 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset (epoch seconds), the
# headers GitHub uses: the shared reading of them applies.
_ANSWERS = ProviderAnswers(
    provider="SendGrid", credential="the admin API key",
    rejected="deleted, wrong, or used from an address outside IP Access Management; check "
    "api_key in [providers.sendgrid]",
    github_rate_limit=True,
)


@dataclass(frozen=True)
class _Answer(JsonObjectAnswer):
    """A SendGrid answer: errors are ``{"errors": [{"field": …, "message": …}]}``."""

    @property
    def said(self) -> str:
        errors = self.body.get("errors")
        if not isinstance(errors, list):
            return ""
        return "; ".join(str(e.get("message", ""))[:120] for e in errors[:3]
                         if isinstance(e, Mapping))


def _failure(answer: _Answer, action: str, forbidden: str) -> Failed:
    return _ANSWERS.failure_for_status(
        answer.status, answer.headers, action, forbidden,
        said=f" ({answer.said})" if answer.said else "",
        facts={"endpoint": action, "http_status": answer.status},
    )


@dataclass(frozen=True)
class _Record:
    """SendGrid's record of a key: in which account, under what name, with which scopes."""

    account: str  # PARENT or a subuser's username
    key_id: str
    name: str
    scopes: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"subuser {self.account}" if self.account else "the parent account"

    def facts(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "account": self.account or "parent", "name": self.name,
                "scopes": list(self.scopes)}


class SendGridResponder(HttpProviderResponder[SendGridSettings]):
    """Deletes, replaces and verifies SendGrid API keys; see the module docstring."""

    name: ClassVar[str] = "sendgrid"
    display_name: ClassVar[str] = "SendGrid"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"sendgrid"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10,
        source="SendGrid: per-endpoint limits sent in X-RateLimit headers; none documented "
        "for /v3/api_keys, so 10 at once and its 429 answers",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("api_key", admin_reference("sendgrid"),
                              "an admin key with API Keys: Full Access"),
                ConfigSetting("subusers", ["marketing"],
                              "subusers whose keys the agent may hold", optional=True),
            ),
            permissions=("api_keys.read", "api_keys.create", "api_keys.delete"),
            console="https://app.sendgrid.com/settings/api_keys",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._records: dict[str, _Record] = {}  # key id → what revoke found
        self._deleted: set[str] = set()  # key ids this run deleted (SendGrid answered 204)

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _admin(self) -> SecretValue | None:
        reference = self.settings.api_key
        return self._store().resolve(reference) if reference else None

    def _accounts(self) -> tuple[str, ...]:
        return (PARENT, *self.settings.subusers)

    def _call(self, method: str, path: str, key: SecretValue, account: str = PARENT,
              json_body: Any = None) -> _Answer:
        """One request with ``key``; ``account`` a subuser's username adds ``on-behalf-of``."""
        headers = {**self.auth_headers(key), **({"on-behalf-of": account} if account else {})}
        return _Answer.of(self.answers.send(self._client(), method, path, f"{method} {path}",
                                            headers=headers, json=json_body))

    def _forbidden(self, scope: str) -> str:
        return f"the admin API key needs the {scope} scope (API Keys: Full Access)"

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        admin = self.settings.api_key is not None
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            key_id = key_id_of(cred)
            if key_id is None:
                out.append((cred, _not_a_key(cred)))
                continue
            if admin:
                commands: tuple[str, ...] = (
                    *(f"GET /v3/api_keys/{key_id}" + (f" on behalf of {a}" if a else "")
                      for a in self._accounts()),
                    f"DELETE /v3/api_keys/{key_id} (in the account that holds it)",
                )
            else:
                commands = (f"DELETE /v3/api_keys/{key_id} (authorized by the key itself)",)
            out.append((cred, Planned(action="revoke", detail=f"{cred.kind} {cred.fingerprint}",
                                      commands=commands)))
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        try:
            _ = self.settings
            key_id = key_id_of(cred)
            if key_id is None:
                return _not_a_key(cred)
            admin = self._admin()
            record = self._find(key_id, admin) if admin is not None else None
            if isinstance(record, Outcome):
                return record
            if record is None:
                return self._delete_with_itself(cred, key_id, admin is not None)
            return self._delete(record, admin)  # type: ignore[arg-type]
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _find(self, key_id: str, admin: SecretValue) -> _Record | Outcome | None:
        """The key's record in the first configured account that holds it; None: in none."""
        path = f"/v3/api_keys/{key_id}"
        for account in self._accounts():
            answer = self._call("GET", path, admin, account)
            if answer.status == 200:
                scopes = answer.body.get("scopes")
                record = _Record(account, key_id, str(answer.body.get("name") or ""),
                                 tuple(str(s) for s in scopes) if isinstance(scopes, list)
                                 else ())
                with self._lock:
                    self._records[key_id] = record
                return record
            if answer.status not in (400, 404):  # 400: SendGrid's answer to an unknown id too
                return _failure(answer, f"GET {path}", self._forbidden("api_keys.read"))
        return None

    def _delete(self, record: _Record, admin: SecretValue) -> Outcome:
        path = f"/v3/api_keys/{record.key_id}"
        answer = self._call("DELETE", path, admin, record.account)
        facts = {**record.facts(), "endpoint": f"DELETE {path}", "http_status": answer.status}
        if answer.status == 204:
            with self._lock:
                self._deleted.add(record.key_id)
            return Revoked(detail=f"SendGrid deleted API key {record.key_id} ({record.name}) "
                           f"in {record.where}", facts=facts)
        if answer.status == 404:
            # Its record was there a moment ago, in this account: now SendGrid has none.
            return AlreadyRevoked(detail=f"API key {record.key_id} is gone from {record.where}",
                                  facts=facts)
        return _failure(answer, f"DELETE {path}", self._forbidden("api_keys.delete"))

    def _delete_with_itself(self, cred: Credential, key_id: str, searched: bool) -> Outcome:
        """The key is in no configured account (or no admin key is set): it deletes itself,
        which SendGrid allows when it holds api_keys.delete."""
        assert cred.secret is not None
        path = f"/v3/api_keys/{key_id}"
        answer = self._call("DELETE", path, cred.secret)
        where = ("in none of the configured accounts (" + ", ".join(
            ["parent", *self.settings.subusers]) + ")") if searched else "(no admin key is set)"
        facts = {"key_id": key_id, "endpoint": f"DELETE {path} (with the key itself)",
                 "http_status": answer.status}
        if answer.status == 204:
            with self._lock:
                self._deleted.add(key_id)
            return Revoked(detail=f"SendGrid deleted API key {key_id}; it deleted itself",
                           facts=facts)
        if answer.status == 401:
            return Unproven(
                reason=f"API key {key_id} is {where}, and SendGrid rejects the key itself "
                "(401): it answers that to a deleted key and to a live key used from an address "
                "outside the account's IP Access Management allow-list alike",
                check="in which account or subuser the key lives (Settings → API Keys, and each "
                "subuser's), then add that subuser to subusers in [providers.sendgrid], or "
                "delete the key there",
                url=KEYS_URL, facts=facts,
            )
        if answer.status == 403:
            return ManualRequired(
                detail=f"SendGrid API key {key_id}: by hand",
                instructions=f"The SendGrid API key {cred.fingerprint} (id {key_id}) is live "
                f"and {where}, and it may not delete itself (it lacks api_keys.delete). Find it "
                f"under Settings → API Keys of the account or subuser that owns it and delete it, "
                f"or set api_key (and subusers) in [providers.sendgrid]. Found at: "
                f"{where_found(cred)}.",
                url=KEYS_URL, facts=facts,
            )
        if answer.status == 404:
            return Unproven(
                reason=f"SendGrid has no API key {key_id} for the key itself to delete (404), "
                "yet the key authenticated",
                check="Settings → API Keys of every account and subuser", url=KEYS_URL,
                facts=facts,
            )
        return _failure(answer, f"DELETE {path}", "the key needs api_keys.delete")

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """The key rejected (``GET /v3/scopes`` with it: 401) *and* SendGrid's record gone
        (404 in the account that held it, or this run's 204)."""
        key_id = key_id_of(cred)
        if key_id is None or cred.secret is None:
            return _not_a_key(cred)
        try:
            itself = self._call("GET", "/v3/scopes", cred.secret)
            facts: dict[str, Any] = {"key_id": key_id, "checked_with": "GET /v3/scopes",
                                     "http_status": itself.status}
            if itself.status == 200:
                return Failed(error="SendGrid still accepts the key (GET /v3/scopes: 200)",
                              retryable=True, facts=facts)
            if itself.status != 401:
                return _failure(itself, "GET /v3/scopes", "")
            record = self._record_state(key_id)
            facts["record"] = record
            if record in ("deleted in this run", "gone"):
                return VerifiedDead(
                    detail=f"SendGrid rejects the key (401) and its record is {record}",
                    facts=facts,
                )
            if record == "still listed":
                return Failed(error=f"SendGrid rejects the key but still lists API key {key_id}",
                              retryable=True, facts=facts)
            return Unproven(
                reason=f"SendGrid rejects the key (401), which it also answers a live key from "
                f"an address outside IP Access Management, and its record of key {key_id} "
                f"could not be read ({record})",
                check=f"that API key {key_id} is gone from Settings → API Keys (and each "
                "subuser's)",
                url=KEYS_URL, facts=facts,
            )
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _record_state(self, key_id: str) -> str:
        with self._lock:
            deleted_here, record = key_id in self._deleted, self._records.get(key_id)
        admin = self._admin()
        if admin is None:
            return "deleted in this run" if deleted_here else "no admin key to read it"
        if record is None and not deleted_here:
            found = self._find(key_id, admin)
            if isinstance(found, Failed):
                raise CallFailed(0, found)
            return "still listed" if found is not None else "in none of the configured accounts"
        account = record.account if record else PARENT
        answer = self._call("GET", f"/v3/api_keys/{key_id}", admin, account)
        if answer.status == 200:
            return "still listed"
        if answer.status in (400, 404):
            return "gone"
        raise CallFailed(answer.status, _failure(answer, f"GET /v3/api_keys/{key_id}",
                                                 self._forbidden("api_keys.read")))

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create (same account, same scopes) → store → test → agent proven → retire."""
        try:
            _ = self.settings
            key_id = key_id_of(cred)
            if key_id is None:
                return _not_a_key(cred)
            admin = self._admin()
            if admin is None:
                return _replace_by_hand(cred, key_id, "no admin key (api_key) is configured")
            with self._lock:
                record = self._records.get(key_id)
                deleted = key_id in self._deleted
            if record is None and not deleted:
                found = self._find(key_id, admin)
                if isinstance(found, Outcome):
                    return found
                record = found
            if record is None or not record.scopes:
                return _replace_by_hand(cred, key_id, "its scopes are unknown, and SendGrid "
                                        "makes a key created without scopes a Full Access key")
            return self._create(cred, record, admin, store, deleted)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _create(self, cred: Credential, old: _Record, admin: SecretValue, store: SecretStore,
                old_deleted: bool) -> Outcome:
        scopes = [s for s in old.scopes if s not in _NOT_GRANTABLE]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        name = f"{old.name or 'agent'} (clawback {stamp})"[:100]
        answer = self._call("POST", "/v3/api_keys", admin, old.account,
                            json_body={"name": name, "scopes": scopes})
        value, new_id = answer.body.get("api_key"), str(answer.body.get("api_key_id") or "")
        if answer.status != 201 or not isinstance(value, str) or not value or not new_id:
            return _failure(answer, "POST /v3/api_keys", self._forbidden("api_keys.create") +
                            ", and at least every scope it gives the new key")
        new = SecretValue(value)
        facts: dict[str, Any] = {"stage": "create", "new_key_id": new_id, "old_key_id":
                                 old.key_id, "account": old.account or "parent",
                                 "scopes": scopes}
        try:
            reference = store.store(self.settings.store_name.format(target=f"keys/{new_id}"), new)
        except Exception as exc:
            withdrawn = self._call("DELETE", f"/v3/api_keys/{new_id}", admin,
                                   old.account).status == 204
            return Failed(
                error=f"storing the new SendGrid key failed ({describe_store_error(exc)}); the "
                f"new key {new_id} was {'deleted' if withdrawn else 'NOT deleted'}",
                facts={**facts, "new_key_deleted": withdrawn},
            )
        facts.update(stage="store", reference=reference)
        tested = self._call("GET", "/v3/scopes", new)
        granted = tested.body.get("scopes")
        if tested.status != 200 or not isinstance(granted, list) or not set(scopes) <= set(
                map(str, granted)):
            return Failed(error=f"the new key is stored at {reference} but GET /v3/scopes with "
                          f"it answered {tested.status} without the old key's scopes",
                          facts=facts)
        facts["stage"] = "test"
        if not old_deleted:
            kept = handed_over(store, facts, f"the old key {old.key_id} stays")
            if kept is not None:
                return kept
            retired = self._delete(old, admin)
            if not retired.succeeded:
                failed = retired if isinstance(retired, Failed) else Failed(error=retired.detail)
                return Failed(error=f"the new key is stored at {reference} and works, but "
                              f"deleting the old one failed: {failed.error}", facts=facts)
            facts["old_key"] = "deleted"
        else:
            facts["old_key"] = "deleted earlier in this run"
        facts["stage"] = "finish"
        return Rotated(
            detail=f"new key {new_id} in {old.where} with the old key's {len(scopes)} scopes, "
            "stored and tested; the old key is deleted",
            facts=facts, new_fingerprint=new.fingerprint, new_reference=reference,
        )

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """``GET /v3/scopes`` with the admin key: does it hold every api_keys scope contain
        needs? (read-only; SendGrid lists the key's own scopes)."""
        try:
            admin = self._admin()
        except ResponderError as exc:
            return [PreflightCheck("sendgrid", "admin API key", False, detail=str(exc),
                                   missing_permission="api_key")]
        if admin is None:
            return [PreflightCheck(
                "sendgrid", "admin API key", True,
                detail="none configured: only keys holding api_keys.delete can delete "
                "themselves; set api_key (API Keys: Full Access) for the others",
            )]
        try:
            answer = self._call("GET", "/v3/scopes", admin)
        except CallFailed as err:
            return [PreflightCheck("sendgrid", "admin API key", False, detail=err.failed.error)]
        if answer.status != 200 or not isinstance(answer.body.get("scopes"), list):
            failed = _failure(answer, "GET /v3/scopes", "")
            return [PreflightCheck("sendgrid", "admin API key", False, detail=failed.error,
                                   missing_permission="a valid admin API key")]
        held = {str(s) for s in answer.body["scopes"]}
        return [
            PreflightCheck(
                "sendgrid", scope, scope in held,
                detail="held by the admin API key" if scope in held
                else f"the admin API key lacks {scope} (API Keys: Full Access)",
                missing_permission="" if scope in held else scope,
            )
            for scope in NEEDED_SCOPES
        ]


def _not_a_key(cred: Credential) -> ManualRequired:
    return ManualRequired(
        detail=f"manual: SendGrid {cred.kind} {cred.fingerprint}",
        instructions=f"{cred.fingerprint} does not read like a SendGrid API key "
        "(SG.<id>.<secret>), so its id is unknown. Open Settings → API Keys, delete the key "
        f"the agent used, and remove it from: {where_found(cred)}.",
        url=KEYS_URL,
    )


def _replace_by_hand(cred: Credential, key_id: str, why: str) -> ManualRequired:
    return ManualRequired(
        detail=f"replacement for SendGrid key {key_id}: by hand",
        instructions=f"clawback cannot replace the SendGrid API key {cred.fingerprint} (id "
        f"{key_id}): {why}. Create a Restricted Access key with only the scopes the agent needs "
        "under Settings → API Keys, store it with `keyring set clawback sendgrid/agent`, and "
        "give it to the agent.",
        url=KEYS_URL,
    )

"""Google API keys (``AIza…``: Gemini, Maps, any Google Cloud API key): deleted, replaced with
their restrictions and proven dead through the API Keys API v2.

A discovered key is only its value. ``keys.lookupKey`` (``GET /v2/keys:lookupKey?keyString=``)
names the key's resource (``projects/P/locations/global/keys/K``) and project; ``keys.get``
reads its display name, restrictions, annotations, etag and ``deleteTime``. Then:

- ``revoke`` deletes it (``keys.delete``, with its etag, a long-running operation polled through
  ``operations.get`` until done). Google keeps a deleted key **restorable for 30 days**
  (``keys.undelete``, by anyone with ``apikeys.keys.undelete`` on the project) and purges it
  after that: the outcome says so and gives the date. A key whose record already shows a
  ``deleteTime`` is ``AlreadyRevoked``; one ``lookupKey`` no longer finds (purged) is tried once
  with the harmless call below, and ``API_KEY_INVALID`` makes it ``AlreadyRevoked``.
- ``rotate`` creates a replacement in the same project (``keys.create``, polled) with the old
  key's display name (suffixed "(clawback YYYY-MM-DD)"), ``restrictions`` (API targets, IPs,
  referrers, apps) and ``annotations``; reads its value from the operation (or
  ``keys.getKeyString``); stores it through the SecretStore *before* anything else (a
  replacement that cannot be stored is deleted again); waits until Google accepts it (a new key
  can answer ``API_KEY_INVALID`` while it propagates: retried up to
  ``activation_wait_seconds``); waits for the agent to take it up (``handed_over``); and only
  then deletes the old key (already deleted after a revoke).
- ``verify_revoked`` makes a harmless call with the old key, ``GET {check_url}/v1beta/models``
  (Gemini's model list, key in the ``x-goog-api-key`` header), and needs both Google's
  documented answer for a dead key, 400 with ``ErrorInfo.reason`` ``API_KEY_INVALID`` ("API key
  not valid. Please pass a valid API key."), *and* the key's own record: ``keys.get`` shows a
  ``deleteTime`` (or ``lookupKey`` no longer finds it: purged). A 403 ``API_KEY_*_BLOCKED`` or
  ``SERVICE_DISABLED`` means Google identified a *live* key that is restricted from this caller
  or API: never dead. ``API_KEY_EXPIRED`` (which Google also answers while a key propagates), or
  ``API_KEY_INVALID`` while the record shows no ``deleteTime`` or cannot be read, is
  ``Unproven`` with what to check.

Doc pages followed: https://cloud.google.com/api-keys/docs/reference/rest (v2: keys.lookupKey,
get, delete, create, getKeyString, operations.get), https://cloud.google.com/api-keys/docs/
create-manage-api-keys (deleting: "you can restore a deleted key within 30 days"),
https://cloud.google.com/api-keys/docs/quotas, https://ai.google.dev/gemini-api/docs/
troubleshooting (400 ``API_KEY_INVALID``), https://cloud.google.com/docs/authentication/
token-types and https://google.aip.dev/193 (errors: ``google.rpc.ErrorInfo``).

Permission: the role API Keys Admin (``roles/serviceusage.apiKeysAdmin``) on every project whose
keys the agent holds: ``apikeys.keys.lookup``, ``.get``, ``.delete``, ``.create``,
``.getKeyString``, ``.list`` (preflight's probe), with the OAuth scope
``https://www.googleapis.com/auth/cloud-platform``.

Admin credential, one of (a reference, never the value):

- ``service_account``: the JSON key of a service account (the whole file's content, e.g.
  ``keyring set clawback google-sa < key.json``); clawback signs its own short-lived tokens with
  google-auth, at the JSON's ``token_uri``;
- ``access_token``: an OAuth 2.0 access token (``gcloud auth print-access-token``); it expires
  within an hour, so it suits a drill, not a panic button configured in advance.

Config, the ``[providers.google]`` table of clawback.toml::

    service_account = "keyring:clawback/google-sa"   # or access_token = "env:GOOGLE_TOKEN"
    projects = ["my-project"]                # preflight probes these (default: the SA's own)
    base_url = "https://apikeys.googleapis.com"
    check_url = "https://generativelanguage.googleapis.com"
    store_name = "google/{target}"
    operation_timeout_seconds = 60           # how long a delete or create may run
    activation_wait_seconds = 60             # how long a new key may take to be accepted
    poll_seconds = 1
    timeout_seconds = 10
    connect_timeout_seconds = 3

Errors become outcomes as in ``responders.http_answers``: 429 (``RESOURCE_EXHAUSTED``) with
``Retry-After``, 5xx, timeouts and refused connections → retryable; 401 names the admin
credential; 403 names the missing permission (from ``ErrorInfo.metadata.permission`` when Google
says it); 404 on a delete → ``AlreadyRevoked``. Google's error messages are not repeated (only
their status and reason): ``lookupKey`` carries the key itself in its query.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from responders.http_answers import CallFailed, HttpAnswer, ProviderAnswers, json_object
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
    SecretStore,
    SecretValue,
    Skipped,
    Unproven,
    VerifiedDead,
)
from responders.provider_responder import (
    KEY_CAPABILITIES,
    KeyReplacingResponder,
    NewKey,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

if TYPE_CHECKING:
    import httpx

KIND_API_KEY = "google:api_key"
CREDENTIALS_PAGE = "https://console.cloud.google.com/apis/credentials"
ROLE = "roles/serviceusage.apiKeysAdmin"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
INVALID = "API_KEY_INVALID"
EXPIRED = "API_KEY_EXPIRED"
# 403 reasons for a key Google identified and refused for this caller or API: it is alive.
LIVE_BUT_RESTRICTED = frozenset({
    "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED",
    "API_KEY_ANDROID_APP_BLOCKED", "API_KEY_IOS_APP_BLOCKED", "SERVICE_DISABLED",
    "CONSUMER_INVALID", "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
})
RESTORE_DAYS = 30
_KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keys/[^/]+$")
_ROTATION_SUFFIX = re.compile(r" \(clawback \d{4}-\d{2}-\d{2}\)$")
_DISPLAY_NAME_MAX = 63
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9:.-]{0,62}$")


@dataclass(frozen=True)
class GoogleSettings:
    """The validated ``[providers.google]`` table (see the module docstring)."""

    service_account: str | None = None
    access_token: str | None = None
    projects: tuple[str, ...] = ()
    base_url: str = "https://apikeys.googleapis.com"
    check_url: str = "https://generativelanguage.googleapis.com"
    store_name: str = "google/{target}"
    operation_timeout_seconds: float = 60.0
    activation_wait_seconds: float = 60.0
    poll_seconds: float = 1.0
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}

    @property
    def revoke_action(self) -> str:
        # The API Keys API has no switch-off: a key is deleted (restorable for 30 days).
        return "delete"


def parse_settings(raw: Mapping[str, Any]) -> GoogleSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(GoogleSettings, raw, "google")
    if (settings.service_account is None) == (settings.access_token is None):
        raise ResponderError(
            "[providers.google] needs exactly one admin credential: service_account (a "
            "service account's JSON key) or access_token (an OAuth 2.0 access token), each "
            "a reference (env:NAME or keyring:SERVICE/USER)"
        )
    require_references("google", [("service_account", settings.service_account),
                                  ("access_token", settings.access_token)], noun="credential")
    for project in settings.projects:
        if not _PROJECT.match(project):
            raise ResponderError(f"[providers.google] {project!r} is not a project id or number")
    require_positive_timeouts("google", settings.timeout_seconds,
                              settings.connect_timeout_seconds, settings.operation_timeout_seconds)
    if settings.poll_seconds < 0 or settings.activation_wait_seconds < 0:
        raise ResponderError("[providers.google] poll_seconds and activation_wait_seconds "
                             "cannot be negative")
    require_store_target("google", settings.store_name)
    return settings


_ANSWERS = ProviderAnswers(
    provider="Google",
    rate_limit="quota was exhausted (HTTP {status})",
    rejected="expired or revoked; check service_account or access_token in [providers.google]",
    refused="answered HTTP {status}",
    credential="the admin credential",
)


@dataclass(frozen=True)
class GoogleError:
    """What a Google error body says, without its message (``lookupKey`` errors may echo the
    key given in the query)."""

    status: str = ""
    reason: str = ""
    permission: str = ""

    @classmethod
    def of(cls, answer: HttpAnswer) -> GoogleError:
        body = answer.body if isinstance(answer.body, Mapping) else {}
        error = json_object(body.get("error"))
        reason = permission = ""
        for detail in error.get("details") or ():
            if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith(
                    "google.rpc.ErrorInfo"):
                reason = str(detail.get("reason") or "")
                metadata = json_object(detail.get("metadata"))
                permission = str(metadata.get("permission") or "")
                break
        return cls(str(error.get("status") or ""), reason, permission)

    def said(self) -> str:
        parts = [p for p in (self.status, self.reason) if p]
        return f" ({', '.join(parts)})" if parts else ""


def failure(answer: HttpAnswer, action: str, *, credential: str | None = None) -> Failed:
    said = GoogleError.of(answer)
    permission = said.permission or "apikeys.keys.*"
    return _ANSWERS.failure_for_status(
        answer.status, answer.headers, action,
        f"the admin credential lacks {permission}: grant {ROLE} on the key's project",
        credential, said=said.said(), facts={"endpoint": action, "http_status": answer.status},
    )


@dataclass(frozen=True)
class KeyRecord:
    """One key as the API Keys API describes it. Holds no secret."""

    name: str  # projects/P/locations/global/keys/K
    display_name: str = ""
    etag: str = ""
    delete_time: str = ""
    carried: Mapping[str, Any] = field(default_factory=dict)  # restrictions, annotations

    @property
    def parent(self) -> str:
        return self.name.rsplit("/keys/", 1)[0]

    @property
    def project(self) -> str:
        return self.name.split("/")[1]

    @property
    def key_id(self) -> str:
        return self.name

    @property
    def shown(self) -> str:
        return self.name

    def facts(self) -> dict[str, Any]:
        return {"key_name": self.name, "project": self.project}


def _record(body: Mapping[str, Any]) -> KeyRecord:
    carried = {k: body[k] for k in ("restrictions", "annotations") if body.get(k)}
    return KeyRecord(
        name=str(body.get("name") or ""),
        display_name=str(body.get("displayName") or ""),
        etag=str(body.get("etag") or ""),
        delete_time=str(body.get("deleteTime") or ""),
        carried=carried,
    )


def restorable_until(delete_time: str) -> str:
    """The last day ``keys.undelete`` can bring the key back (deleteTime + 30 days)."""
    try:
        when = datetime.fromisoformat(delete_time.replace("Z", "+00:00"))
    except ValueError:
        when = datetime.now(UTC)
    return f"{when + timedelta(days=RESTORE_DAYS):%Y-%m-%d}"


class GoogleResponder(KeyReplacingResponder[GoogleSettings, KeyRecord]):
    """Deletes, replaces and checks Google API keys; see the module docstring."""

    name: ClassVar[str] = "google"
    display_name: ClassVar[str] = "Google"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"google"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES
    # cloud.google.com/api-keys/docs/quotas: 240 read and 120 write calls a minute per project;
    # paced to the write quota, since every key costs at least one write.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10, requests=120, per_seconds=60,
        source="API Keys API: 240 read, 120 write calls a minute per project",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("service_account", "keyring:clawback/google-sa",
                              "a service account's whole JSON key: keyring set clawback "
                              "google-sa < key.json"),
                ConfigSetting("projects", ["my-project"],
                              "the projects the preflight probes; unset: the account's own",
                              optional=True),
            ),
            permissions=(
                "the role API Keys Admin (roles/serviceusage.apiKeysAdmin) on every project "
                "whose keys the agent holds: apikeys.keys.lookup, get, list, delete, create, "
                "getKeyString",
            ),
            console="https://console.cloud.google.com/iam-admin/serviceaccounts",
            note="a deleted key stays restorable for 30 days by anyone with "
                 "apikeys.keys.undelete on its project",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._token_source: Any = None  # google-auth credentials, or a fixed access token
        self._located: dict[str, KeyRecord] = {}  # fingerprint → the key revoke found
        # Sleeping between polls; tests replace it so no test waits on a clock.
        self.sleep: Callable[[float], None] = time.sleep

    # -- the admin credential ------------------------------------------------------------------

    def _access_token(self) -> SecretValue:
        with self._lock:
            s = self.settings
            if s.access_token is not None:
                return self._store().resolve(s.access_token)
            if self._token_source is None:
                self._token_source = self._service_account(s.service_account or "")
            credentials = self._token_source
            if not credentials.valid:
                self._refresh(credentials)
            return SecretValue(str(credentials.token))

    def _service_account(self, reference: str) -> Any:
        try:
            info = json.loads(self._store().resolve(reference).reveal())
        except ValueError:
            raise ResponderError(
                f"[providers.google] service_account ({reference}) is not a service account's "
                "JSON key: store the whole key file's content there"
            ) from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise ResponderError(
                f"[providers.google] service_account ({reference}) must hold a JSON key with "
                '"type": "service_account"'
            )
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        except (ValueError, KeyError) as exc:
            raise ResponderError(
                f"[providers.google] service_account ({reference}) is incomplete: "
                f"{type(exc).__name__} (it needs client_email, private_key and token_uri)"
            ) from None

    def _refresh(self, credentials: Any) -> None:
        from google.auth import exceptions

        try:
            credentials.refresh(_AuthRequest(self._client()))
        except exceptions.TransportError:
            raise CallFailed(0, Failed(error="cannot reach Google's token endpoint to sign in "
                                       "the service account", retryable=True)) from None
        except exceptions.RefreshError as exc:
            retryable = bool(getattr(exc, "retryable", False))
            raise CallFailed(0, Failed(
                error="Google refused the service account's token request "
                f"({_token_error(exc)}): check that the key in service_account is current and "
                "not disabled", retryable=retryable)) from None

    def auth_headers(self, key: SecretValue) -> dict[str, str]:
        return {"Authorization": f"Bearer {key.reveal()}"}

    def _client(self) -> httpx.Client:
        _hide_key_strings_from_httpx_log()
        return super()._client()

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _admin(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
               json_body: Any = None) -> HttpAnswer:
        """An API Keys call with the admin credential: a 2xx or a 404 (the caller judges it)."""
        action = f"{method} {_shown_path(path)}"
        answer = self._request(method, path, action, key=self._access_token(), params=params,
                               json_body=json_body)
        if answer.status < 300 or answer.status == 404:
            return answer
        raise CallFailed(answer.status, failure(answer, action))

    def _with_key(self, key: SecretValue) -> HttpAnswer:
        """The harmless call: Gemini's model list, the key in the x-goog-api-key header."""
        url = f"{self.settings.check_url.rstrip('/')}/v1beta/models"
        return self.answers.send(self._client(), "GET", url, "GET /v1beta/models",
                                 headers={"x-goog-api-key": key.reveal()},
                                 params={"pageSize": 1})

    # -- locating -------------------------------------------------------------------------------

    def _lookup(self, key: SecretValue) -> str | None:
        """The key's resource name; None when Google no longer knows it (purged or never)."""
        answer = self._request("GET", "/v2/keys:lookupKey", "GET /v2/keys:lookupKey",
                               key=self._access_token(), params={"keyString": key.reveal()})
        if answer.status in (400, 404):
            return None
        if answer.status >= 300:
            said = GoogleError.of(answer)
            if answer.status == 403:
                raise CallFailed(403, Failed(
                    error="GET /v2/keys:lookupKey: forbidden (403)" + said.said() + ": the admin "
                    "credential cannot look this key up; grant " + ROLE + " (apikeys.keys."
                    "lookup) on the project that owns it",
                    facts={"endpoint": "GET /v2/keys:lookupKey", "http_status": 403}))
            raise CallFailed(answer.status, failure(answer, "GET /v2/keys:lookupKey"))
        body = answer.body if isinstance(answer.body, Mapping) else {}
        name = str(body.get("name") or "")
        if name and not _KEY_NAME.match(name):
            raise CallFailed(200, Failed(error="GET /v2/keys:lookupKey answered a key name that "
                                         "is not one; nothing was concluded from it"))
        return name or None

    def _get(self, name: str) -> KeyRecord | None:
        answer = self._admin("GET", f"/v2/{name}")
        if answer.status == 404:
            return None
        return _record(answer.body if isinstance(answer.body, Mapping) else {})

    def _locate(self, cred: Credential) -> KeyRecord | None:
        with self._lock:
            known = self._located.get(cred.fingerprint)
        if known is not None:
            return known
        assert cred.secret is not None
        name = self._lookup(cred.secret)
        record = self._get(name) if name else None
        if record is not None:
            with self._lock:
                self._located[cred.fingerprint] = record
        return record

    # -- long-running operations ----------------------------------------------------------------

    def _finished(self, answer: HttpAnswer, action: str) -> Mapping[str, Any]:
        """Poll the operation ``answer`` started until it is done; its ``response``."""
        op = answer.body if isinstance(answer.body, Mapping) else {}
        deadline = time.monotonic() + self.settings.operation_timeout_seconds
        while not op.get("done"):
            name = str(op.get("name") or "")
            if not name.startswith("operations/"):
                raise CallFailed(answer.status, Failed(
                    error=f"{action}: Google answered without an operation to follow"))
            if time.monotonic() >= deadline:
                raise CallFailed(answer.status, Failed(
                    error=f"{action}: operation {name} still running after "
                    f"{self.settings.operation_timeout_seconds:.0f} s", retryable=True))
            self.sleep(self.settings.poll_seconds)
            polled = self._admin("GET", f"/v2/{name}")
            op = polled.body if isinstance(polled.body, Mapping) else {}
        error = op.get("error")
        if isinstance(error, Mapping):
            code = error.get("code")
            raise CallFailed(answer.status, Failed(
                error=f"{action}: the operation failed (google.rpc.Code {code})",
                retryable=code in (4, 8, 10, 13, 14)))
        response = op.get("response")
        return response if isinstance(response, Mapping) else {}

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        commands = (
            "GET /v2/keys:lookupKey (the key's resource name)",
            "GET /v2/{name} (restrictions, etag, deleteTime)",
            "DELETE /v2/{name}?etag=… then GET /v2/operations/{id} until done "
            f"(restorable for {RESTORE_DAYS} days)",
            "not found: GET /v1beta/models with the key (400 API_KEY_INVALID: already dead)",
        )
        return [
            (cred, Planned(action="delete", commands=commands,
                           detail=f"{cred.kind} {cred.fingerprint}"))
            if cred.secret is not None else (cred, _unknown_value(cred))
            for cred in creds
        ]

    # -- revoke ---------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return _unknown_value(cred)
        try:
            record = self._locate(cred)
            if record is None:
                return self._not_found(cred)
            return self._delete(record)
        except CallFailed as err:
            if err.status == 409:  # ABORTED: the key changed since it was read (its etag)
                with self._lock:
                    self._located.pop(cred.fingerprint, None)
                return replace(err.failed, retryable=True,
                               error=err.failed.error + "; the key changed meanwhile: it is read "
                               "again and the delete retried")
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _delete(self, record: KeyRecord) -> Outcome:
        facts = record.facts()
        if record.delete_time:
            until = restorable_until(record.delete_time)
            return AlreadyRevoked(
                detail=f"the key was already deleted ({record.delete_time}); restorable with "
                f"keys.undelete until {until}",
                facts={**facts, "deleteTime": record.delete_time, "restorable_until": until})
        params = {"etag": record.etag} if record.etag else None
        answer = self._admin("DELETE", f"/v2/{record.name}", params=params)
        if answer.status == 404:
            return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
        self._finished(answer, "DELETE /v2/{name}")
        self._mark_retired(record)
        until = restorable_until(datetime.now(UTC).isoformat())
        return Revoked(
            detail=f"key {record.name.rsplit('/', 1)[1]} deleted; Google keeps it restorable "
            f"(keys.undelete) until {until}, then purges it",
            facts={**facts, "restorable_until": until},
        )

    def _not_found(self, cred: Credential) -> Outcome:
        assert cred.secret is not None
        answer = self._with_key(cred.secret)
        said = GoogleError.of(answer)
        facts = {"lookup": "not found (purged, or never a key)",
                 "checked_with": "GET /v1beta/models", "http_status": answer.status,
                 "reason": said.reason}
        if answer.status == 400 and said.reason == INVALID:
            return AlreadyRevoked(detail=f"Google no longer knows the key ({INVALID}; "
                                  "lookupKey finds nothing: purged)", facts=facts)
        if answer.status in (429,) or answer.status >= 500:
            return _ANSWERS.failure_for_status(answer.status, answer.headers,
                                               "GET /v1beta/models", "", facts=facts)
        return ManualRequired(
            instructions=f"keys.lookupKey does not find {cred.fingerprint} (found at "
            f"{_places(cred)}), yet Google does not call it invalid (HTTP {answer.status}"
            f"{said.said()}): find it under APIs & Services → Credentials of its project "
            "and delete it.",
            url=CREDENTIALS_PAGE, facts=facts)

    # -- rotate ---------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → accepted → agent handover → delete the old key (unless revoke did)."""
        if cred.secret is None:
            return _unknown_value(cred)
        try:
            old = self._locate(cred)
            if old is None:
                return ManualRequired(
                    instructions=f"Google no longer knows {cred.fingerprint}, so there are no "
                    "restrictions to carry over: create a key under APIs & Services → "
                    "Credentials with the restrictions the agent needs, store it with "
                    "`keyring set clawback google/agent`, and point the agent at it.",
                    url=CREDENTIALS_PAGE)
            return self._replace(old, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _create_replacement(self, old: KeyRecord, facts: dict[str, Any]) -> NewKey | Failed:
        suffix = f" (clawback {datetime.now(UTC):%Y-%m-%d})"
        label = _ROTATION_SUFFIX.sub("", old.display_name or "agent")
        body = {**old.carried, "displayName": label[: _DISPLAY_NAME_MAX - len(suffix)] + suffix}
        facts.update(old_key=old.name, carried_over=sorted(old.carried))
        answer = self._admin("POST", f"/v2/{old.parent}/keys", json_body=body)
        created = self._finished(answer, "POST /v2/{parent}/keys")
        new_name = str(created.get("name") or "")
        if not _KEY_NAME.match(new_name):
            return Failed(error="POST /v2/{parent}/keys: the operation's answer names no key",
                          facts=facts)
        facts["new_key"] = new_name
        value = created.get("keyString")
        if not isinstance(value, str) or not value:
            got = self._admin("GET", f"/v2/{new_name}/keyString")
            value = json_object(got.body).get("keyString")
        if not isinstance(value, str) or not value:
            withdrawn = self._withdraw(new_name)
            return Failed(error="Google created a key but gave no value for it; the new key was "
                          + ("deleted" if withdrawn else "NOT deleted: delete it in the console"),
                          facts=facts)
        return NewKey(SecretValue(value), new_name, store_target=new_name.rsplit("/", 1)[1])

    def _delete_replacement(self, old: KeyRecord, new: NewKey) -> bool:
        return self._withdraw(new.key_id)

    def _replacement_accepted(self, new: NewKey) -> Failed | None:
        return self._until_accepted(new.value)

    def _retire(self, old: KeyRecord) -> Outcome:
        # Read again: the delete carries the key's current etag, never one from before the run.
        return self._delete(self._get(old.name) or old)

    def _old_key_state(self, retired: Outcome) -> str:
        return retired.detail  # says until when Google keeps the key restorable

    def _rotated_detail(self, old: KeyRecord, new: NewKey, reference: str) -> str:
        return (f"new key {new.key_id.rsplit('/', 1)[1]} replaces {old.name.rsplit('/', 1)[1]} "
                f"in {old.project} ({', '.join(sorted(old.carried)) or 'no restrictions'} "
                f"carried over); stored at {reference}")

    def _until_accepted(self, new: SecretValue) -> Failed | None:
        """None once Google accepts the new key (a restricted key's 403 *_BLOCKED counts: it
        was identified); a new key answers API_KEY_INVALID or _EXPIRED while it propagates."""
        deadline = time.monotonic() + self.settings.activation_wait_seconds
        while True:
            answer = self._with_key(new)
            said = GoogleError.of(answer)
            if answer.status < 300 or (answer.status == 403 and said.reason in
                                       LIVE_BUT_RESTRICTED):
                return None
            waiting = said.reason in (INVALID, EXPIRED) or answer.status == 429
            if not waiting or time.monotonic() >= deadline:
                return _ANSWERS.failure_for_status(
                    answer.status, answer.headers, "GET /v1beta/models", "",
                    credential="the new key", said=said.said())
            self.sleep(max(self.settings.poll_seconds, 0.0))

    def _withdraw(self, name: str) -> bool:
        """Delete a key clawback just created and cannot keep."""
        try:
            answer = self._admin("DELETE", f"/v2/{name}")
            if answer.status != 404:
                self._finished(answer, "DELETE /v2/{name}")
            return True
        except (CallFailed, ResponderError):
            return False

    # -- verify ---------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """The harmless call answers 400 API_KEY_INVALID, and the key's record shows a
        deleteTime (or lookupKey no longer finds it: purged)."""
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        try:
            answer = self._with_key(cred.secret)
            said = GoogleError.of(answer)
            facts: dict[str, Any] = {"checked_with": "GET /v1beta/models",
                                     "http_status": answer.status, "reason": said.reason}
            if answer.status < 300 or (answer.status == 403 and said.reason in
                                       LIVE_BUT_RESTRICTED):
                return Failed(
                    error=f"Google still accepts the key (HTTP {answer.status}{said.said()}"
                    + (": it is valid, only restricted" if answer.status == 403 else "") + ")",
                    retryable=True, facts=facts)
            if answer.status != 400 or said.reason != INVALID:
                if answer.status == 429 or answer.status >= 500:
                    return _ANSWERS.failure_for_status(answer.status, answer.headers,
                                                       "GET /v1beta/models", "", facts=facts)
                return Unproven(
                    reason=f"Google answered HTTP {answer.status}{said.said()}, not its "
                    f"documented 400 {INVALID} for a dead key"
                    + (" (Google also answers API_KEY_EXPIRED while a key propagates)"
                       if said.reason == EXPIRED else ""),
                    check=f"that {cred.fingerprint} shows as deleted under APIs & Services → "
                    "Credentials (Deleted credentials)",
                    url=CREDENTIALS_PAGE, facts=facts)
            return self._verified_by_record(cred, facts)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verified_by_record(self, cred: Credential, facts: dict[str, Any]) -> Outcome:
        assert cred.secret is not None
        with self._lock:
            known = self._located.get(cred.fingerprint)
        try:
            name = known.name if known else self._lookup(cred.secret)
            record = self._get(name) if name else None
        except CallFailed as err:
            if err.failed.retryable:
                raise
            return Unproven(
                reason=f"Google rejects the key ({INVALID}) but its record could not be read "
                f"to show it deleted: {err.failed.error}",
                check=f"that {cred.fingerprint} is under Deleted credentials in APIs & Services "
                "→ Credentials of its project",
                url=CREDENTIALS_PAGE, facts=facts)
        if record is None:
            facts["record"] = "purged"
            return VerifiedDead(detail=f"Google rejects the key ({INVALID}) and no longer "
                                "knows it (purged)", facts=facts)
        facts.update(record.facts())
        if not record.delete_time:
            return Unproven(
                reason=f"Google rejects the key ({INVALID}) but keys.get shows {record.name} "
                "not deleted",
                check=f"whether {record.name} is still listed as active; delete it there",
                url=CREDENTIALS_PAGE, facts=facts)
        until = restorable_until(record.delete_time)
        facts.update(record="deleted", deleteTime=record.delete_time, restorable_until=until)
        return VerifiedDead(
            detail=f"Google rejects the key ({INVALID}) and keys.get shows it deleted "
            f"({record.delete_time}); restorable with keys.undelete until {until}",
            facts=facts)

    # -- preflight ------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The admin credential works and can list keys in each project to be probed."""
        try:
            self._access_token()
        except (ResponderError, CallFailed) as exc:
            detail = exc.failed.error if isinstance(exc, CallFailed) else str(exc)
            return [PreflightCheck("google", "admin credential", False, detail=detail,
                                   missing_permission="service_account or access_token")]
        checks = [PreflightCheck("google", "admin credential", True,
                                 detail="a token for " + SCOPE)]
        projects = list(self.settings.projects) or self._own_project()
        if not projects:
            checks.append(PreflightCheck(
                "google", "projects", False,
                detail="no project to probe: set projects in [providers.google]; contain needs "
                f"{ROLE} on every project whose keys the agent holds",
                missing_permission=ROLE))

        def probe(project: str) -> PreflightCheck:
            path = f"/v2/projects/{project}/locations/global/keys"
            try:
                self._admin("GET", path, params={"pageSize": 1})
            except CallFailed as err:
                return PreflightCheck(
                    "google", f"keys of {project}", False, detail=err.failed.error,
                    missing_permission=f"{ROLE} (apikeys.keys.list)"
                    if err.status in (401, 403) else "")
            return PreflightCheck("google", f"keys of {project}", True,
                                  detail=f"GET {path}: 200 (writes need {ROLE})")

        return [*checks, *self.context.fan_out(probe, projects)]

    def _own_project(self) -> list[str]:
        source = self._token_source
        project = getattr(source, "project_id", None) if source is not None else None
        return [str(project)] if project else []


class _KeyStringHidden(logging.Filter):
    """httpx logs every request's URL at INFO, and ``lookupKey`` carries the key in its query
    (the API offers no other way to send it): the value never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("keyString=" in str(a) for a in record.args):
            record.args = tuple(_KEY_STRING.sub("keyString=(hidden)", str(a))
                                if "keyString=" in str(a) else a for a in record.args)
        return True


_KEY_STRING = re.compile(r"keyString=[^&\s\"']*")
_HIDING = _KeyStringHidden()


def _hide_key_strings_from_httpx_log() -> None:
    httpx_log = logging.getLogger("httpx")
    if _HIDING not in httpx_log.filters:
        httpx_log.addFilter(_HIDING)


class _AuthRequest:
    """google-auth's transport interface over clawback's httpx client (google-auth's own
    transports need requests or aiohttp, which clawback does not depend on)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 **kwargs: Any) -> Any:
        import httpx
        from google.auth import exceptions

        try:
            response = self._client.request(method, url, content=body,
                                            headers=dict(headers or {}))
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(type(exc).__name__) from None
        return _AuthResponse(response.status_code, dict(response.headers), response.content)


@dataclass(frozen=True)
class _AuthResponse:
    status: int
    headers: Mapping[str, str]
    data: bytes


def _token_error(exc: Exception) -> str:
    """The OAuth error code of a refused token request (``invalid_grant``), never its text."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, Mapping) and arg.get("error"):
            return str(arg["error"])[:40]
    return type(exc).__name__


def _shown_path(path: str) -> str:
    return path if "keyString" not in path else path.split("?", 1)[0]


def _places(cred: Credential) -> str:
    return ", ".join(str(loc) for loc in cred.locations) or "no file recorded"


def _unknown_value(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"The value of {cred.kind} {cred.fingerprint} is unknown, so it cannot be "
        f"looked up: delete it under APIs & Services → Credentials ({_places(cred)}).",
        url=CREDENTIALS_PAGE)

"""Twilio responder: API keys are deleted and replaced, the Auth Token is replaced by promotion.

**API keys** (an ``SK…`` SID and its secret). ``revoke`` deletes the key
(``DELETE /2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json``) with the admin credential;
``rotate`` creates a replacement (``POST …/Keys.json``), stores its secret through the SecretStore,
tests it, and, in a drill, deletes the old key only once the agent is proven to use the new one.
A replacement made through this (v2010) Key resource is a *Standard* key: if the old key was
Restricted, give the new one the same permissions in the Console (said in the outcome).
https://www.twilio.com/docs/iam/api-keys/key-resource-v2010

**The Auth Token** (32 hex characters, known by its place: ``TWILIO_AUTH_TOKEN``, the voice-call
plugin's ``twilio.authToken``). Twilio's documented rotation is the secondary token: create one
(``POST /v1/AuthTokens/Secondary``), promote it (``POST /v1/AuthTokens/Promote``); "after promoting
the new token, all requests to Twilio using your old primary Auth Token will result in an error".
Both calls authenticate as the account (Account SID + Auth Token), so clawback uses the exposed
token itself and needs no admin credential for it. Before creating its own, clawback deletes any
secondary token that exists (``DELETE /v1/AuthTokens/Secondary``): one made by whoever holds the
exposed token would otherwise stay live. ``revoke`` promotes at once (the new primary is kept in
memory for ``rotate``, and is shown in the Console in any case); ``rotate`` stores it, tests it
and reports it; a drill's ``rotate`` creates the secondary, stores and tests it, waits for the
agent, then promotes. The token also signs Twilio's webhooks (X-Twilio-Signature): whatever
checks them needs the new token too.
https://www.twilio.com/docs/iam/api/authtoken, https://www.twilio.com/docs/iam/api/secondary_authtoken

What proves a credential dead: Twilio's answer for bad credentials, HTTP 401 with error code
20003, to ``GET /2010-04-01/Accounts/{AccountSid}/Balance.json`` (a harmless read every Standard
key may make), *plus* Twilio's record: for an API key, the admin's ``GET …/Keys/{Sid}.json``
answering 404 (error 20404); for the Auth Token, the promotion this run made. Twilio documents
20003 for a deleted key or token, but also for "the wrong combination of Account SID and Auth
Token", subaccount credentials used on the parent account, a suspended account, and a key of
another Twilio Region (https://www.twilio.com/docs/api/errors/20003); and a key of another
account or Region is absent from this account's listing too. So a credential clawback did not
itself delete or replace in this run is never reported dead: it is ``Unproven``, with what to
check. Error 70051 (a Restricted key without the permission, or a key not found) proves nothing
either (https://www.twilio.com/docs/api/errors/70051).

Config, the ``[providers.twilio]`` table of clawback.toml (every key optional)::

    base_url = "https://api.twilio.com"          # a Region's host for regional credentials
    accounts_url = "https://accounts.twilio.com"
    account_sid = "AC…"     # when discovery did not find the SID beside the secret
    admin_key_id = "SK…"    # a Main API key's SID, or the account SID (AC…): then
    admin_secret = "keyring:clawback/twilio-admin"  # is that account's Auth Token
    store_name = "twilio/{target}"
    timeout_seconds = 10
    connect_timeout_seconds = 3

The admin credential is needed for API keys only, and must be a **Main** API key (or the
account's own SID and Auth Token): "If your API key requires access to the /Accounts or
/Accounts/{SID}/Keys endpoints, then you'll need to use a Main key"; Standard and Restricted keys
cannot manage keys (https://www.twilio.com/docs/iam/api-keys). ``preflight`` proves it can read
the account and list its keys. clawback refuses to delete the Main key it is using itself.

Errors become outcomes: 429 (error 20429: too many concurrent requests; "never processed and
always safe to retry") and 5xx → retryable; 401/403 from the admin → the credential and what it
lacks are named; a 404 on delete → the key is not in this account (proved or not, as above).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from responders.http_answers import CallFailed, HttpAnswer, ProviderAnswers
from responders.interface import (
    AlreadyRevoked,
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
    where_found,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

KIND_AUTH_TOKEN = "twilio:auth_token"
KIND_API_KEY = "twilio:api_key_secret"
INVALID_CREDENTIALS = 20003  # "Permission Denied": bad or deleted credentials (and more)
NOT_FOUND = 20404
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
CONSOLE_KEYS = "https://console.twilio.com/us1/account/keys-credentials/api-keys"
CONSOLE_AUTH_TOKENS = CONSOLE_KEYS  # "API keys & tokens": the Auth Token is on the same page
_MAIN_KEY = (
    "admin_key_id/admin_secret in [providers.twilio] must be a Main API key (Standard and "
    "Restricted keys cannot manage API keys) or the account SID with its Auth Token"
)


@dataclass(frozen=True)
class TwilioSettings:
    """The validated ``[providers.twilio]`` table (see the module docstring)."""

    base_url: str = "https://api.twilio.com"
    accounts_url: str = "https://accounts.twilio.com"
    account_sid: str | None = None
    admin_key_id: str | None = None
    admin_secret: str | None = None
    store_name: str = "twilio/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> TwilioSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    s = validate_table(TwilioSettings, raw, "twilio")
    require_references("twilio", [("admin_secret", s.admin_secret)], noun="secret or token")
    if s.account_sid is not None and not _ACCOUNT_SID.match(s.account_sid):
        raise ResponderError("[providers.twilio] account_sid must be AC followed by 32 hex digits")
    if s.admin_key_id is not None and not (_KEY_SID.match(s.admin_key_id) or
                                        _ACCOUNT_SID.match(s.admin_key_id)):
        raise ResponderError(
            "[providers.twilio] admin_key_id must be a Main API key's SID (SK + 32 hex digits) or "
            "the account SID (AC + 32 hex digits)"
        )
    if (s.admin_key_id is None) != (s.admin_secret is None):
        raise ResponderError("[providers.twilio] admin_key_id and admin_secret go together")
    require_store_target("twilio", s.store_name)
    require_positive_timeouts("twilio", s.timeout_seconds, s.connect_timeout_seconds)
    return s


_ANSWERS = ProviderAnswers(
    provider="Twilio",
    rejected="wrong, deleted, of another account or Region, or (error 70051) not a Main API "
    "key; check admin_key_id/admin_secret in [providers.twilio]",
    credential="the admin credential",
)


def _code(answer: HttpAnswer) -> int | None:
    body = answer.body
    code = body.get("code") if isinstance(body, Mapping) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _said(answer: HttpAnswer) -> str:
    # Only Twilio's error code: its messages quote request paths, never a secret, but the code
    # is what the docs index.
    code = _code(answer)
    return f" (error {code})" if code is not None else ""


def _failure(answer: HttpAnswer, action: str, advice: str, facts: Mapping[str, Any]) -> Failed:
    return _ANSWERS.failure_for_status(
        answer.status, answer.headers, action, advice, said=_said(answer), facts=facts
    )


def _rejected(answer: HttpAnswer) -> bool:
    """Twilio's documented answer to bad credentials: 401 with error 20003."""
    return answer.status == 401 and _code(answer) == INVALID_CREDENTIALS


def _accepted(answer: HttpAnswer) -> bool:
    """The credential got past authentication (a 404 on a read comes after it)."""
    return answer.status < 300 or (answer.status == 404 and _code(answer) == NOT_FOUND)


def credential_kind(cred: Credential) -> str:
    """API key (its SID is known, or its place says so) or Auth Token."""
    if cred.key_id and _KEY_SID.match(cred.key_id):
        return KIND_API_KEY
    if cred.kind == KIND_AUTH_TOKEN:
        return KIND_AUTH_TOKEN
    return KIND_API_KEY if cred.kind == KIND_API_KEY else cred.kind


@dataclass(frozen=True)
class _Promoted:
    """An Auth Token this run replaced: the account, and the new primary."""

    account: str
    new: SecretValue


class TwilioResponder(HttpProviderResponder[TwilioSettings]):
    """Deletes, replaces and verifies Twilio API keys and Auth Tokens (see module docstring)."""

    name: ClassVar[str] = "twilio"
    display_name: ClassVar[str] = "Twilio"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"twilio"})
    capabilities = KEY_CAPABILITIES
    # twilio.com/docs/api/errors/20429: Twilio limits the REST requests an account has in
    # flight and answers 429 (never processed, safe to retry) beyond it; it publishes no number.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10,
        source="Twilio: a per-account limit on concurrent requests (error 20429), number "
        "unpublished; 10 at once",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        # The Auth Token is replaced with itself (secondary-token promotion) and needs nothing
        # here. API keys need a Main key, whose SID init cannot know: a placeholder SID would
        # pass validation and then fail at the worst moment, so the pair stays commented out.
        api_keys = any(credential_kind(c) == KIND_API_KEY for c in found)
        return ProviderSetup(
            settings=(
                ConfigSetting("admin_key_id", "SK" + "0" * 32,
                              "a Main API key's SID (not Standard or Restricted)",
                              optional=True),
                ConfigSetting("admin_secret", "keyring:clawback/twilio-admin",
                              "its secret (reference)", optional=True),
                ConfigSetting("account_sid", "AC" + "0" * 32,
                              "only when discovery did not find the SID beside the secret",
                              optional=True),
            ),
            permissions=(
                "for API keys: a Main API key of the account (it reads the account and "
                "lists, deletes and creates its keys); the Auth Token needs none",
            ),
            console="https://console.twilio.com/us1/account/keys-credentials/api-keys",
            note=("the agent holds API keys: until admin_key_id and admin_secret are filled "
                  "in, contain leaves them to you" if api_keys else
                  "the Auth Token is replaced by promoting a secondary token, with no "
                  "credential of yours"),
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._deleted: set[str] = set()  # API key SIDs deleted in this run
        self._promoted: dict[str, _Promoted] = {}  # old token fingerprint → what replaced it
        self._replaced: dict[str, Rotated] = {}  # fingerprint → the rotation already made
        # Secondary tokens this run created for an Auth Token, before asking to promote them.
        self._pending: dict[str, SecretValue] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _account(self, cred: Credential) -> str:
        if cred.account and _ACCOUNT_SID.match(cred.account):
            return cred.account
        if self.settings.account_sid:
            return self.settings.account_sid
        raise ResponderError(
            f"the Twilio account of {cred.fingerprint} is unknown: no AC… SID was found beside "
            "it; set account_sid in [providers.twilio]"
        )

    def _admin(self) -> tuple[str, SecretValue]:
        s = self.settings
        if not s.admin_key_id or not s.admin_secret:
            raise ResponderError(
                "this needs an admin credential: set admin_key_id and admin_secret "
                '(admin_secret = "keyring:SERVICE/USER") in [providers.twilio] to a Main API '
                "key (created in the Console; Standard keys cannot manage keys)"
            )
        return s.admin_key_id, self._store().resolve(s.admin_secret)

    def _call(
        self,
        method: str,
        path: str,
        user: str,
        password: SecretValue,
        *,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> HttpAnswer:
        """One request with HTTP Basic auth; ``/v1/AuthTokens…`` goes to ``accounts_url``."""
        basic = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
        request: dict[str, Any] = {"headers": {"Authorization": f"Basic {basic}"}}
        if data is not None:
            request["data"] = dict(data)
        if params is not None:
            request["params"] = dict(params)
        url = path
        if path.startswith("/v1/"):
            url = f"{self.settings.accounts_url.rstrip('/')}{path}"
        return self.answers.send(self._client(), method, url, f"{method} {path}", **request)

    def _probe(self, account: str, user: str, secret: SecretValue) -> HttpAnswer:
        return self._call("GET", f"/2010-04-01/Accounts/{account}/Balance.json", user, secret)

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config and the credentials alone: no request."""
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            kind = credential_kind(cred)
            try:
                account = self._account(cred)
            except ResponderError as exc:
                out.append((cred, Failed(error=str(exc))))
                continue
            if kind == KIND_API_KEY and cred.key_id:
                commands: tuple[str, ...] = (
                    f"DELETE /2010-04-01/Accounts/{account}/Keys/{cred.key_id}.json",
                )
                action = "delete"
            elif kind == KIND_AUTH_TOKEN:
                commands = (
                    "DELETE /v1/AuthTokens/Secondary (any secondary token that exists)",
                    "POST /v1/AuthTokens/Secondary",
                    f"GET /2010-04-01/Accounts/{account}/Balance.json (with the new token)",
                    "POST /v1/AuthTokens/Promote (the old token dies)",
                )
                action = "promote"
            else:
                out.append((cred, _unpaired(cred)))
                continue
            out.append((cred, Planned(action=action, detail=f"{cred.kind} {cred.fingerprint}",
                                      commands=commands)))
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return Skipped(reason="the credential's value is unknown")
        try:
            kind = credential_kind(cred)
            if kind == KIND_AUTH_TOKEN:
                return self._promote_away(cred, cred.secret)
            if kind == KIND_API_KEY and cred.key_id:
                return self._delete_key(cred, cred.key_id)
            return _unpaired(cred)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _delete_key(self, cred: Credential, sid: str) -> Outcome:
        account = self._account(cred)
        admin_key_id, admin = self._admin()
        if sid == admin_key_id:
            return Failed(
                error=f"{sid} is the Main API key clawback itself uses (admin_key_id): create "
                "another Main key in the Console, point admin_key_id/admin_secret at it, and run "
                "again; or delete this key in the Console",
                facts={"key_sid": sid},
            )
        path = f"/2010-04-01/Accounts/{account}/Keys/{sid}.json"
        facts = {"key_sid": sid, "account_sid": account, "endpoint": f"DELETE {path}"}
        with self._lock:
            if sid in self._deleted:
                return AlreadyRevoked(detail=f"this run already deleted API key {sid}",
                                      facts=facts)
        answer = self._call("DELETE", path, admin_key_id, admin)
        if answer.status == 404:
            return self._not_in_account(cred, sid, account, facts)
        if answer.status >= 300:
            return _failure(answer, f"DELETE {path}", _MAIN_KEY, facts)
        with self._lock:
            self._deleted.add(sid)
        return Revoked(detail=f"API key {sid} deleted", facts=facts)

    def _not_in_account(
        self, cred: Credential, sid: str, account: str, facts: Mapping[str, Any]
    ) -> Outcome:
        """The account does not list the key: gone, or someone else's? Ask with the key."""
        assert cred.secret is not None
        probe = self._probe(account, sid, cred.secret)
        if _accepted(probe):
            return Failed(
                error=f"Twilio accepts API key {sid} but account {account} does not list it: it "
                "belongs to another account (a parent account's key works on its subaccounts); "
                "set account_sid in [providers.twilio] to the account that owns it",
                facts=dict(facts),
            )
        if probe.status >= 500 or probe.status == 429:
            return _failure(probe, "GET …/Balance.json", "", facts)
        return Unproven(
            reason=f"account {account} does not list API key {sid} and Twilio rejects it "
            f"(HTTP {probe.status}{_said(probe)}), which is also what a key of another account "
            "or another Twilio Region gets",
            check=f"find {sid} under Account → API keys in the Console of every account and "
            "Region you use, and delete it there",
            url=CONSOLE_KEYS,
            facts=dict(facts),
        )

    def _promote_away(self, cred: Credential, old: SecretValue) -> Outcome:
        """Delete any secondary token, create one, test it, promote it: the old one dies."""
        account = self._account(cred)
        facts: dict[str, Any] = {"account_sid": account}
        with self._lock:
            if cred.fingerprint in self._promoted:
                return AlreadyRevoked(detail="this run already replaced the Auth Token",
                                      facts=facts)
            pending = self._pending.get(cred.fingerprint)
        if pending is not None and self._promoted_meanwhile(account, old, pending):
            # An earlier attempt's promotion went through but its answer was lost: the old
            # token made the secondary (so it was this account's), is refused now, and the
            # secondary clawback made works.
            with self._lock:
                self._promoted[cred.fingerprint] = _Promoted(account, pending)
            return Revoked(detail="Auth Token replaced: an earlier attempt's promotion went "
                           "through (its answer was lost)",
                           facts={**facts, "stage": "promote", "answer_lost": True})
        created = self._create_secondary(account, old, facts)
        if isinstance(created, Outcome):
            return created
        with self._lock:
            self._pending[cred.fingerprint] = created
        promoted = self._promote(account, created, facts)
        if promoted is not None:
            return promoted
        with self._lock:
            self._promoted[cred.fingerprint] = _Promoted(account, created)
        return Revoked(
            detail="Auth Token replaced: a new primary token was promoted and the old one no "
            "longer authenticates (the new one is shown in the Console)",
            facts=facts,
        )

    def _promoted_meanwhile(self, account: str, old: SecretValue, new: SecretValue) -> bool:
        return _rejected(self._probe(account, account, old)) and _accepted(
            self._probe(account, account, new))

    def _create_secondary(
        self, account: str, token: SecretValue, facts: dict[str, Any]
    ) -> SecretValue | Outcome:
        secondary = "/v1/AuthTokens/Secondary"
        cleared = self._call("DELETE", secondary, account, token)
        if _rejected(cleared):
            return Unproven(
                reason="Twilio rejects the Auth Token for account "
                f"{account} (401, error 20003) before clawback changed anything: it may be "
                "rotated already, or belong to another account, subaccount or Region",
                check="compare the token's last 4 characters with the Auth Token shown under "
                "Account → API keys & tokens of each account you use; rotate any that matches",
                url=CONSOLE_AUTH_TOKENS,
                facts=dict(facts),
            )
        if cleared.status >= 300 and cleared.status != 404:
            return _failure(cleared, "DELETE /v1/AuthTokens/Secondary",
                            "the Auth Token cannot manage the account's tokens", facts)
        facts["earlier_secondary"] = "deleted" if cleared.status < 300 else "none"
        made = self._call("POST", secondary, account, token)
        body = made.body if isinstance(made.body, Mapping) else {}
        value = body.get("secondary_auth_token")
        if made.status >= 300 or not isinstance(value, str) or not value:
            return _failure(made, "POST /v1/AuthTokens/Secondary",
                            "the Auth Token cannot manage the account's tokens", facts)
        new = SecretValue(value)
        facts.update(stage="create", new_fingerprint=new.fingerprint)
        tested = self._probe(account, account, new)
        if not _accepted(tested):
            facts["new_token_test"] = f"HTTP {tested.status}{_said(tested)}"
            self._call("DELETE", secondary, account, token)
            return Failed(
                error=f"Twilio did not accept the new secondary token (HTTP {tested.status}"
                f"{_said(tested)}); it was deleted and the old token is unchanged",
                retryable=True,
                facts=dict(facts),
            )
        facts["stage"] = "test"
        return new

    def _promote(self, account: str, new: SecretValue, facts: dict[str, Any]) -> Outcome | None:
        # Authenticated with the new token: it works whatever became of the old one meanwhile.
        answer = self._call("POST", "/v1/AuthTokens/Promote", account, new)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        if answer.status >= 300:
            return _failure(answer, "POST /v1/AuthTokens/Promote",
                            "the new token cannot promote itself", facts)
        if body.get("auth_token") != new.reveal():
            return Failed(
                error="Twilio answered the promotion without the new token as the primary; "
                "nothing was concluded: check Account → API keys & tokens",
                retryable=True,
                facts=dict(facts),
            )
        facts["stage"] = "promote"
        return None

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """A replacement, stored before the old credential is retired; ``facts["stage"]``."""
        if cred.secret is None:
            return Skipped(reason="the credential's value is unknown")
        with self._lock:
            done = self._replaced.get(cred.fingerprint)
        if done is not None:
            return done
        try:
            kind = credential_kind(cred)
            if kind == KIND_AUTH_TOKEN:
                outcome = self._rotate_token(cred, cred.secret, store)
            elif kind == KIND_API_KEY and cred.key_id:
                outcome = self._rotate_key(cred, cred.key_id, store)
            else:
                return _unpaired(cred)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        if isinstance(outcome, Rotated):
            with self._lock:
                self._replaced[cred.fingerprint] = outcome
        return outcome

    def _keep(self, store: SecretStore, target: str, value: SecretValue) -> str:
        return store.store(self.settings.store_name.format(target=target), value)

    def _rotate_token(self, cred: Credential, old: SecretValue, store: SecretStore) -> Outcome:
        account = self._account(cred)
        with self._lock:
            promoted = self._promoted.get(cred.fingerprint)
        facts: dict[str, Any] = {"account_sid": account}
        target = f"auth-token/{account}"
        if promoted is not None:
            # contain: revoke already promoted; keep and prove the new primary.
            try:
                reference = self._keep(store, target, promoted.new)
            except Exception as exc:
                return Failed(
                    error=f"the new Auth Token could not be stored ({describe_store_error(exc)}):"
                    " read it under Account → API keys & tokens in the Console",
                    facts=facts,
                )
            facts.update(stage="store", reference=reference)
            tested = self._probe(account, account, promoted.new)
            if not _accepted(tested):
                return _failure(tested, "GET …/Balance.json (new token)", "", facts)
            facts["stage"] = "finish"
            return Rotated(
                detail=f"new Auth Token stored at {reference} and tested",
                facts=facts,
                new_fingerprint=promoted.new.fingerprint,
                new_reference=reference,
            )
        # drill: secondary → store → test → the agent takes it → promote.
        created = self._create_secondary(account, old, facts)
        if isinstance(created, Outcome):
            return created
        try:
            reference = self._keep(store, target, created)
        except Exception as exc:
            self._call("DELETE", "/v1/AuthTokens/Secondary", account, old)
            return Failed(
                error=f"storing the new Auth Token failed ({describe_store_error(exc)}); the "
                "secondary token was deleted and the old one is unchanged",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        kept = handed_over(store, facts, "the old Auth Token stays primary (the new one waits "
                           "as the secondary token)")
        if kept is not None:
            return kept
        promoted_failed = self._promote(account, created, facts)
        if promoted_failed is not None:
            return promoted_failed
        with self._lock:
            self._promoted[cred.fingerprint] = _Promoted(account, created)
        facts["stage"] = "finish"
        return Rotated(
            detail=f"new Auth Token stored at {reference}, tested and promoted; the old one no "
            "longer authenticates",
            facts=facts,
            new_fingerprint=created.fingerprint,
            new_reference=reference,
        )

    def _rotate_key(self, cred: Credential, old_sid: str, store: SecretStore) -> Outcome:
        account = self._account(cred)
        admin_key_id, admin = self._admin()
        keys = f"/2010-04-01/Accounts/{account}/Keys.json"
        made = self._call("POST", keys, admin_key_id, admin,
                          data={"FriendlyName": f"clawback replacement for {old_sid}"})
        body = made.body if isinstance(made.body, Mapping) else {}
        new_sid, secret = body.get("sid"), body.get("secret")
        facts: dict[str, Any] = {"account_sid": account, "old_key_sid": old_sid}
        if made.status >= 300 or not isinstance(new_sid, str) or not isinstance(secret, str):
            return _failure(made, f"POST {keys}", _MAIN_KEY, facts)
        new = SecretValue(secret)
        facts.update(stage="create", new_key_sid=new_sid,
                     key_type="Standard (give it the old key's permissions if it was Restricted)")
        new_path = f"/2010-04-01/Accounts/{account}/Keys/{new_sid}.json"
        try:
            reference = self._keep(store, f"keys/{new_sid}", new)
        except Exception as exc:
            self._call("DELETE", new_path, admin_key_id, admin)
            return Failed(
                error=f"storing the new API key's secret failed ({describe_store_error(exc)}); "
                f"the new key {new_sid} was deleted again",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        tested = self._probe(account, new_sid, new)
        if not _accepted(tested):
            return Failed(
                error=f"the new API key {new_sid} is stored at {reference} but Twilio answered "
                f"HTTP {tested.status}{_said(tested)} to it",
                retryable=tested.status >= 500 or tested.status == 429,
                facts=facts,
            )
        facts["stage"] = "test"
        with self._lock:
            already = old_sid in self._deleted
        if not already:
            kept = handed_over(store, facts, f"the old API key {old_sid} stays")
            if kept is not None:
                return kept
            old_path = f"/2010-04-01/Accounts/{account}/Keys/{old_sid}.json"
            gone = self._call("DELETE", old_path, admin_key_id, admin)
            if gone.status >= 300 and gone.status != 404:
                failed = _failure(gone, f"DELETE {old_path}", _MAIN_KEY, facts)
                return Failed(
                    error=f"the new key {new_sid} works and is stored at {reference}, but "
                    f"deleting the old one failed: {failed.error}",
                    retryable=failed.retryable,
                    retry_after=failed.retry_after,
                    facts=facts,
                )
            with self._lock:
                self._deleted.add(old_sid)
        facts["stage"] = "finish"
        return Rotated(
            detail=f"new API key {new_sid} stored at {reference} (the agent needs its SID too) "
            f"and tested; {old_sid} is deleted",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """401 with error 20003 to the old credential, plus Twilio's record of it (see the
        module docstring); anything less is Unproven."""
        if cred.secret is None:
            return Skipped(reason="the credential's value is unknown, so it cannot be tried")
        try:
            kind = credential_kind(cred)
            if kind == KIND_AUTH_TOKEN:
                return self._verify_token(cred, cred.secret)
            if kind == KIND_API_KEY and cred.key_id:
                return self._verify_key(cred, cred.key_id, cred.secret)
            return Skipped(reason="the API key's SID is unknown, so it cannot be tried")
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verify_token(self, cred: Credential, old: SecretValue) -> Outcome:
        account = self._account(cred)
        probe = self._probe(account, account, old)
        facts = {"account_sid": account, "checked_with": f"GET …/Balance.json → {probe.status}"}
        with self._lock:
            promoted = cred.fingerprint in self._promoted
        if _accepted(probe):
            return Failed(error="Twilio still accepts the old Auth Token", retryable=True,
                          facts=facts)
        if not _rejected(probe):
            if probe.status >= 500 or probe.status == 429:
                return _failure(probe, "GET …/Balance.json", "", facts)
            return Unproven(
                reason=f"Twilio answered HTTP {probe.status}{_said(probe)} to the old Auth "
                "Token, not its invalid-credentials error 20003",
                check="sign in to the Console and compare the Auth Token's last 4 characters",
                url=CONSOLE_AUTH_TOKENS, facts=facts,
            )
        if promoted:
            return VerifiedDead(
                detail="Twilio rejects the old Auth Token (401, error 20003) and this run "
                "promoted its replacement",
                facts={**facts, "record": "promotion answered a new primary"},
            )
        return Unproven(
            reason="Twilio rejects the Auth Token (401, error 20003), but this run did not "
            "replace it: the same answer comes for a token of another account, subaccount or "
            "Region",
            check="compare the token's last 4 characters with the Auth Token of each account "
            "you use (Account → API keys & tokens); rotate any that matches",
            url=CONSOLE_AUTH_TOKENS, facts=facts,
        )

    def _verify_key(self, cred: Credential, sid: str, old: SecretValue) -> Outcome:
        account = self._account(cred)
        probe = self._probe(account, sid, old)
        facts: dict[str, Any] = {
            "key_sid": sid, "account_sid": account,
            "checked_with": [f"GET …/Balance.json with the key → {probe.status}"],
        }
        if _accepted(probe):
            return Failed(error=f"Twilio still accepts API key {sid}", retryable=True,
                          facts=facts)
        if probe.status >= 500 or probe.status == 429:
            return _failure(probe, "GET …/Balance.json", "", facts)
        listed: bool | None = None
        if self.settings.admin_key_id:
            admin_key_id, admin = self._admin()
            path = f"/2010-04-01/Accounts/{account}/Keys/{sid}.json"
            record = self._call("GET", path, admin_key_id, admin)
            facts["checked_with"].append(f"GET {path} → {record.status}")
            if record.status == 404:
                listed = False
            elif record.status < 300:
                listed = True
            else:
                return _failure(record, f"GET {path}", _MAIN_KEY, facts)
        if listed:
            return Failed(error=f"account {account} still lists API key {sid}", retryable=True,
                          facts=facts)
        with self._lock:
            ours = sid in self._deleted
        if _rejected(probe) and listed is False and ours:
            return VerifiedDead(
                detail=f"Twilio rejects API key {sid} (401, error 20003) and no longer lists it",
                facts=facts,
            )
        reason = (
            f"Twilio answered HTTP {probe.status}{_said(probe)} to API key {sid}"
            + ("" if _rejected(probe) else ", not its invalid-credentials error 20003")
            + ("; no admin credential to read the account's record of the key"
               if listed is None else "")
            + ("" if ours else "; this run did not delete it, and a key of another account or "
               "Region gets the same answers")
        )
        return Unproven(
            reason=reason,
            check=f"look for {sid} under Account → API keys in the Console of each account and "
            "Region you use",
            url=CONSOLE_KEYS,
            facts=facts,
        )

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The admin credential reads the account and lists its keys (writes have no harmless
        probe). The Auth Token needs no admin: it replaces itself."""
        try:
            s = self.settings
            if not s.admin_key_id:
                return []
            admin_key_id, admin = self._admin()
            account = s.account_sid or (admin_key_id if admin_key_id.startswith("AC") else None)
            if account is None:
                raise ResponderError(
                    "set account_sid in [providers.twilio]: the account whose keys the admin "
                    "key manages"
                )
        except ResponderError as exc:
            return [PreflightCheck("twilio", "admin credential", False, detail=str(exc),
                                   missing_permission="admin_secret")]
        probes = [
            ("admin credential", f"/2010-04-01/Accounts/{account}/Balance.json", {},
             "a valid Twilio API key SID and secret"),
            ("api keys", f"/2010-04-01/Accounts/{account}/Keys.json", {"PageSize": 1},
             "a Main API key (Keys resource: list, create, delete)"),
        ]

        def probe(item: tuple[str, str, dict[str, Any], str]) -> PreflightCheck:
            capability, path, params, needed = item
            try:
                answer = self._call("GET", path, admin_key_id, admin, params=params)
            except CallFailed as err:
                return PreflightCheck("twilio", capability, False, detail=err.failed.error)
            if answer.status < 300:
                return PreflightCheck("twilio", capability, True, detail=f"GET {path}: 200")
            failed = _failure(answer, f"GET {path}", f"needs {needed}", {})
            return PreflightCheck(
                "twilio", capability, False, detail=failed.error,
                missing_permission=needed if answer.status in (401, 403) else "",
            )

        return list(self.context.fan_out(probe, probes))


def _unpaired(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"Twilio {cred.kind} {cred.fingerprint} was found without its API key SID "
        f"(SK…) beside it, so clawback cannot tell which key it is. In the Console under "
        "Account → API keys & tokens, delete the key the agent used (and rotate the Auth Token "
        f"if this is one), then remove the old value from: {where_found(cred)}.",
        url=CONSOLE_KEYS,
    )

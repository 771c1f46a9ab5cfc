"""Cloudflare responder: API tokens are disabled or deleted, rolled in place, and proven dead.

A discovered API token is located with ``GET /user/tokens/verify`` sent *with the token itself*,
which answers its id and status without any admin right; a token Cloudflare already rejects is
``AlreadyRevoked``. With the admin token (a reference to a token holding "API Tokens Write"),
``revoke`` then disables it (``PUT /user/tokens/{id}`` with ``status: disabled``, reversible) or
deletes it, as configured. ``rotate`` rolls the value (``PUT /user/tokens/{id}/value``), which
invalidates the old value at once and keeps the token's permissions; the new value is stored
through the SecretStore before anything else, and if that fails the token is disabled so no live
value is left without a home. A token ``revoke`` disabled is switched back on after the roll
(the attacker's copy is dead; the new value lives only in the store) unless
``reactivate_after_roll = false``. ``verify_revoked`` asks ``/user/tokens/verify`` with the old
value again: rejected, disabled or expired means dead.

Account-owned tokens use the same calls under ``/accounts/{account_id}/tokens``; the admin
token then needs "Account API Tokens Write". Which endpoint a token answers on is told by its
prefix (https://developers.cloudflare.com/fundamentals/api/get-started/token-formats/):
``cfut_`` is a user token, ``cfat_`` an account token, ``cfk_`` the Global API Key (no API rolls
it: a manual step). A token without a prefix (made before the scannable format) is asked at the
user endpoint, then at the account endpoint when ``account_id`` is set.

What proves a token dead: Cloudflare's answer for an invalid token, 401 with error code 1000
("Invalid API Token"), from the endpoint that owns it, plus its own record when clawback found
the token's id (``GET …/tokens/{id}`` by the admin token: gone, disabled or expired). The user
endpoint answers exactly that 401 to a live *account* token too
(https://developers.cloudflare.com/fundamentals/api/how-to/verify-token/, and account tokens are
verified at ``/accounts/{account_id}/tokens/verify``), so a prefix-less token rejected there
while no ``account_id`` is configured is ``Unproven``, never dead.

Config, the ``[providers.cloudflare]`` table of clawback.toml (every key optional)::

    base_url = "https://api.cloudflare.com/client/v4"
    token = "keyring:clawback/cloudflare-admin"   # admin token (reference)
    account_id = "0123456789abcdef0123456789abcdef"  # for account-owned tokens
    revoke_action = "disable"                   # or "delete" (then rotate is a manual step)
    reactivate_after_roll = true
    store_name = "cloudflare/{target}"
    timeout_seconds = 10
    connect_timeout_seconds = 3

Errors become outcomes: 429 → ``Failed(retryable=True)`` with ``retry_after`` from
``Retry-After``; 5xx, timeouts and refused connections → retryable; 401 → the admin token is
named; 403 → the missing permission is named; 404 on a change → ``AlreadyRevoked``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from responders.http_answers import CallFailed, JsonObjectAnswer, ProviderAnswers
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
from responders.provider_responder import (
    KEY_CAPABILITIES_WITH_DISABLE,
    HttpProviderResponder,
    describe_store_error,
    kind_by_prefix,
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    validate_table,
)

KIND_API_TOKEN = "cloudflare:api_token"
KIND_ACCOUNT_TOKEN = "cloudflare:account_token"
KIND_GLOBAL_API_KEY = "cloudflare:global_api_key"
ACCOUNT_TOKEN_PREFIX = "cfat_"
USER_TOKEN_PREFIX = "cfut_"
GLOBAL_KEY_PREFIX = "cfk_"
INVALID_TOKEN_CODE = 1000
_PREFIX_KINDS = (
    (GLOBAL_KEY_PREFIX, KIND_GLOBAL_API_KEY),
    (ACCOUNT_TOKEN_PREFIX, KIND_ACCOUNT_TOKEN),
    (USER_TOKEN_PREFIX, KIND_API_TOKEN),
)
ACCOUNT_TOKENS_URL = "https://dash.cloudflare.com/?to=/:account/api-tokens"
TOKENS_URL = "https://dash.cloudflare.com/profile/api-tokens"
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
# Fields of a token that an update must send back unchanged (Cloudflare replaces the token).
_KEPT_ON_UPDATE = ("name", "policies", "condition", "expires_on", "not_before")


@dataclass(frozen=True)
class CloudflareSettings:
    """The validated ``[providers.cloudflare]`` table (see the module docstring)."""

    base_url: str = "https://api.cloudflare.com/client/v4"
    token: str | None = None
    account_id: str | None = None
    revoke_action: Literal["disable", "delete"] = "disable"
    reactivate_after_roll: bool = True
    store_name: str = "cloudflare/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> CloudflareSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(CloudflareSettings, raw, "cloudflare")
    require_references("cloudflare", [("token", settings.token)])
    if settings.account_id is not None and not _ACCOUNT_ID.match(settings.account_id):
        raise ResponderError("[providers.cloudflare] account_id must be 32 lowercase hex digits")
    require_positive_timeouts(
        "cloudflare", settings.timeout_seconds, settings.connect_timeout_seconds
    )
    return settings


# -- turning answers into outcomes -------------------------------------------------------------


_ANSWERS = ProviderAnswers(
    provider="Cloudflare",
    rejected="expired, disabled or wrong; check token in [providers.cloudflare]",
)


@dataclass(frozen=True)
class _Answer(JsonObjectAnswer):
    """An answer in Cloudflare's envelope (``success``, ``result``, ``errors``)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.body.get("success") is not False

    @property
    def result(self) -> Any:
        return self.body.get("result")

    @property
    def invalid_token(self) -> bool:
        """Cloudflare's answer for a token it does not know: 401 with error code 1000."""
        items = self.body.get("errors")
        return self.status == 401 and isinstance(items, list) and any(
            isinstance(e, Mapping) and e.get("code") == INVALID_TOKEN_CODE for e in items
        )

    @property
    def errors(self) -> str:
        """Cloudflare's error codes and messages, short (they never echo a token)."""
        items = self.body.get("errors")
        if not isinstance(items, list):
            return ""
        return "; ".join(
            f"{e.get('code')}: {str(e.get('message', ''))[:120]}"
            for e in items[:3]
            if isinstance(e, Mapping)
        )


def failure_for_answer(answer: _Answer, action: str, forbidden_advice: str) -> Failed:
    """The outcome for an error answer (404 and a rejected old token are the caller's)."""
    return _ANSWERS.failure_for_status(
        answer.status,
        answer.headers,
        action,
        forbidden_advice,
        said=f" ({answer.errors})" if answer.errors else "",
        facts={"endpoint": action, "http_status": answer.status},
    )


@dataclass(frozen=True)
class _Located:
    """Where a token lives and what Cloudflare said about it."""

    prefix: str  # "/user/tokens" or "/accounts/{id}/tokens"
    token_id: str
    status: str

    @property
    def owner(self) -> str:
        return "user" if self.prefix == "/user/tokens" else "account"


class CloudflareResponder(HttpProviderResponder[CloudflareSettings]):
    """Disables, deletes, rolls and verifies Cloudflare API tokens; see the module docstring."""

    name: ClassVar[str] = "cloudflare"
    display_name: ClassVar[str] = "Cloudflare"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"cloudflare"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES_WITH_DISABLE
    # developers.cloudflare.com/fundamentals/api/reference/limits: 1,200 requests per five
    # minutes per user or account token, and over it every call is refused for five minutes;
    # 200 a second per IP.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=100, requests=1200, per_seconds=300,
        source="Cloudflare: 1,200 requests per 5 minutes per user",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("token", admin_reference("cloudflare"),
                              "an API token with API Tokens Write"),
                ConfigSetting("account_id", "0123456789abcdef0123456789abcdef",
                              "for account-owned tokens", optional=True),
            ),
            permissions=("API Tokens Read and Write (user tokens)",
                         "Account API Tokens Read and Write (account tokens)"),
            console="https://dash.cloudflare.com/profile/api-tokens",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        # Found by revoke(): after a disable the old value no longer answers /verify.
        self._located: dict[str, _Located] = {}
        # Token ids revoke() disabled in this run: the ones a roll switches back on.
        self._disabled: set[str] = set()
        # Token ids revoke() deleted in this run: nothing is left to roll.
        self._deleted: set[str] = set()
        # Token ids rolled in this run: their old value is dead, the token itself lives on.
        self._rolled: set[str] = set()

    # -- configuration and client -------------------------------------------------------------

    def _admin_token(self) -> SecretValue:
        if not self.settings.token:
            raise ResponderError(
                'this needs an admin token: set token = "keyring:SERVICE/USER" in '
                "[providers.cloudflare] (a token with the API Tokens Write permission, or "
                "Account API Tokens Write for account-owned tokens)"
            )
        return self._store().resolve(self.settings.token)

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _call(self, method: str, path: str, token: SecretValue, json_body: Any = None) -> _Answer:
        sent = self._request(method, path, f"{method} {path}", key=token, json_body=json_body)
        return _Answer.of(sent)

    def _prefixes(self, cred: Credential) -> list[str]:
        """Where the token may live, in the order to ask."""
        account = self.settings.account_id
        account_prefix = f"/accounts/{account}/tokens" if account else None
        kind = token_kind(cred)
        if kind == KIND_ACCOUNT_TOKEN:
            if account_prefix is None:
                raise ResponderError(
                    f"{cred.fingerprint} is an account-owned token (cfat_): set account_id in "
                    "[providers.cloudflare], or roll it under Manage Account → API Tokens"
                )
            return [account_prefix]
        if _has_prefix(cred, USER_TOKEN_PREFIX):
            return ["/user/tokens"]
        return ["/user/tokens", *([account_prefix] if account_prefix else [])]

    def _forbidden_advice(self, prefix: str) -> str:
        permission = "API Tokens Write" if prefix == "/user/tokens" else "Account API Tokens Write"
        return f"the admin token needs the {permission} permission"

    # -- locating a token by its value ---------------------------------------------------------

    def _locate(self, cred: Credential, where: str | None = None) -> _Located | Outcome:
        """Ask ``…/tokens/verify`` with the token itself: its id and status, or it is dead.

        Only 401 (invalid token) and 400 (not a token at all) count as dead. A 403 means this
        endpoint will not answer for the token (an account-owned token asked at ``/user``, a
        firewall rule): the token may well be alive, so that is never reported as revoked.
        """
        assert cred.secret is not None
        rejected: list[str] = []
        refused: list[str] = []
        ambiguous: list[str] = []
        # ``where``: the endpoint this run already found the token at (its owner is known).
        prefixes = [where] if where else self._prefixes(cred)
        for prefix in prefixes:
            answer = self._call("GET", f"{prefix}/verify", cred.secret)
            result = answer.result if isinstance(answer.result, Mapping) else {}
            if answer.ok and result.get("id"):
                return _Located(prefix, str(result["id"]), str(result.get("status", "")))
            if answer.invalid_token or answer.status == 400:
                rejected.append(f"GET {prefix}/verify → {answer.status}")
            elif answer.status == 401:
                ambiguous.append(f"GET {prefix}/verify → 401 ({answer.errors or 'no code'})")
            elif answer.status == 403:
                refused.append(f"GET {prefix}/verify → 403")
            else:
                return failure_for_answer(answer, f"GET {prefix}/verify", "")
        if refused:
            return Failed(
                error=f"Cloudflare would not say whether {cred.fingerprint} is alive "
                f"({', '.join(refused)}): if it is an account-owned token, set account_id in "
                "[providers.cloudflare]; otherwise roll or delete it under My Profile → API "
                "Tokens",
                facts={"checked_with": [*rejected, *refused]},
            )
        owner_known = where is not None or token_kind(cred) == KIND_ACCOUNT_TOKEN or (
            _has_prefix(cred, USER_TOKEN_PREFIX) or len(prefixes) > 1)
        if ambiguous or not owner_known:
            return Unproven(
                reason="Cloudflare rejects the token at " + ", ".join([*rejected, *ambiguous])
                + (", but /user/tokens/verify answers that 401 (code 1000) to a live "
                   "account-owned token too, and no account_id is configured to ask there"
                   if not owner_known else ", without its invalid-token code 1000"),
                check="set account_id in [providers.cloudflare] and run again, or find the "
                "token under Manage Account → API Tokens and My Profile → API Tokens",
                url=ACCOUNT_TOKENS_URL,
                facts={"checked_with": [*rejected, *ambiguous]},
            )
        return AlreadyRevoked(
            detail="Cloudflare rejects this token as invalid (401, code 1000)",
            facts={"checked_with": rejected},
        )

    def _remember(self, cred: Credential, located: _Located) -> None:
        with self._lock:
            self._located[cred.fingerprint] = located

    def _remembered(self, cred: Credential) -> _Located | None:
        with self._lock:
            return self._located.get(cred.fingerprint)

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        s = self.settings
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            if token_kind(cred) == KIND_GLOBAL_API_KEY or cred.secret is None:
                out.append((cred, Planned(action="manual", detail=f"{cred.kind}: by hand")))
                continue
            try:
                prefixes = self._prefixes(cred)
            except ResponderError as exc:
                out.append((cred, Planned(action="manual", detail=str(exc))))
                continue
            change = (
                "GET {p}/{{id}}, PUT {p}/{{id}} status=disabled"
                if s.revoke_action == "disable"
                else "DELETE {p}/{{id}}"
            )
            commands = (
                *(f"GET {p}/verify (with the token itself: its id)" for p in prefixes),
                *(change.format(p=p) for p in prefixes[:1]),
            )
            out.append(
                (
                    cred,
                    Planned(
                        action=s.revoke_action,
                        detail=f"{cred.kind} {cred.fingerprint}",
                        commands=commands,
                    ),
                )
            )
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        if token_kind(cred) == KIND_GLOBAL_API_KEY:
            return _global_key_steps(cred)
        if cred.secret is None:
            return ManualRequired(
                instructions=f"The value of Cloudflare token {cred.fingerprint} is not known: "
                f"find it under My Profile → API Tokens and roll or delete it.",
                url=TOKENS_URL,
            )
        try:
            located = self._locate(cred)
            if isinstance(located, Outcome):
                return located
            self._remember(cred, located)
            if self.settings.revoke_action == "delete":
                return self._delete(located)
            return self._disable(located)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _token_details(self, located: _Located, admin: SecretValue) -> Mapping[str, Any] | Outcome:
        path = f"{located.prefix}/{located.token_id}"
        answer = self._call("GET", path, admin)
        if answer.status == 404:
            return AlreadyRevoked(
                detail=f"token {located.token_id} no longer exists (404)",
                facts={"endpoint": f"GET {path}", "http_status": 404},
            )
        if not answer.ok or not isinstance(answer.result, Mapping):
            return failure_for_answer(answer, f"GET {path}", self._forbidden_advice(located.prefix))
        return answer.result

    def _set_status(self, located: _Located, status: str, admin: SecretValue) -> Outcome | None:
        """PUT the token back unchanged but for its status; None on success."""
        details = self._token_details(located, admin)
        if isinstance(details, Outcome):
            return details
        body = {k: details[k] for k in _KEPT_ON_UPDATE if details.get(k) is not None}
        body["status"] = status
        path = f"{located.prefix}/{located.token_id}"
        answer = self._call("PUT", path, admin, json_body=body)
        if answer.status == 404:
            return AlreadyRevoked(
                detail=f"token {located.token_id} no longer exists (404)",
                facts={"endpoint": f"PUT {path}", "http_status": 404},
            )
        if not answer.ok:
            return failure_for_answer(answer, f"PUT {path}", self._forbidden_advice(located.prefix))
        return None

    def _disable(self, located: _Located) -> Outcome:
        facts = {"token_id": located.token_id, "owner": located.owner}
        if located.status in ("disabled", "expired"):
            return AlreadyRevoked(
                detail=f"token {located.token_id} is already {located.status}",
                facts={**facts, "status": located.status},
            )
        problem = self._set_status(located, "disabled", self._admin_token())
        if problem is not None:
            return problem
        with self._lock:
            self._disabled.add(located.token_id)
        return Disabled(
            detail=f"token {located.token_id} disabled (reversible; rotate rolls its value)",
            facts={**facts, "endpoint": f"PUT {located.prefix}/{{id}}", "status": "disabled"},
        )

    def _delete(self, located: _Located) -> Outcome:
        path = f"{located.prefix}/{located.token_id}"
        # The 2024 description requires a JSON body on DELETE; Cloudflare accepts {}.
        answer = self._call("DELETE", path, self._admin_token(), json_body={})
        facts = {"token_id": located.token_id, "owner": located.owner, "endpoint": f"DELETE {path}"}
        if answer.status == 404:
            return AlreadyRevoked(detail=f"token {located.token_id} is already gone", facts=facts)
        if not answer.ok:
            return failure_for_answer(
                answer, f"DELETE {path}", self._forbidden_advice(located.prefix)
            )
        with self._lock:
            self._deleted.add(located.token_id)
        return Revoked(detail=f"token {located.token_id} deleted", facts=facts)

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """roll → store → (re-enable) → test; ``facts["stage"]`` is the last stage reached."""
        if token_kind(cred) == KIND_GLOBAL_API_KEY:
            return _global_key_steps(cred)
        if cred.secret is None:
            return Skipped(reason="the token's value is unknown, so it cannot be located")
        remembered = self._remembered(cred)
        with self._lock:
            deleted = remembered is not None and remembered.token_id in self._deleted
        if deleted:
            return ManualRequired(
                instructions=f"Cloudflare token {cred.fingerprint} was deleted, so it cannot be "
                "rolled: create a new token with the same permissions under My Profile → API "
                "Tokens → Create Token, store it with `keyring set clawback cloudflare/agent`, and "
                "point the agent at it.",
                url=TOKENS_URL,
            )
        try:
            located = remembered or self._locate(cred)
            if isinstance(located, Failed):
                return located
            if isinstance(located, Outcome):
                return ManualRequired(
                    instructions=f"Cloudflare rejects {cred.fingerprint}, so its id cannot be "
                    "found from its value: roll it under My Profile → API Tokens → (token) → "
                    "Roll, and store the new value with `keyring set clawback cloudflare/agent`.",
                    url=TOKENS_URL,
                )
            self._remember(cred, located)
            return self._roll(located, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _roll(self, located: _Located, store: SecretStore) -> Outcome:
        admin = self._admin_token()
        path = f"{located.prefix}/{located.token_id}/value"
        answer = self._call("PUT", path, admin, json_body={})
        if not answer.ok or not isinstance(answer.result, str) or not answer.result:
            if answer.status == 404:
                return Failed(error=f"token {located.token_id} no longer exists (404)")
            return failure_for_answer(answer, f"PUT {path}", self._forbidden_advice(located.prefix))
        new = SecretValue(answer.result)
        with self._lock:
            self._rolled.add(located.token_id)
        facts: dict[str, Any] = {
            "stage": "create",
            "token_id": located.token_id,
            "owner": located.owner,
            "old_value": "invalidated by the roll",
        }
        # The roll already killed the old value: the new one must be stored now, or withdrawn.
        try:
            reference = store.store(
                self.settings.store_name.format(target=f"tokens/{located.token_id}"), new
            )
        except Exception as exc:
            problem = self._set_status(located, "disabled", admin)
            facts["token_disabled"] = problem is None or isinstance(problem, AlreadyRevoked)
            state = "disabled" if facts["token_disabled"] else "NOT disabled"
            return Failed(
                error=f"storing the rolled value failed ({describe_store_error(exc)}); token "
                f"{located.token_id} was {state}: roll it again from the dashboard once the "
                "store works",
                facts=facts,
            )
        facts.update(stage="store", reference=reference)
        with self._lock:
            disabled_by_us = located.token_id in self._disabled
        if disabled_by_us and self.settings.reactivate_after_roll:
            problem = self._set_status(located, "active", admin)
            if problem is not None:
                failed = problem if isinstance(problem, Failed) else Failed(error=problem.detail)
                return replace(
                    failed,
                    error=f"the rolled value is stored at {reference} but re-enabling the token "
                    f"failed: {failed.error}",
                    facts=facts,
                )
            facts["reactivated"] = True
        elif disabled_by_us or located.status != "active":
            # Disabled by clawback with reactivate_after_roll = false, or already disabled
            # before clawback acted: it stays off, and a disabled token cannot be tested.
            facts.update(stage="finish", status="disabled")
            return Rotated(
                detail=f"token {located.token_id} rolled and stored; it stays disabled",
                facts=facts,
                new_fingerprint=new.fingerprint,
                new_reference=reference,
            )
        verify = f"{located.prefix}/verify"
        tested = self._call("GET", verify, new)
        result = tested.result if isinstance(tested.result, Mapping) else {}
        if not tested.ok or str(result.get("id")) != located.token_id:
            return Failed(
                error=f"the rolled value is stored at {reference} but GET {verify} with it "
                f"answered {tested.status}",
                facts=facts,
            )
        facts["stage"] = "finish"
        return Rotated(
            detail=f"token {located.token_id} rolled in place (same permissions), tested",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """``…/tokens/verify`` with the old value rejected (401, code 1000) at the endpoint
        that owns it, or answered disabled/expired; plus Cloudflare's record of the token id
        revoke found (gone, disabled or expired)."""
        if token_kind(cred) == KIND_GLOBAL_API_KEY:
            return Skipped(reason="the Global API Key cannot be checked without the account email")
        if cred.secret is None:
            return Skipped(reason="the token's value is unknown, so it cannot be tried")
        remembered = self._remembered(cred)
        try:
            located = self._locate(cred, remembered.prefix if remembered else None)
            if isinstance(located, AlreadyRevoked):
                return self._verified_by_record(cred, dict(located.facts))
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        if isinstance(located, Outcome):
            return located
        facts = {"token_id": located.token_id, "status": located.status}
        if located.status in ("disabled", "expired"):
            return VerifiedDead(detail=f"the token is {located.status}", facts=facts)
        return Failed(error="Cloudflare still accepts the token (status active)", facts=facts)

    def _verified_by_record(self, cred: Credential, facts: dict[str, Any]) -> Outcome:
        """The old value is rejected; Cloudflare's record of the token revoke found agrees?"""
        remembered = self._remembered(cred)
        if remembered is None or not self.settings.token:
            facts["record"] = "not read (the token's id was never found, or no admin token)"
            return VerifiedDead(detail="Cloudflare rejects the token as invalid (code 1000)",
                                facts=facts)
        with self._lock:
            rolled = remembered.token_id in self._rolled
        if rolled:
            facts["record"] = "rolled: the token now answers to its new value only"
            return VerifiedDead(
                detail="Cloudflare rejects the old value as invalid; the roll replaced it",
                facts=facts,
            )
        path = f"{remembered.prefix}/{remembered.token_id}"
        answer = self._call("GET", path, self._admin_token())
        result = answer.result if isinstance(answer.result, Mapping) else {}
        state = "deleted" if answer.status == 404 else str(result.get("status") or "")
        facts["record"] = state or f"HTTP {answer.status}"
        if state in ("deleted", "disabled", "expired"):
            return VerifiedDead(
                detail=f"Cloudflare rejects the token as invalid and its record says {state}",
                facts=facts,
            )
        if not answer.ok and answer.status != 404:
            return failure_for_answer(answer, f"GET {path}",
                                      self._forbidden_advice(remembered.prefix))
        return Failed(
            error=f"Cloudflare rejects the old value, but its record shows token "
            f"{remembered.token_id} {state or 'in an unknown state'}",
            retryable=True,
            facts=facts,
        )

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The admin token is valid and can list tokens (writes have no harmless probe)."""
        try:
            s = self.settings
            if not s.token:
                return []
            admin = self._admin_token()
        except ResponderError as exc:
            return [
                PreflightCheck(
                    "cloudflare", "admin token", False, detail=str(exc), missing_permission="token"
                )
            ]
        probes = [("admin token", "/user/tokens/verify", "a valid, active token")]
        probes.append(("user tokens", "/user/tokens", "API Tokens Read"))
        if s.account_id:
            probes.append(
                ("account tokens", f"/accounts/{s.account_id}/tokens", "Account API Tokens Read")
            )

        def probe(item: tuple[str, str, str]) -> PreflightCheck:
            capability, path, needed = item
            try:
                answer = self._call("GET", path, admin)
            except CallFailed as err:
                return PreflightCheck("cloudflare", capability, False, detail=err.failed.error)
            if answer.ok:
                return PreflightCheck("cloudflare", capability, True, detail=f"GET {path}: 200")
            failed = failure_for_answer(answer, f"GET {path}", f"needs {needed}")
            return PreflightCheck(
                "cloudflare",
                capability,
                False,
                detail=failed.error,
                missing_permission=needed if answer.status in (401, 403) else "",
            )

        return list(self.context.fan_out(probe, probes))


def token_kind(cred: Credential) -> str:
    return kind_by_prefix(cred, _PREFIX_KINDS)


def _has_prefix(cred: Credential, prefix: str) -> bool:
    return cred.secret is not None and cred.secret.reveal().startswith(prefix)


def _global_key_steps(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=(
            f"Cloudflare has no API that rolls the Global API Key {cred.fingerprint}. Open "
            f"{TOKENS_URL}, find Global API Key under API Keys, click Roll (Change), confirm "
            "with your password, and replace it everywhere it is used; better, replace its "
            "uses with scoped API tokens."
        ),
        url=TOKENS_URL,
    )

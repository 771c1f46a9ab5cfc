"""Matrix responder: an access token logs itself out, and is proven dead by its homeserver.

A Matrix access token (Synapse ``syt_``, Matrix Authentication Service compatibility ``mct_``
and OAuth ``mat_`` tokens, or any token found where OpenClaw's Matrix channel keeps one) is
revoked with ``POST /_matrix/client/v3/logout`` sent *with the token itself*: the homeserver
invalidates it and deletes its device, device keys included
(https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3logout). No admin
credential is involved, and the spec lets a locked account log out too. Before that,
``GET /_matrix/client/v3/account/whoami`` (https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3accountwhoami)
finds which configured homeserver knows the token and whose it is (user and device).

What proves a token dead: the homeserver that answered whoami with the token's user logged it
out in this run (200), and whoami then answers 401 ``M_UNKNOWN_TOKEN`` without
``soft_logout: true``, which the spec defines as "the server has destroyed the session"
(https://spec.matrix.org/latest/client-server-api/#soft-logout). Everything else is
ambiguous, by the spec's own words: ``M_UNKNOWN_TOKEN`` "could mean one of four things" (never
valid, logged out, soft logged out, needs refresh), so a token no configured homeserver knows
(one of another homeserver gets exactly that) is ``Unproven``; ``soft_logout: true`` (an expired
or soft-logged-out token whose session, device and refresh token live on) is ``Unproven``;
``M_USER_LOCKED`` (a locked account keeps its tokens, "servers SHOULD NOT invalidate access
tokens on locked accounts") is ``Unproven`` unless the logout itself succeeded.

A token whose whoami names no device is an application service's ``as_token``: it cannot be
logged out, only replaced in the registration file (a manual step). Refresh tokens (``syr_``,
``mcr_``, ``mar_``) and passwords are manual steps too: the device holding a refresh token is
signed out from another session, a password is changed (which a homeserver may use to end every
session).

``rotate`` (the drill's replacement) needs the bot account's password, configured as a
reference: ``POST /_matrix/client/v3/login`` with ``m.login.password`` makes a new device and
token, which is stored through the SecretStore, tested with whoami (same user), and only once
the agent is proven to use it (``AgentHandover``) is the old token logged out. A token ``revoke``
already logged out is replaced the same way. Without a password it is a manual step.

Config, the ``[providers.matrix]`` table of clawback.toml::

    homeserver = "https://matrix.example.org"         # the client-server API's base URL
    other_homeservers = ["https://matrix.org"]        # asked in order when the first does not
    user = "@openclaw:example.org"                    # for rotate: the bot account
    password = "keyring:clawback/matrix-bot-password" # for rotate (reference)
    device_display_name = "OpenClaw (clawback)"
    store_name = "matrix/{target}"
    timeout_seconds = 10
    connect_timeout_seconds = 3

No admin credential, so no permission to grant: every token may log itself out.

Errors become outcomes: 429 ``M_LIMIT_EXCEEDED`` → ``Failed(retryable=True)`` waiting
``retry_after_ms`` (or ``Retry-After``); 5xx, timeouts and refused connections → retryable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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

API = "/_matrix/client/v3"
WHOAMI = f"{API}/account/whoami"
LOGOUT = f"{API}/logout"
LOGIN = f"{API}/login"
VERSIONS = "/_matrix/client/versions"
SPEC = "https://spec.matrix.org/latest/client-server-api/"
KIND_ACCESS = "matrix:access_token"
KIND_REFRESH = "matrix:refresh_token"
KIND_PASSWORD = "matrix:password"
_REFRESH_PREFIXES = ("syr_", "mcr_", "mar_")
_URL = re.compile(r"^https?://[^\s/]+(?:/\S*)?$")
_USER = re.compile(r"^@[^:\s]+:\S+$")


@dataclass(frozen=True)
class MatrixSettings:
    """The validated ``[providers.matrix]`` table (see the module docstring)."""

    homeserver: str = "https://matrix.org"
    other_homeservers: tuple[str, ...] = ()
    user: str | None = None
    password: str | None = None
    device_display_name: str = "OpenClaw (clawback)"
    store_name: str = "matrix/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}

    @property
    def base_url(self) -> str:  # the HTTP client's; every call names its homeserver
        return self.homeserver

    @property
    def homeservers(self) -> tuple[str, ...]:
        return tuple(u.rstrip("/") for u in (self.homeserver, *self.other_homeservers))


def parse_settings(raw: Mapping[str, Any]) -> MatrixSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(MatrixSettings, raw, "matrix")
    for url in settings.homeservers:
        if not _URL.match(url):
            raise ResponderError("[providers.matrix] homeservers must be http(s) URLs such as "
                                 "https://matrix.example.org")
    require_references("matrix", [("password", settings.password)], noun="password")
    if settings.user is not None and not _USER.match(settings.user):
        raise ResponderError("[providers.matrix] user must be a full Matrix ID such as "
                             "@openclaw:example.org")
    if (settings.user is None) != (settings.password is None):
        raise ResponderError("[providers.matrix] user and password go together (rotate logs "
                             "in as that user)")
    require_store_target("matrix", settings.store_name)
    require_positive_timeouts("matrix", settings.timeout_seconds,
                              settings.connect_timeout_seconds)
    return settings


def token_kind(cred: Credential) -> str:
    """A password or refresh token by its place or prefix; anything else is an access token."""
    if any(re.search(r"(?i)passw(or)?d", loc.key or "") for loc in cred.locations):
        return KIND_PASSWORD
    value = cred.secret.reveal() if cred.secret is not None else ""
    if value.startswith(_REFRESH_PREFIXES) or "refresh" in cred.kind:
        return KIND_REFRESH
    return KIND_ACCESS


# -- turning answers into outcomes -------------------------------------------------------------


_ANSWERS = ProviderAnswers(provider="the homeserver", credential="the token")


@dataclass(frozen=True)
class _Answer(JsonObjectAnswer):
    """A Matrix answer: errors are ``{"errcode": …, "error": …}``."""

    @property
    def errcode(self) -> str:
        return str(self.body.get("errcode") or "")

    @property
    def soft(self) -> bool:
        return self.body.get("soft_logout") is True

    @property
    def destroyed(self) -> bool:
        """401 M_UNKNOWN_TOKEN without soft_logout: the spec's "session destroyed"."""
        return self.status == 401 and self.errcode == "M_UNKNOWN_TOKEN" and not self.soft

    @property
    def said(self) -> str:
        return f"{self.errcode}: {str(self.body.get('error') or '')[:120]}" if self.errcode else ""


def _failure(answer: _Answer, action: str) -> Failed:
    failed = _ANSWERS.failure_for_status(
        answer.status, answer.headers, action, "",
        said=f" ({answer.said})" if answer.said else "",
        facts={"endpoint": action, "http_status": answer.status},
    )
    waited = answer.body.get("retry_after_ms")
    if failed.retryable and failed.retry_after is None and isinstance(waited, int | float):
        # Matrix puts the wait in the body (M_LIMIT_EXCEEDED's retry_after_ms).
        failed = replace(failed, retry_after=max(float(waited) / 1000, 0.0),
                         error=f"{failed.error}; retry in {waited / 1000:.0f} s")
    return failed


@dataclass(frozen=True)
class _Session:
    """Whose a token is, on which homeserver."""

    homeserver: str
    user_id: str
    device_id: str

    def facts(self) -> dict[str, Any]:
        return {"homeserver": self.homeserver, "user_id": self.user_id,
                "device_id": self.device_id}


class MatrixResponder(HttpProviderResponder[MatrixSettings]):
    """Logs Matrix access tokens out, proves it, and logs in anew; see the module docstring."""

    name: ClassVar[str] = "matrix"
    display_name: ClassVar[str] = "Matrix"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"matrix"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10,
        source="Matrix: rate limits are each homeserver's own, answered with 429 "
        "M_LIMIT_EXCEEDED and retry_after_ms; 10 at once",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("homeserver", "https://matrix.org",
                              "the client-server API's base URL of the agent's homeserver"),
                ConfigSetting("user", "@openclaw:example.org", "for rotate: the bot account",
                              optional=True),
                ConfigSetting("password", "keyring:clawback/matrix-bot-password",
                              "for rotate (reference)", optional=True),
            ),
            permissions=("none: every access token may log itself out",),
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._sessions: dict[str, _Session] = {}  # fingerprint → whoami's answer
        self._logged_out: set[str] = set()  # fingerprints this run logged out (200)

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _call(self, method: str, homeserver: str, path: str, token: SecretValue | None,
              json_body: Any = None) -> _Answer:
        return _Answer.of(self._request(method, homeserver + path, f"{method} {path}",
                                        key=token, json_body=json_body))

    def _session(self, cred: Credential) -> _Session | None:
        with self._lock:
            return self._sessions.get(cred.fingerprint)

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        homeservers = self.settings.homeservers
        out: list[tuple[Credential, Outcome]] = []
        for cred in creds:
            if token_kind(cred) != KIND_ACCESS or cred.secret is None:
                out.append((cred, self._manual(cred)))
                continue
            out.append((cred, Planned(
                action="revoke", detail=f"{KIND_ACCESS} {cred.fingerprint}",
                commands=(*(f"GET {h}{WHOAMI} (with the token: whose it is)"
                            for h in homeservers),
                          f"POST {{that homeserver}}{LOGOUT} (the token logs itself out)"),
            )))
        return out

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        try:
            _ = self.settings
            if token_kind(cred) != KIND_ACCESS or cred.secret is None:
                return self._manual(cred)
            found = self._whoami_anywhere(cred)
            if isinstance(found, Outcome):
                return found
            if not found.device_id:
                return _appservice_token(cred, found)
            return self._logout(cred, found)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _whoami_anywhere(self, cred: Credential) -> _Session | Outcome:
        assert cred.secret is not None
        asked: list[str] = []
        for homeserver in self.settings.homeservers:
            answer = self._call("GET", homeserver, WHOAMI, cred.secret)
            asked.append(f"GET {homeserver}{WHOAMI} → {answer.status} {answer.errcode}".rstrip())
            if answer.status == 200 and str(answer.body.get("user_id") or "").startswith("@"):
                session = _Session(homeserver, str(answer.body["user_id"]),
                                   str(answer.body.get("device_id") or ""))
                with self._lock:
                    self._sessions[cred.fingerprint] = session
                return session
            if answer.status == 401 and answer.errcode == "M_USER_LOCKED":
                # The account is locked, the token lives; the spec still lets it log out.
                return _Session(homeserver, "", "(locked account)")
            if answer.status == 401 and answer.soft:
                return _soft_unproven(cred, homeserver, answer, asked)
            if answer.status != 401:
                return _failure(answer, f"GET {WHOAMI}")
        return _unknown_everywhere(cred, asked)

    def _logout(self, cred: Credential, session: _Session) -> Outcome:
        assert cred.secret is not None
        answer = self._call("POST", session.homeserver, LOGOUT, cred.secret, json_body={})
        facts = {**session.facts(), "endpoint": f"POST {LOGOUT}", "http_status": answer.status}
        if answer.status == 200:
            with self._lock:
                self._logged_out.add(cred.fingerprint)
                self._sessions[cred.fingerprint] = session
            return Revoked(detail=f"the homeserver logged the token out and deleted device "
                           f"{session.device_id} of {session.user_id}", facts=facts)
        if answer.destroyed and session.user_id:
            # It answered whoami a moment ago: now the homeserver says its session is gone.
            return AlreadyRevoked(detail="the homeserver no longer knows the token "
                                  "(M_UNKNOWN_TOKEN, no soft logout)", facts=facts)
        if answer.status == 401:
            return Unproven(
                reason=f"{session.homeserver} refused to log the token out (401"
                f"{', ' + answer.said if answer.said else ''})",
                check=f"sign device {session.device_id} out under Settings → Sessions of the "
                "bot account, or ask the homeserver's administrator to delete it",
                url=SPEC + "#post_matrixclientv3logout", facts=facts,
            )
        return _failure(answer, f"POST {LOGOUT}")

    def _manual(self, cred: Credential) -> ManualRequired:
        kind = token_kind(cred)
        if kind == KIND_PASSWORD:
            steps = ("Change the bot account's password in a Matrix client (Settings → "
                     "Account → Change password) with \"sign out of all other sessions\" "
                     "checked, then give the agent a new login.")
        elif kind == KIND_REFRESH:
            steps = ("A refresh token mints new access tokens for its device: sign that device "
                     "out under Settings → Sessions of the bot account (a logout deletes the "
                     "device and every token bound to it).")
        else:
            steps = "Sign the agent's session out under Settings → Sessions of the bot account."
        return ManualRequired(
            detail=f"manual: Matrix {kind} {cred.fingerprint}",
            instructions=f"Matrix: {steps} The old value is {cred.fingerprint}, found at "
            f"{where_found(cred)}: remove it there too.",
            url=SPEC + "#soft-logout" if kind == KIND_REFRESH else SPEC,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """whoami with the old token at the homeserver that logged it out: 401
        ``M_UNKNOWN_TOKEN`` without ``soft_logout`` (module docstring)."""
        if token_kind(cred) != KIND_ACCESS or cred.secret is None:
            return Skipped(reason=f"Matrix offers no call that proves a {token_kind(cred)} dead")
        try:
            session = self._session(cred)
            with self._lock:
                logged_out = cred.fingerprint in self._logged_out
            homeservers = (session.homeserver,) if session else self.settings.homeservers
            asked: list[str] = []
            for homeserver in homeservers:
                answer = self._call("GET", homeserver, WHOAMI, cred.secret)
                asked.append(f"GET {homeserver}{WHOAMI} → {answer.status} {answer.errcode}"
                             .rstrip())
                facts = {"checked_with": list(asked), "homeserver": homeserver}
                if answer.status == 200:
                    return Failed(error=f"{homeserver} still accepts the token", retryable=True,
                                  facts=facts)
                if answer.status == 401 and answer.errcode == "M_USER_LOCKED":
                    return Unproven(
                        reason=f"{homeserver} answers M_USER_LOCKED: the account is locked and "
                        "a locked account keeps its tokens",
                        check="sign the agent's device out, or ask the homeserver's "
                        "administrator to, before the account is unlocked",
                        url=SPEC + "#account-locking", facts=facts)
                if answer.status == 401 and answer.soft:
                    return _soft_unproven(cred, homeserver, answer, asked)
                known = logged_out or (session is not None and bool(session.user_id))
                if answer.destroyed and known:
                    state = "logged out in this run" if logged_out else "known, now gone"
                    return VerifiedDead(
                        detail=f"{homeserver}, which knew the token, no longer recognises it "
                        "and destroyed its session (M_UNKNOWN_TOKEN, no soft logout)",
                        facts={**facts, "record": state})
                if answer.status != 401:
                    return _failure(answer, f"GET {WHOAMI}")
            return _unknown_everywhere(cred, asked)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """login (new device) → store → test → agent proven → log the old token out."""
        try:
            s = self.settings
            if token_kind(cred) != KIND_ACCESS or cred.secret is None:
                return self._manual(cred)
            if s.user is None or s.password is None:
                return ManualRequired(
                    detail=f"replacement for Matrix token {cred.fingerprint}: by hand",
                    instructions="Log the bot account in again (a Matrix client, or POST "
                    "/_matrix/client/v3/login) to get a new access token, store it with "
                    "`keyring set clawback matrix/agent`, and give it to the agent. To let "
                    "clawback do it, set user and password in [providers.matrix].",
                    url=SPEC + "#post_matrixclientv3login",
                )
            session = self._session(cred)
            homeserver = session.homeserver if session else s.homeservers[0]
            if session and session.user_id and session.user_id != s.user:
                return Failed(error=f"the token belongs to {session.user_id}, not to the "
                              f"configured user {s.user}: no replacement was made")
            return self._login(cred, homeserver, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _login(self, cred: Credential, homeserver: str, store: SecretStore) -> Outcome:
        s = self.settings
        assert cred.secret is not None and s.user is not None
        password = self._store().resolve(s.password or "")
        answer = self._call("POST", homeserver, LOGIN, None, json_body={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": s.user},
            "password": password.reveal(),
            "initial_device_display_name": s.device_display_name,
        })
        token = answer.body.get("access_token")
        if answer.status != 200 or not isinstance(token, str) or not token:
            if answer.status == 403:
                return Failed(error=f"{homeserver} refused the login ({answer.said or 403}): "
                              "check user and password in [providers.matrix]")
            return _failure(answer, f"POST {LOGIN}")
        new = SecretValue(token)
        device = str(answer.body.get("device_id") or "")
        facts: dict[str, Any] = {"stage": "create", "homeserver": homeserver,
                                 "user_id": s.user, "device_id": device}
        try:
            reference = store.store(s.store_name.format(target=f"devices/{device or 'new'}"),
                                    new)
        except Exception as exc:
            withdrawn = self._call("POST", homeserver, LOGOUT, new, json_body={}).status == 200
            return Failed(error=f"storing the new Matrix token failed "
                          f"({describe_store_error(exc)}); the new session was "
                          f"{'logged out' if withdrawn else 'NOT logged out'}",
                          facts={**facts, "new_session_logged_out": withdrawn})
        facts.update(stage="store", reference=reference)
        tested = self._call("GET", homeserver, WHOAMI, new)
        if tested.status != 200 or tested.body.get("user_id") != s.user:
            return Failed(error=f"the new token is stored at {reference} but whoami with it "
                          f"answered {tested.status}", facts=facts)
        facts["stage"] = "test"
        with self._lock:
            logged_out = cred.fingerprint in self._logged_out
        if logged_out:
            facts["old_token"] = "logged out earlier in this run"
        else:
            kept = handed_over(store, facts, "the old token stays logged in")
            if kept is not None:
                return kept
            assert cred.secret is not None
            retired = self._call("POST", homeserver, LOGOUT, cred.secret, json_body={})
            if retired.status != 200 and not retired.destroyed:
                failed = _failure(retired, f"POST {LOGOUT}")
                return replace(failed, error=f"the new token is stored at {reference} and "
                               f"works, but logging the old one out failed: {failed.error}",
                               facts=facts)
            with self._lock:
                self._logged_out.add(cred.fingerprint)
                self._sessions.setdefault(cred.fingerprint, _Session(homeserver, s.user, ""))
            facts["old_token"] = "logged out"
        facts["stage"] = "finish"
        return Rotated(detail=f"new device {device} for {s.user}, stored and tested; the old "
                       "token is logged out", facts=facts, new_fingerprint=new.fingerprint,
                       new_reference=reference)

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Each homeserver answers the client-server API (``GET /_matrix/client/versions``,
        no token), and the rotation password resolves; what contain needs is listed."""
        try:
            s = self.settings
            if s.password is not None:
                self._store().resolve(s.password)
        except ResponderError as exc:
            return [PreflightCheck("matrix", "config", False, detail=str(exc),
                                   missing_permission="password")]
        needs = ("no admin credential: each token logs itself out (POST /logout); the drill's "
                 "replacement needs user and password" + (" (set)" if s.password else
                                                          " (not set: a manual step)"))

        def probe(homeserver: str) -> PreflightCheck:
            capability = f"logout at {homeserver}"
            try:
                answer = self._call("GET", homeserver, VERSIONS, None)
            except CallFailed as err:
                return PreflightCheck("matrix", capability, False, detail=err.failed.error)
            if answer.status == 200 and isinstance(answer.body.get("versions"), list):
                return PreflightCheck("matrix", capability, True, detail=needs)
            return PreflightCheck(
                "matrix", capability, False,
                detail=f"GET {VERSIONS} answered {answer.status}, not a Matrix homeserver's "
                "list of versions: check homeserver in [providers.matrix] (the client-server "
                "API's base URL, e.g. https://matrix.example.org)")

        return list(self.context.fan_out(probe, list(s.homeservers)))


def _soft_unproven(cred: Credential, homeserver: str, answer: _Answer,
                   asked: list[str]) -> Unproven:
    return Unproven(
        reason=f"{homeserver} answers {answer.errcode} with soft_logout: true: the token no "
        "longer works, but its session and device live on, and a refresh token or a login with "
        "the same device revives them",
        check="sign the agent's device out under Settings → Sessions of the bot account",
        url=SPEC + "#soft-logout", facts={"checked_with": list(asked), "homeserver": homeserver},
    )


def _unknown_everywhere(cred: Credential, asked: list[str]) -> Unproven:
    return Unproven(
        reason=f"every configured homeserver answered M_UNKNOWN_TOKEN for {cred.fingerprint} "
        f"({'; '.join(asked)}); the spec says that can mean never valid, logged out, soft "
        "logged out or expired, and a token of another homeserver gets it too",
        check="which homeserver the agent's Matrix channel uses (its homeserver setting), then "
        "set it as homeserver in [providers.matrix] and run again",
        url=SPEC + "#using-access-tokens", facts={"checked_with": list(asked)},
    )


def _appservice_token(cred: Credential, session: _Session) -> ManualRequired:
    return ManualRequired(
        detail=f"Matrix application service token {cred.fingerprint}: by hand",
        instructions=f"{session.homeserver} says {cred.fingerprint} acts as {session.user_id} "
        "with no device: an application service's as_token, which cannot log out. Replace "
        "as_token in the application service's registration file, restart the homeserver and "
        f"the bridge, and remove the old value from {where_found(cred)}.",
        url="https://spec.matrix.org/latest/application-service-api/#registration",
        facts=session.facts(),
    )

"""xAI (Grok) API keys (``xai-…``): deleted or disabled, replaced and proven dead through xAI's
Management API, with a management key.

The key names itself: ``GET {api_url}/v1/api-key`` sent *with the key* answers its
``api_key_id``, ``team_id``, name, ACLs and whether it is disabled or blocked (the ``ApiKey``
message of github.com/xai-org/xai-proto ``proto/xai/api/v1/auth.proto``). Then, with the
management key (``Authorization: Bearer``, base ``https://management-api.x.ai``):

- ``revoke`` deletes the key (``DELETE /auth/api-keys/{apiKeyId}``), or switches it off when
  ``revoke_action = "disable"`` (``PUT /auth/api-keys/{apiKeyId}`` with
  ``{"apiKey": {"disabled": true}, "fieldMask": "disabled"}``, reversible). A key xAI already
  rejects ("Incorrect API key provided") is ``AlreadyRevoked``; its proof is verify's.
- ``rotate`` creates a replacement in the same team (``POST /auth/teams/{teamId}/api-keys``)
  with the old key's name (suffixed "(clawback YYYY-MM-DD)"), ACLs and ``qps``/``qpm``/``tpm``
  limits; stores it through the SecretStore *before* anything else (a replacement that cannot
  be stored is deleted again); waits until xAI accepts it (a new key takes a moment to reach
  every cluster: ``GET /auth/api-keys/{apiKeyId}/propagation`` and the key's own call are
  retried up to ``activation_wait_seconds``); waits for the agent to take it up
  (``handed_over``); and only then deletes (or disables) the old key.
- ``verify_revoked`` needs xAI's answer for a key it does not know, HTTP 400 (or 401) whose
  error says "Incorrect API key provided" (the message is never repeated: it quotes the key's
  first and last characters), plus xAI's own record: the team's listing
  (``GET /auth/teams/{teamId}/api-keys``, paged with ``pageSize``/``paginationToken`` to the
  end) no longer holds the key's id, or holds it disabled. A 400 with another error, a key the
  call still describes as merely *blocked* (by xAI, not by clawback), a listing that cannot be
  read or a team that is not known is ``Unproven``; a key that still answers (disabled or not)
  is never dead unless xAI's record says disabled too.

Doc pages followed: https://docs.x.ai/developers/management-api (base URL, management keys),
https://docs.x.ai/docs/key-information/using-management-api (create, list with ``pageSize`` and
``paginationToken``, update with ``fieldMask``, delete, propagation, validation),
https://docs.x.ai/developers/rest-api-reference/management/auth (the API key object:
``apiKeyId``, ``redactedApiKey``, ``disabled``, ``aclStrings``, ``qps``, ``qpm``, ``tpm``) and
https://docs.x.ai/docs/api-reference#api-key (``GET /v1/api-key``).

Permission: a management key from xAI Console → Settings → Management Keys, created by an
account with "Management Keys Read + Write"; ``GET /auth/management-keys/validation`` proves it
(preflight), the team's listing proves it can read keys. xAI documents no rate limit for the
Management API.

Config, the ``[providers.xai]`` table of clawback.toml::

    management_key = "keyring:clawback/xai-management"   # required, a reference
    team_id = "…"                            # learnt from a live key; set it to prove old ones
    base_url = "https://management-api.x.ai"
    api_url = "https://api.x.ai"
    revoke_action = "delete"                 # or "disable" (reversible)
    store_name = "xai/{target}"
    activation_wait_seconds = 30
    poll_seconds = 1
    timeout_seconds = 10
    connect_timeout_seconds = 3
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

KIND_API_KEY = "xai:api_key"
KEYS_PAGE = "https://console.x.ai/team/default/api-keys"
MANAGEMENT_KEYS_PAGE = "https://console.x.ai/team/default/settings/management-keys"
_INCORRECT_KEY = re.compile(r"(?i)incorrect api key|invalid api key")
_ROTATION_SUFFIX = re.compile(r" \(clawback \d{4}-\d{2}-\d{2}\)$")
_TEAM_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_PAGE_SIZE = 100
_MAX_PAGES = 10_000
# What a replacement keeps of the old key (names as the create call takes them).
_LIMITS = ("qps", "qpm", "tpm")
MANAGEMENT_ADVICE = (
    "the management key needs Management Keys Read + Write (xAI Console → Settings → "
    "Management Keys)"
)


@dataclass(frozen=True)
class XAISettings:
    """The validated ``[providers.xai]`` table (see the module docstring)."""

    management_key: str
    team_id: str | None = None
    base_url: str = "https://management-api.x.ai"
    api_url: str = "https://api.x.ai"
    revoke_action: Literal["delete", "disable"] = "delete"
    store_name: str = "xai/{target}"
    activation_wait_seconds: float = 30.0
    poll_seconds: float = 1.0
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> XAISettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    settings = validate_table(XAISettings, raw, "xai")
    require_references("xai", [("management_key", settings.management_key)], noun="key")
    if settings.team_id is not None and not _TEAM_ID.match(settings.team_id):
        raise ResponderError("[providers.xai] team_id is not an xAI team id")
    require_positive_timeouts("xai", settings.timeout_seconds, settings.connect_timeout_seconds)
    if settings.activation_wait_seconds < 0 or settings.poll_seconds < 0:
        raise ResponderError("[providers.xai] activation_wait_seconds and poll_seconds cannot "
                             "be negative")
    require_store_target("xai", settings.store_name)
    return settings


# xAI's error text quotes part of the key ("Incorrect API key provided: xa***XX"): never shown.
_ANSWERS = ProviderAnswers(
    provider="xAI",
    rate_limit="rate limit was hit (HTTP 429)",
    rejected="deleted, disabled or not a management key; check management_key in "
    "[providers.xai]",
    credential="the management key",
)


@dataclass(frozen=True)
class KeyInfo:
    """A key as it describes itself (``GET /v1/api-key``). Holds no secret."""

    key_id: str
    team_id: str
    name: str = ""
    disabled: bool = False
    blocked: bool = False
    acls: tuple[str, ...] = ()
    limits: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return self.key_id

    def facts(self) -> dict[str, Any]:
        return {"api_key_id": self.key_id, "team_id": self.team_id}


def _info(body: Mapping[str, Any]) -> KeyInfo:
    acls = body.get("acls") or body.get("aclStrings") or ()
    return KeyInfo(
        key_id=str(body.get("api_key_id") or body.get("apiKeyId") or ""),
        team_id=str(body.get("team_id") or body.get("teamId") or ""),
        name=str(body.get("name") or ""),
        # The proto names it ``disabled``; the REST answer has been seen as api_key_disabled.
        disabled=bool(body.get("disabled") or body.get("api_key_disabled")),
        blocked=bool(body.get("api_key_blocked") or body.get("team_blocked")),
        acls=tuple(str(a) for a in acls if isinstance(a, str)),
        limits={k: body[k] for k in _LIMITS if body.get(k) is not None},
    )


def incorrect_key(answer: HttpAnswer) -> bool:
    """xAI's answer for a key it does not know: 400 (or 401), "Incorrect API key provided"."""
    body = answer.body if isinstance(answer.body, Mapping) else {}
    said = " ".join(str(body.get(k) or "") for k in ("error", "code", "message"))
    return answer.status in (400, 401) and bool(_INCORRECT_KEY.search(said))


class XAIResponder(KeyReplacingResponder[XAISettings, KeyInfo]):
    """Deletes (or disables), replaces and checks xAI API keys; see the module docstring."""

    name: ClassVar[str] = "xai"
    display_name: ClassVar[str] = "xAI"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"xai"})
    capabilities: ClassVar[frozenset[Capability]] = KEY_CAPABILITIES_WITH_DISABLE
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10, source="none published for the Management API; 429 answers are retried"
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                ConfigSetting("management_key", "keyring:clawback/xai-management",
                              "a management key (xAI Console: Settings, Management Keys)"),
                ConfigSetting("team_id", "your-team-id",
                              "proves keys that no longer name their team dead", optional=True),
                ConfigSetting("revoke_action", "disable",
                              "reversible instead of a delete", optional=True),
            ),
            permissions=(
                "Management Keys Read + Write: validate itself, list the team's API keys, "
                "delete or disable them, create replacements",
            ),
            console=MANAGEMENT_KEYS_PAGE,
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._located: dict[str, KeyInfo] = {}  # fingerprint → what the key said of itself
        self._teams: dict[str, Mapping[str, Mapping[str, Any]]] = {}  # team → its keys by id
        self.sleep: Callable[[float], None] = time.sleep  # tests count polls, never wait

    # -- transport ------------------------------------------------------------------------------

    def _management_key(self) -> SecretValue:
        return self._store().resolve(self.settings.management_key)

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _managed(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 json_body: Any = None) -> HttpAnswer:
        """A Management API call that succeeded or answered 404 (the caller judges that)."""
        action = f"{method} {path}"
        answer = self._request(method, path, action, key=self._management_key(), params=params,
                               json_body=json_body)
        if answer.status < 300 or answer.status == 404:
            return answer
        raise CallFailed(answer.status, _ANSWERS.failure_for_status(
            answer.status, answer.headers, action, MANAGEMENT_ADVICE))

    def _own_call(self, key: SecretValue) -> HttpAnswer:
        url = f"{self.settings.api_url.rstrip('/')}/v1/api-key"
        return self.answers.send(self._client(), "GET", url, "GET /v1/api-key",
                                 headers=self.auth_headers(key))

    def _is_management_key(self, cred: Credential) -> bool:
        try:
            return cred.secret is not None and self._management_key() == cred.secret
        except ResponderError:
            return False

    # -- the team's record ----------------------------------------------------------------------

    def _listing(self, team: str) -> dict[str, Mapping[str, Any]]:
        """Every key of the team by id, paged with ``paginationToken`` to the end."""
        path = f"/auth/teams/{team}/api-keys"
        keys: dict[str, Mapping[str, Any]] = {}
        token, seen = "", set()
        for _ in range(_MAX_PAGES):
            answer = self._managed("GET", path, params={"pageSize": _PAGE_SIZE,
                                                        "paginationToken": token})
            body = answer.body if isinstance(answer.body, Mapping) else None
            listed = (body or {}).get("apiKeys")
            if answer.status == 404 or not isinstance(listed, list):
                raise CallFailed(answer.status, Failed(
                    error=f"GET {path} answered {answer.status} without the documented list of "
                    "keys; nothing was concluded from it", retryable=answer.status != 404))
            for item in listed:
                if isinstance(item, Mapping) and item.get("apiKeyId"):
                    keys[str(item["apiKeyId"])] = item
            token = str((body or {}).get("paginationToken") or
                        (body or {}).get("nextPageToken") or "")
            if not token:
                return keys
            if token in seen:
                break
            seen.add(token)
        raise CallFailed(200, Failed(error=f"GET {path}: incomplete listing (a page token "
                                     "repeated); nothing was concluded from it", retryable=True))

    def _team_record(self, team: str) -> Mapping[str, Mapping[str, Any]]:
        """The team's listing, read once per run (locating many keys of one team)."""
        with self._lock:
            cached = self._teams.get(team)
        if cached is None:
            cached = self._listing(team)
            with self._lock:
                self._teams[team] = cached
        return cached

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request is made."""
        act = ("DELETE /auth/api-keys/{apiKeyId}" if self.settings.revoke_action == "delete"
               else "PUT /auth/api-keys/{apiKeyId} {disabled: true}")
        commands = ("GET /v1/api-key with the key itself (its id and team)", act,
                    "rejected: GET /auth/teams/{teamId}/api-keys (absent: already dead)")
        return [(c, Planned(action=self.settings.revoke_action, commands=commands,
                            detail=f"{c.kind} {c.fingerprint}"))
                if c.secret is not None else (c, _unknown_value(c)) for c in creds]

    # -- revoke ---------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return _unknown_value(cred)
        try:
            if self._is_management_key(cred):
                return _own_management_key(cred)
            info = self._locate(cred)
            if isinstance(info, Outcome):
                return info
            return self._retire(info)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _locate(self, cred: Credential) -> KeyInfo | Outcome:
        with self._lock:
            known = self._located.get(cred.fingerprint)
        if known is not None:
            return known
        assert cred.secret is not None
        answer = self._own_call(cred.secret)
        body = answer.body if isinstance(answer.body, Mapping) else {}
        if answer.status == 200 and (info := _info(body)).key_id and info.team_id:
            # The key's own call does not carry its limits; the team's record, read once per
            # run and before anything is deleted, does: a replacement keeps them.
            # Best effort: a listing the management key may not read never stops a revoke.
            try:
                record = self._team_record(info.team_id).get(info.key_id, {})
            except CallFailed:
                record = {}
            info = replace(info, limits={k: record[k] for k in _LIMITS
                                         if record.get(k) is not None})
            with self._lock:
                self._located[cred.fingerprint] = info
            return info
        facts: dict[str, Any] = {"checked_with": "GET /v1/api-key", "http_status": answer.status}
        if incorrect_key(answer):
            return AlreadyRevoked(detail="xAI rejects the key (Incorrect API key provided)",
                                  facts=facts)
        if answer.status == 429 or answer.status >= 500:
            return _ANSWERS.failure_for_status(answer.status, answer.headers, "GET /v1/api-key",
                                               "", facts=facts)
        return ManualRequired(
            instructions=f"xAI answered HTTP {answer.status} for {cred.fingerprint} (found at "
            f"{_places(cred)}) without naming it or calling it incorrect: find it under API "
            "Keys in the xAI Console and delete it.", url=KEYS_PAGE, facts=facts)

    def _retire(self, info: KeyInfo) -> Outcome:
        path = f"/auth/api-keys/{info.key_id}"
        facts = info.facts()
        if self.settings.revoke_action == "disable":
            if info.disabled:
                return AlreadyRevoked(detail=f"key {info.key_id} is already disabled",
                                      facts={**facts, "disabled": True})
            answer = self._managed("PUT", path, json_body={"apiKey": {"disabled": True},
                                                           "fieldMask": "disabled"})
            if answer.status == 404:
                return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
            self._mark_retired(info)
            return Disabled(detail=f"key {info.key_id} disabled (reversible; rotate replaces it)",
                            facts={**facts, "disabled": True})
        answer = self._managed("DELETE", path)
        if answer.status == 404:
            return AlreadyRevoked(detail="the key no longer exists (404)", facts=facts)
        self._mark_retired(info)
        return Revoked(detail=f"key {info.key_id} deleted", facts=facts)

    # -- rotate ---------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """create → store → accepted → agent handover → retire the old key (unless revoke did)."""
        if cred.secret is None:
            return _unknown_value(cred)
        try:
            if self._is_management_key(cred):
                return _own_management_key(cred)
            info = self._locate(cred)
            if isinstance(info, Outcome):
                return ManualRequired(
                    instructions=f"xAI no longer describes {cred.fingerprint}, so there is "
                    "nothing to carry over: create a key under API Keys in the xAI Console with "
                    "the ACLs the agent needs, store it with `keyring set clawback xai/agent`, "
                    "and point the agent at it.", url=KEYS_PAGE)
            return self._replace(info, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _create_replacement(self, old: KeyInfo, facts: dict[str, Any]) -> NewKey | Failed:
        limits = dict(old.limits)
        label = _ROTATION_SUFFIX.sub("", old.name or "agent")
        body: dict[str, Any] = {"name": f"{label} (clawback {datetime.now(UTC):%Y-%m-%d})",
                                "acls": list(old.acls), **limits}
        facts.update(old_key=old.key_id, team_id=old.team_id,
                     carried_over=["acls", *sorted(limits)])
        answer = self._managed("POST", f"/auth/teams/{old.team_id}/api-keys", json_body=body)
        made = answer.body if isinstance(answer.body, Mapping) else {}
        new_id, value = str(made.get("apiKeyId") or ""), made.get("apiKey")
        if not new_id or not isinstance(value, str) or not value:
            return Failed(error=f"POST /auth/teams/{{teamId}}/api-keys answered {answer.status} "
                          "without a new key", facts=facts)
        facts["new_key"] = new_id
        return NewKey(SecretValue(value), new_id, store_target=new_id)

    def _delete_replacement(self, old: KeyInfo, new: NewKey) -> bool:
        return self._managed("DELETE", f"/auth/api-keys/{new.key_id}").status in (200, 404)

    def _replacement_accepted(self, new: NewKey) -> Failed | None:
        return self._until_accepted(new.key_id, new.value)

    def _rotated_detail(self, old: KeyInfo, new: NewKey, reference: str) -> str:
        return (f"new key {new.key_id} replaces {old.key_id} in team {old.team_id} (ACLs and "
                f"limits carried over); stored at {reference}")

    def _until_accepted(self, key_id: str, new: SecretValue) -> Failed | None:
        """None once the new key answers its own call; xAI documents a propagation delay
        (``GET /auth/api-keys/{id}/propagation``), so an incorrect-key answer is retried."""
        deadline = time.monotonic() + self.settings.activation_wait_seconds
        while True:
            answer = self._own_call(new)
            if answer.status == 200:
                return None
            if not incorrect_key(answer) or time.monotonic() >= deadline:
                return _ANSWERS.failure_for_status(answer.status, answer.headers,
                                                   "GET /v1/api-key", "",
                                                   credential="the new key")
            self._managed("GET", f"/auth/api-keys/{key_id}/propagation")
            self.sleep(self.settings.poll_seconds)

    # -- verify ---------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """The key's own call answers "Incorrect API key provided" (or describes it disabled),
        and the team's listing agrees: the id is gone, or disabled."""
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        try:
            answer = self._own_call(cred.secret)
            facts: dict[str, Any] = {"checked_with": "GET /v1/api-key",
                                     "http_status": answer.status}
            body = answer.body if isinstance(answer.body, Mapping) else {}
            if answer.status == 200:
                info = _info(body)
                if not info.disabled:
                    return Failed(
                        error="xAI still accepts the key (GET /v1/api-key → 200"
                        + (", blocked by xAI but not deleted" if info.blocked else "") + ")",
                        retryable=True, facts=facts)
                facts["disabled"] = True
                return self._verified_by_record(cred, facts, info.team_id, info.key_id)
            if not incorrect_key(answer):
                if answer.status == 429 or answer.status >= 500:
                    return _ANSWERS.failure_for_status(answer.status, answer.headers,
                                                       "GET /v1/api-key", "", facts=facts)
                return Unproven(
                    reason=f"xAI answered HTTP {answer.status} without its documented "
                    "\"Incorrect API key provided\"",
                    check=f"that {cred.fingerprint} is gone from API Keys in the xAI Console",
                    url=KEYS_PAGE, facts=facts)
            facts["rejected"] = "Incorrect API key provided"
            with self._lock:
                known = self._located.get(cred.fingerprint)
            team = known.team_id if known else self.settings.team_id
            return self._verified_by_record(cred, facts, team, known.key_id if known else None)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verified_by_record(self, cred: Credential, facts: dict[str, Any], team: str | None,
                            key_id: str | None) -> Outcome:
        if not team or not key_id:
            return Unproven(
                reason="xAI rejects the key, but which key it was (its id and team) is not "
                "known to this run, so xAI's record could not be read"
                + ("" if team else "; set team_id in [providers.xai]"),
                check=f"that {cred.fingerprint} is gone from API Keys in the xAI Console",
                url=KEYS_PAGE, facts=facts)
        try:
            listed = self._listing(team)
        except CallFailed as err:
            if err.failed.retryable:
                raise
            return Unproven(reason=f"xAI rejects the key but its team's listing could not be "
                            f"read: {err.failed.error}",
                            check=f"that key {key_id} is gone from API Keys in the xAI Console",
                            url=KEYS_PAGE, facts=facts)
        record = listed.get(key_id)
        state = "deleted" if record is None else (
            "disabled" if record.get("disabled") else "active")
        facts.update(record=state, api_key_id=key_id, team_id=team)
        if state == "active":
            return Unproven(
                reason="xAI's listing still shows the key enabled"
                + (" although its own call calls it disabled" if facts.get("disabled") else
                   " although xAI rejects it"),
                check=f"key {key_id} under API Keys in the xAI Console: delete it there",
                url=KEYS_PAGE, facts=facts)
        return VerifiedDead(
            detail=("xAI rejects the key (Incorrect API key provided)" if "rejected" in facts
                    else "xAI describes the key as disabled")
            + f" and its team's listing shows it {state}"
            + (" (reversible by a management key)" if state == "disabled" else ""),
            facts=facts)

    # -- preflight ------------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """The management key validates, and can list the team's keys when team_id is set."""
        try:
            self._management_key()
        except ResponderError as exc:
            return [PreflightCheck("xai", "management key", False, detail=str(exc),
                                   missing_permission="management_key")]
        probes: list[tuple[str, str, Mapping[str, Any] | None]] = [
            ("management key", "/auth/management-keys/validation", None)]
        if self.settings.team_id:
            probes.append(("list keys", f"/auth/teams/{self.settings.team_id}/api-keys",
                           {"pageSize": 1}))

        def probe(item: tuple[str, str, Mapping[str, Any] | None]) -> PreflightCheck:
            capability, path, params = item
            try:
                self._managed("GET", path, params=params)
            except CallFailed as err:
                return PreflightCheck("xai", capability, False, detail=err.failed.error,
                                      missing_permission="Management Keys Read + Write"
                                      if err.status in (401, 403) else "")
            return PreflightCheck("xai", capability, True, detail=f"GET {path}: 200")

        checks = list(self.context.fan_out(probe, probes))
        if not self.settings.team_id:
            checks.append(PreflightCheck(
                "xai", "team", True, detail="no team_id: learnt from each live key; set it so a "
                "key xAI already rejects can be checked against its team's record"))
        return checks


def _places(cred: Credential) -> str:
    return ", ".join(str(loc) for loc in cred.locations) or "no file recorded"


def _unknown_value(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"The value of {cred.kind} {cred.fingerprint} is unknown, so it cannot be "
        f"looked up: delete it under API Keys in the xAI Console ({_places(cred)}).",
        url=KEYS_PAGE)


def _own_management_key(cred: Credential) -> ManualRequired:
    return ManualRequired(
        instructions=f"{cred.fingerprint} is the management key clawback itself uses: create a "
        "new management key in the xAI Console (Settings → Management Keys), point "
        "management_key in [providers.xai] at it, then delete this one there.",
        url=MANAGEMENT_KEYS_PAGE)

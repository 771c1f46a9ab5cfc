"""Azure OpenAI responder: the account key the agent holds is regenerated through Azure Resource
Manager, proven dead, and replaced.

An Azure OpenAI (Cognitive Services) account has two keys, Key1 and Key2, either of which opens
its data plane. clawback finds which one the agent holds by asking each configured account for
its keys (``POST …/providers/Microsoft.CognitiveServices/accounts/{name}/listKeys``) and comparing
values in memory; it then regenerates that key (``POST …/regenerateKey`` with ``{"keyName":
"Key1"}``), which gives it a new value at once: the old one stops working.
https://learn.microsoft.com/rest/api/aiservices/accountmanagement/accounts/regenerate-key,
https://learn.microsoft.com/rest/api/aiservices/accountmanagement/accounts/list-keys,
https://learn.microsoft.com/azure/ai-services/rotate-keys

Replacement (``rotate``): after ``revoke`` (contain) the agent gets the regenerated key's new
value, which nobody else has seen (``replacement = "regenerated"``, the default), or the other
key (``replacement = "other"``, for when that is the key your other clients already use). A
drill follows Azure's documented zero-downtime rotation instead: the other key is stored and
tested, the agent is proven to use it, and only then is the agent's key regenerated.

What proves a key dead: the data plane's 401 to ``GET {endpoint}/openai/models`` with the old key
in the ``api-key`` header, *plus* ``listKeys`` of the account this run regenerated it in no longer
showing it. The 401 alone proves nothing: its documented text is "Access denied due to invalid
subscription key **or wrong API endpoint**", and an account with local (key) authentication
disabled refuses every key; a 403 comes from the account's network rules (firewall, private
endpoint) whatever the key. A key clawback did not find in a configured account is never
reported dead: ``Unproven``, with what to check.

Config, the ``[providers.azure_openai]`` table of clawback.toml::

    token = "env:AZURE_ARM_TOKEN"          # an ARM bearer token (reference), see below
    management_url = "https://management.azure.com"
    api_version = "2025-06-01"             # Microsoft.CognitiveServices management API
    data_plane_api_version = "2024-10-21"
    replacement = "regenerated"            # or "other"
    store_name = "azure-openai/{target}"
    timeout_seconds = 10
    connect_timeout_seconds = 3

    [[providers.azure_openai.accounts]]
    subscription_id = "00000000-0000-0000-0000-000000000000"
    resource_group = "agents"
    name = "agent-aoai"
    endpoint = "https://agent-aoai.openai.azure.com"   # default: https://{name}.openai.azure.com

The token is an Azure Resource Manager access token, kept simple: get one with
``az account get-access-token --resource https://management.azure.com --query accessToken -o
tsv`` and export it (or store it in the keyring) before running clawback; it lasts about an
hour, so ``clawback drill --preflight`` names an expired one. The identity needs
``Microsoft.CognitiveServices/accounts/listKeys/action`` and
``Microsoft.CognitiveServices/accounts/regenerateKey/action`` on each account (both are in the
built-in role "Cognitive Services Contributor").
https://learn.microsoft.com/azure/role-based-access-control/permissions/ai-machine-learning

Errors become outcomes: 429 (with ``Retry-After``) and 5xx → retryable; 401 → the ARM token is
named (``ExpiredAuthenticationToken``: fetch a new one); 403 ``AuthorizationFailed`` → the missing
action is named; 404 → the account in the config does not exist. ARM throttles writes with a
token bucket of 200 per subscription and principal, refilled at 10 a second
(https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from responders.http_answers import CallFailed, HttpAnswer, ProviderAnswers
from responders.interface import (
    ConfigSetting,
    Credential,
    Failed,
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
)
from responders.provider_settings import (
    require_positive_timeouts,
    require_references,
    require_store_target,
    validate_table,
)

PORTAL = "https://portal.azure.com/#view/Microsoft_Azure_ProjectOxford/CognitiveServicesHub"
LIST_KEYS = "Microsoft.CognitiveServices/accounts/listKeys/action"
REGENERATE = "Microsoft.CognitiveServices/accounts/regenerateKey/action"
SLOTS = ("Key1", "Key2")


@dataclass(frozen=True)
class AzureAccount:
    """One Cognitive Services account whose keys clawback may look at and regenerate."""

    subscription_id: str
    resource_group: str
    name: str
    endpoint: str | None = None

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}

    @property
    def path(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.CognitiveServices/accounts/{self.name}")

    @property
    def data_plane(self) -> str:
        return (self.endpoint or f"https://{self.name}.openai.azure.com").rstrip("/")


@dataclass(frozen=True)
class AzureOpenAISettings:
    """The validated ``[providers.azure_openai]`` table (see the module docstring)."""

    token: str | None = None
    accounts: tuple[AzureAccount, ...] = field(default_factory=tuple)
    management_url: str = "https://management.azure.com"
    api_version: str = "2025-06-01"
    data_plane_api_version: str = "2024-10-21"
    replacement: Literal["regenerated", "other"] = "regenerated"
    store_name: str = "azure-openai/{target}"
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}

    @property
    def base_url(self) -> str:
        return self.management_url


def parse_settings(raw: Mapping[str, Any]) -> AzureOpenAISettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    s = validate_table(AzureOpenAISettings, raw, "azure_openai")
    require_references("azure_openai", [("token", s.token)], noun="token")
    require_store_target("azure_openai", s.store_name)
    require_positive_timeouts("azure_openai", s.timeout_seconds, s.connect_timeout_seconds)
    names = [a.name for a in s.accounts]
    if len(set(names)) != len(names):
        raise ResponderError("[providers.azure_openai] accounts names an account twice")
    return s


_ANSWERS = ProviderAnswers(
    provider="Azure",
    rejected="expired or wrong (ExpiredAuthenticationToken: get a new one with `az account "
    "get-access-token --resource https://management.azure.com`); check token in "
    "[providers.azure_openai]",
    credential="the ARM token",
)


def _code(answer: HttpAnswer) -> str:
    body = answer.body if isinstance(answer.body, Mapping) else {}
    error = body.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    return str(code)[:60] if code is not None else ""


def _said(answer: HttpAnswer) -> str:
    # Only the error code: ARM's messages name object ids and scopes, never a key, but the code
    # is what the operator looks up.
    return f" ({_code(answer)})" if _code(answer) else ""


@dataclass(frozen=True)
class _Found:
    """Where the agent's key is: the account and the slot, and the other key's value."""

    account: AzureAccount
    slot: str
    other: SecretValue = field(repr=False)

    @property
    def other_slot(self) -> str:
        return SLOTS[1 - SLOTS.index(self.slot)]


@dataclass(frozen=True)
class _Regenerated:
    found: _Found
    new: SecretValue = field(repr=False)  # the slot's new value, from regenerateKey's answer


class AzureOpenAIResponder(HttpProviderResponder[AzureOpenAISettings]):
    """Regenerates, replaces and verifies Azure OpenAI account keys (see module docstring)."""

    name: ClassVar[str] = "azure_openai"
    display_name: ClassVar[str] = "Azure OpenAI"
    answers: ClassVar[ProviderAnswers] = _ANSWERS
    providers: ClassVar[frozenset[str]] = frozenset({"azure_openai"})
    capabilities = KEY_CAPABILITIES
    rate_limit: ClassVar[RateLimit] = RateLimit(
        concurrent=10, requests=200, per_seconds=20,
        source="Azure Resource Manager: writes in a bucket of 200 per subscription and "
        "principal, refilled at 10 a second",
    )
    parse_settings = staticmethod(parse_settings)

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            settings=(
                # An ARM token lasts about an hour: an environment variable set when the
                # incident starts, not a keyring entry stored in advance.
                ConfigSetting("token", "env:AZURE_ARM_TOKEN",
                              "az account get-access-token --resource "
                              "https://management.azure.com --query accessToken -o tsv"),
                ConfigSetting("accounts", [{"subscription_id": "SUBSCRIPTION-ID",
                                            "resource_group": "agents",
                                            "name": "agent-aoai"}],
                              "the accounts whose keys the agent may hold", optional=True),
                ConfigSetting("replacement", "other",
                              "give the agent the account's other key instead of the "
                              "regenerated one", optional=True),
            ),
            permissions=(LIST_KEYS, REGENERATE),
            console=PORTAL,
            note="both actions are in the built-in role Cognitive Services Contributor; "
                 "without accounts listed, contain cannot tell which account a key opens",
        )

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._regenerated: dict[str, _Regenerated] = {}  # old key fingerprint → what happened
        self._replaced: dict[str, Rotated] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback", "Accept": "application/json"}

    def _token(self) -> SecretValue:
        if not self.settings.token:
            raise ResponderError(
                'this needs an ARM token: set token = "env:AZURE_ARM_TOKEN" in '
                "[providers.azure_openai] and export the output of `az account "
                "get-access-token --resource https://management.azure.com --query accessToken "
                "-o tsv`"
            )
        return self._store().resolve(self.settings.token)

    def _accounts(self) -> tuple[AzureAccount, ...]:
        if not self.settings.accounts:
            raise ResponderError(
                "no account to look in: add [[providers.azure_openai.accounts]] with "
                "subscription_id, resource_group and name for each Azure OpenAI account"
            )
        return self.settings.accounts

    def _arm(self, account: AzureAccount, action: str, body: Any = None) -> HttpAnswer:
        path = f"{account.path}/{action}"
        return self._request("POST", path, f"POST …/accounts/{account.name}/{action}",
                             key=self._token(), params={"api-version": self.settings.api_version},
                             json_body=body)

    def _arm_failure(self, answer: HttpAnswer, account: AzureAccount, action: str,
                     needs: str) -> Failed:
        where = f"POST …/accounts/{account.name}/{action}"
        if answer.status == 404:
            return Failed(error=f"{where}: Azure has no such account{_said(answer)}: check "
                          "subscription_id, resource_group and name in [providers.azure_openai]",
                          facts={"account": account.name})
        return _ANSWERS.failure_for_status(
            answer.status, answer.headers, where,
            f"the ARM token's identity lacks {needs} on account {account.name} (the built-in "
            "role Cognitive Services Contributor has it)",
            said=_said(answer), facts={"account": account.name, "http_status": answer.status},
        )

    def _keys(self, account: AzureAccount) -> tuple[SecretValue, SecretValue]:
        answer = self._arm(account, "listKeys")
        body = answer.body if isinstance(answer.body, Mapping) else {}
        if answer.status >= 300:
            raise CallFailed(answer.status, self._arm_failure(answer, account, "listKeys",
                                                              LIST_KEYS))
        key1, key2 = body.get("key1"), body.get("key2")
        if not isinstance(key1, str) or not isinstance(key2, str):
            raise CallFailed(answer.status, Failed(
                error=f"listKeys of {account.name} answered without both keys; nothing was "
                "concluded from it", retryable=True))
        return SecretValue(key1), SecretValue(key2)

    def _find(self, cred: Credential) -> _Found | Outcome:
        """Which configured account and slot hold the key (values compared in memory)."""
        assert cred.secret is not None
        failures: list[Failed] = []
        for account in self._accounts():
            try:
                key1, key2 = self._keys(account)
            except CallFailed as err:
                failures.append(err.failed)
                continue
            if cred.secret == key1:
                return _Found(account, "Key1", key2)
            if cred.secret == key2:
                return _Found(account, "Key2", key1)
        if failures:
            return failures[0]
        return Unproven(
            reason=f"none of the {len(self._accounts())} configured accounts lists this key "
            "(listKeys): it was regenerated already, or belongs to an account not in "
            "[providers.azure_openai] accounts",
            check="add every Azure OpenAI account the agent could use to accounts and run "
            "again, or regenerate the key under Resource Management → Keys and Endpoint",
            url=PORTAL,
        )

    def _data_plane(self, account: AzureAccount, key: SecretValue) -> HttpAnswer:
        return self.answers.send(
            self._client(), "GET", f"{account.data_plane}/openai/models",
            "GET {endpoint}/openai/models",
            params={"api-version": self.settings.data_plane_api_version},
            headers={"api-key": key.reveal()},
        )

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What revoke would send, from the config alone: no request."""
        try:
            accounts = self._accounts()
        except ResponderError as exc:
            return [(c, Failed(error=str(exc))) for c in creds]
        commands = (
            *(f"POST …/accounts/{a.name}/listKeys (find the key)" for a in accounts),
            "POST …/accounts/{name}/regenerateKey {keyName: the key the agent holds}",
        )
        return [(c, Planned(action="regenerate", detail=f"{c.kind} {c.fingerprint}",
                            commands=commands)) for c in creds]

    # -- revoke -------------------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be found")
        try:
            with self._lock:
                if cred.fingerprint in self._regenerated:
                    done = self._regenerated[cred.fingerprint].found
                    return Revoked(detail=f"{done.slot} of {done.account.name} was regenerated "
                                   "in this run", facts=_facts(done))
            found = self._find(cred)
            if isinstance(found, Outcome):
                return found
            return self._regenerate(cred, found)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _regenerate(self, cred: Credential, found: _Found) -> Outcome:
        answer = self._arm(found.account, "regenerateKey", {"keyName": found.slot})
        body = answer.body if isinstance(answer.body, Mapping) else {}
        new = body.get(found.slot.lower())
        if answer.status >= 300:
            return self._arm_failure(answer, found.account, "regenerateKey", REGENERATE)
        if not isinstance(new, str) or not new:
            return Failed(error=f"regenerateKey of {found.account.name} answered without the "
                          f"new {found.slot}; check it under Keys and Endpoint",
                          retryable=True, facts=_facts(found))
        with self._lock:
            self._regenerated[cred.fingerprint] = _Regenerated(found, SecretValue(new))
        return Revoked(
            detail=f"{found.slot} of {found.account.name} regenerated: the old value no longer "
            "opens the account",
            facts=_facts(found),
        )

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        """A working key stored for the agent; ``facts["stage"]`` is the last stage reached."""
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be found")
        with self._lock:
            done = self._replaced.get(cred.fingerprint)
            regenerated = self._regenerated.get(cred.fingerprint)
        if done is not None:
            return done
        try:
            if regenerated is not None:
                outcome = self._hand_over_after_revoke(regenerated, store)
            else:
                outcome = self._drill_rotation(cred, store)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))
        if isinstance(outcome, Rotated):
            with self._lock:
                self._replaced[cred.fingerprint] = outcome
        return outcome

    def _keep_and_test(
        self, found: _Found, slot: str, value: SecretValue, store: SecretStore,
        facts: dict[str, Any],
    ) -> str | Failed:
        """Store ``value`` (``slot`` of the account), then prove the data plane takes it."""
        target = f"{found.account.name}/{slot.lower()}"
        try:
            reference = store.store(self.settings.store_name.format(target=target), value)
        except Exception as exc:
            return Failed(error=f"storing {slot} of {found.account.name} failed "
                          f"({describe_store_error(exc)})", facts=dict(facts))
        facts.update(stage="store", reference=reference, replacement=slot)
        tested = self._data_plane(found.account, value)
        if tested.status >= 300:
            return Failed(
                error=f"{slot} of {found.account.name} is stored at {reference} but the data "
                f"plane answered HTTP {tested.status}{_said(tested)} to it",
                retryable=tested.status >= 500 or tested.status == 429,
                facts=dict(facts),
            )
        facts["stage"] = "test"
        return reference

    def _hand_over_after_revoke(self, done: _Regenerated, store: SecretStore) -> Outcome:
        found = done.found
        facts: dict[str, Any] = {**_facts(found), "stage": "regenerate"}
        if self.settings.replacement == "other":
            slot, value = found.other_slot, found.other
        else:
            slot, value = found.slot, done.new
        reference = self._keep_and_test(found, slot, value, store, facts)
        if isinstance(reference, Failed):
            return reference
        facts["stage"] = "finish"
        return Rotated(
            detail=f"{slot} of {found.account.name} stored at {reference} and tested",
            facts=facts, new_fingerprint=value.fingerprint, new_reference=reference,
        )

    def _drill_rotation(self, cred: Credential, store: SecretStore) -> Outcome:
        """Azure's zero-downtime order: the other key first, then regenerate the agent's."""
        found = self._find(cred)
        if isinstance(found, Outcome):
            return found
        facts: dict[str, Any] = {**_facts(found), "stage": "find"}
        reference = self._keep_and_test(found, found.other_slot, found.other, store, facts)
        if isinstance(reference, Failed):
            return reference
        kept = handed_over(store, facts, f"{found.slot} of {found.account.name} is not "
                           "regenerated yet")
        if kept is not None:
            return kept
        regenerated = self._regenerate(cred, found)
        if not isinstance(regenerated, Revoked):
            return regenerated
        facts["stage"] = "finish"
        return Rotated(
            detail=f"the agent moved to {found.other_slot} (stored at {reference}); "
            f"{found.slot} of {found.account.name} regenerated",
            facts=facts, new_fingerprint=found.other.fingerprint, new_reference=reference,
        )

    # -- verify -------------------------------------------------------------------------------

    def verify_revoked(self, cred: Credential) -> Outcome:
        """The data plane's 401 to the old key plus listKeys no longer showing it, in the
        account this run regenerated it in; anything less is Unproven."""
        if cred.secret is None:
            return Skipped(reason="the key's value is unknown, so it cannot be tried")
        with self._lock:
            done = self._regenerated.get(cred.fingerprint)
        try:
            if done is None:
                found = self._find(cred)
                if isinstance(found, _Found):
                    return Failed(error=f"{found.account.name} still lists the key as "
                                  f"{found.slot}", retryable=True, facts=_facts(found))
                if isinstance(found, Unproven):
                    return Unproven(
                        reason="this run did not regenerate the key, and no configured account "
                        "lists it: it may be dead, or live in an account clawback does not "
                        "know", check=found.check, url=found.url)
                return found
            return self._verify_regenerated(cred.secret, done.found)
        except CallFailed as err:
            return err.failed
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _verify_regenerated(self, old: SecretValue, found: _Found) -> Outcome:
        account = found.account
        probe = self._data_plane(account, old)
        facts: dict[str, Any] = {**_facts(found),
                                 "checked_with": [f"GET …/openai/models → {probe.status}"]}
        if probe.status < 300:
            return Failed(error=f"the data plane of {account.name} still accepts the old key",
                          retryable=True, facts=facts)
        if probe.status == 429 or probe.status >= 500:
            return _ANSWERS.failure_for_status(probe.status, probe.headers,
                                               "GET {endpoint}/openai/models", "", facts=facts)
        key1, key2 = self._keys(account)
        facts["checked_with"].append(f"POST …/accounts/{account.name}/listKeys")
        if old in (key1, key2):
            return Failed(error=f"{account.name} still lists the old key", retryable=True,
                          facts=facts)
        if probe.status != 401:
            return Unproven(
                reason=f"listKeys of {account.name} no longer shows the key, but its data plane "
                f"answered HTTP {probe.status}{_said(probe)}, not the 401 for an invalid key "
                "(a 403 comes from the account's network rules whatever the key)",
                check=f"from a network {account.name} admits, call {account.data_plane}"
                "/openai/models with the old key and expect 401",
                url=PORTAL, facts=facts,
            )
        return VerifiedDead(
            detail=f"the data plane of {account.name} rejects the old key (401) and listKeys no "
            "longer shows it",
            facts=facts,
        )

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """listKeys on each configured account (regenerateKey has no harmless probe)."""
        try:
            s = self.settings
            if not s.token:
                return []
            accounts = self._accounts()
            self._token()
        except ResponderError as exc:
            return [PreflightCheck("azure_openai", "ARM token", False, detail=str(exc),
                                   missing_permission="token")]

        def probe(account: AzureAccount) -> PreflightCheck:
            capability = f"keys of {account.name}"
            try:
                self._keys(account)
            except CallFailed as err:
                status = err.status
                return PreflightCheck(
                    "azure_openai", capability, False, detail=err.failed.error,
                    missing_permission=LIST_KEYS if status == 403 else
                    ("a valid ARM token" if status == 401 else ""),
                )
            return PreflightCheck(
                "azure_openai", capability, True,
                detail=f"listKeys: 200 ({REGENERATE} is needed too and cannot be probed "
                "without regenerating)",
            )

        return list(self.context.fan_out(probe, list(accounts)))


def _facts(found: _Found) -> dict[str, Any]:
    return {"account": found.account.name, "key_name": found.slot}

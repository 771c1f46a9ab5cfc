"""What every key responder for a provider's API has: its validated settings, the secret store,
one lock, an HTTP client made on first use, and fan-out that never lets an exception escape;
and, for the providers whose management API creates and deletes keys, the one order in which a
key is replaced (``KeyReplacingResponder``).

Nothing here sends a request or imports httpx at import time: a responder is built on the panic
path, and only a step that needs the provider pays for the client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from responders.http_answers import CallFailed, HttpAnswer, ProviderAnswers, as_outcome
from responders.interface import (
    Capability,
    Credential,
    Failed,
    Outcome,
    Responder,
    ResponderContext,
    ResponderError,
    Rotated,
    SecretStore,
    SecretValue,
    handed_over,
)

if TYPE_CHECKING:
    import httpx

# What a responder that can delete, replace and check keys declares; DISABLE is added by those
# that can also switch a key off reversibly.
KEY_CAPABILITIES = frozenset(
    {
        Capability.REVOKE,
        Capability.ROTATE,
        Capability.VERIFY_REVOKED,
        Capability.PREFLIGHT,
        Capability.MANUAL,
    }
)
KEY_CAPABILITIES_WITH_DISABLE = KEY_CAPABILITIES | {Capability.DISABLE}


class HttpSettings(Protocol):
    @property
    def base_url(self) -> str: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def connect_timeout_seconds(self) -> float: ...


S = TypeVar("S")
H = TypeVar("H", bound=HttpSettings)


class ProviderResponder(Responder, Generic[S]):
    """A responder configured by its ``[providers.X]`` table, parsed once, on first use.

    Subclasses set ``parse_settings = staticmethod(<their parser>)`` and ``display_name`` (how
    messages name the provider). A broken table surfaces as ResponderError from ``settings``
    at the first step that needs it, never from the constructor.
    """

    display_name: ClassVar[str] = ""
    parse_settings: Callable[[Mapping[str, Any]], S]

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._lock = threading.RLock()
        self._parsed: S | None = None

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        cls.parse_settings(config)

    @property
    def settings(self) -> S:
        with self._lock:
            if self._parsed is None:
                self._parsed = self.parse_settings(self.context.config)
            return self._parsed

    def _store(self) -> SecretStore:
        if self.context.secrets is None:
            raise ResponderError(f"no secret store is available for {self.display_name} references")
        return self.context.secrets

    def _config_failures(
        self, creds: Sequence[Credential]
    ) -> list[tuple[Credential, Outcome]] | None:
        """Every credential failed with the config's problem; None when the config is usable.

        Batch steps check this first, so a broken table is reported before anything is sent.
        """
        try:
            _ = self.settings
        except ResponderError as exc:
            return [(cred, Failed(error=str(exc))) for cred in creds]
        return None

    def _fan(self, func: Callable[[Any], Outcome], items: Sequence[Any]) -> list[Outcome]:
        """``func`` over ``items`` through the engine's fan-out, failures as outcomes."""
        return list(self.context.fan_out(lambda item: as_outcome(lambda: func(item)), list(items)))


class HttpProviderResponder(ProviderResponder[H]):
    """A ProviderResponder that talks to its provider through one httpx client.

    The client is made on first use from ``base_url`` and the two timeouts of the settings, with
    ``client_headers()`` on every request; ``answers`` turns what comes back into outcomes.
    """

    answers: ClassVar[ProviderAnswers]

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._http: httpx.Client | None = None  # made on first use

    def client_headers(self) -> dict[str, str]:
        return {"User-Agent": "clawback"}

    def auth_headers(self, key: SecretValue) -> dict[str, str]:
        return {"Authorization": f"Bearer {key.reveal()}"}

    def _request(
        self,
        method: str,
        path: str,
        action: str,
        *,
        key: SecretValue | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        **request: Any,
    ) -> HttpAnswer:
        """One request, authenticated with ``key`` when given; an error answer is returned, a
        transport failure raised as CallFailed."""
        return self.answers.send(
            self._client(),
            method,
            path,
            action,
            headers=self.auth_headers(key) if key is not None else {},
            params=params,
            json=json_body,
            **request,
        )

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                from responders.kit.httpx_cli import skip_httpx_cli

                skip_httpx_cli()
                import httpx

                s = self.settings
                self._http = httpx.Client(
                    base_url=s.base_url.rstrip("/"),
                    headers=self.client_headers(),
                    timeout=httpx.Timeout(s.timeout_seconds, connect=s.connect_timeout_seconds),
                )
            return self._http


class RotationSettings(HttpSettings, Protocol):
    """What the shared replacement reads of a provider's settings."""

    @property
    def revoke_action(self) -> str: ...

    @property
    def store_name(self) -> str: ...


class ProviderKey(Protocol):
    """An old key as its provider's record names it (holds no secret)."""

    @property
    def key_id(self) -> str: ...  # the provider's id for it

    @property
    def shown(self) -> str: ...  # how a message names it


@dataclass(frozen=True)
class NewKey:
    """A replacement the provider has just created: its value, shown this once."""

    value: SecretValue
    key_id: str  # "" when the provider's answer does not name it (yet)
    store_target: str  # the ``{target}`` of ``store_name`` it is kept under


R = TypeVar("R", bound=RotationSettings)
K = TypeVar("K", bound=ProviderKey)


class KeyReplacingResponder(HttpProviderResponder[R], Generic[R, K]):
    """An HttpProviderResponder whose ``rotate`` replaces a key the way every management API
    allows it: create → store → accepted → agent handover → retire the old key.

    The order is the safety: the replacement is stored through the SecretStore before anything
    else (one that cannot be stored is deleted again), the old key is left alone until the
    provider accepts the new one and the agent is proven to use it, and a key ``revoke``
    already retired in this run is not retired twice. Subclasses supply the provider's steps:
    ``_create_replacement``, ``_delete_replacement``, ``_replacement_accepted``, ``_retire``
    and ``_rotated_detail`` (and ``_old_key_state`` where the outcome's name says too little).
    """

    # Where a person deletes a replacement clawback could neither store nor delete again.
    replacement_console: ClassVar[str] = "the console"
    # The fact that says what became of the old key.
    old_key_fact: ClassVar[str] = "old_key_state"

    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._retired: set[str] = set()  # ids of the keys deleted or disabled in this run

    def _mark_retired(self, old: K) -> None:
        with self._lock:
            self._retired.add(old.key_id)

    # -- the provider's steps -------------------------------------------------------------------

    def _create_replacement(self, old: K, facts: dict[str, Any]) -> NewKey | Failed:
        """Create the new key with what the old one carries over; add the facts of the create
        (``facts["stage"]`` is "create"). May raise CallFailed."""
        raise NotImplementedError

    def _delete_replacement(self, old: K, new: NewKey) -> bool:
        """Delete a replacement that could not be stored: True once the provider says it is
        gone. A raised CallFailed or ResponderError reads as not deleted."""
        raise NotImplementedError

    def _replacement_accepted(self, new: NewKey) -> Failed | None:
        """None once the provider accepts the new key; else why not (its ``error`` completes
        "the new key is stored at … but …")."""
        raise NotImplementedError

    def _retire(self, old: K) -> Outcome:
        """Delete or disable the old key as configured (``_mark_retired`` once done)."""
        raise NotImplementedError

    def _old_key_state(self, retired: Outcome) -> str:
        """What the facts say became of the old key."""
        return retired.name

    def _rotated_detail(self, old: K, new: NewKey, reference: str) -> str:
        raise NotImplementedError

    # -- the order ------------------------------------------------------------------------------

    def _replace(self, old: K, store: SecretStore) -> Outcome:
        facts: dict[str, Any] = {"stage": "create"}
        new = self._create_replacement(old, facts)
        if isinstance(new, Failed):
            return new
        try:
            reference = store.store(self.settings.store_name.format(target=new.store_target),
                                    new.value)
        except Exception as exc:
            try:
                withdrawn = self._delete_replacement(old, new)
            except (CallFailed, ResponderError):
                withdrawn = False
            left = ("deleted" if withdrawn
                    else f"NOT deleted: delete it in {self.replacement_console}")
            return Failed(
                error=f"storing the new key failed ({describe_store_error(exc)}); the new key "
                f"was {left}", facts={**facts, "new_key_deleted": withdrawn})
        facts.update(stage="store", reference=reference)
        refused = self._replacement_accepted(new)
        if refused is not None:
            return replace(refused, error=f"the new key is stored at {reference} but "
                           f"{refused.error}; the old key was left alone", facts=facts)
        facts["stage"] = "test"
        with self._lock:
            retired = old.key_id in self._retired
        if retired:
            facts[self.old_key_fact] = f"already {self.settings.revoke_action}d by this run"
        else:
            kept = handed_over(store, facts, f"the old key {old.shown} stays live")
            if kept is not None:
                return kept
            try:
                facts[self.old_key_fact] = self._old_key_state(self._retire(old))
            except CallFailed as err:
                return replace(err.failed, error=f"the new key works and is stored at "
                               f"{reference}, but retiring the old key failed: {err.failed.error}",
                               facts=facts)
        facts["stage"] = "finish"
        return Rotated(detail=self._rotated_detail(old, new, reference), facts=facts,
                       new_fingerprint=new.value.fingerprint, new_reference=reference)


def kind_by_prefix(cred: Credential, prefixes: Iterable[tuple[str, str]]) -> str:
    """The credential's kind, trusting the value's own prefix over a generic label."""
    if cred.secret is not None:
        value = cred.secret.reveal()
        for prefix, kind in prefixes:
            if value.startswith(prefix):
                return kind
    return cred.kind


def where_found(cred: Credential) -> str:
    return ", ".join(str(loc) for loc in cred.locations) or "(no file recorded)"


def describe_store_error(exc: Exception) -> str:
    # Keyring and store errors carry advice, never the value being stored.
    return str(exc) if isinstance(exc, ResponderError) else type(exc).__name__

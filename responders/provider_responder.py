"""What every key responder for a provider's API has: its validated settings, the secret store,
one lock, an HTTP client made on first use, and fan-out that never lets an exception escape.

Nothing here sends a request or imports httpx at import time: a responder is built on the panic
path, and only a step that needs the provider pays for the client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from responders.http_answers import HttpAnswer, ProviderAnswers, as_outcome
from responders.interface import (
    Capability,
    Credential,
    Failed,
    Outcome,
    Responder,
    ResponderContext,
    ResponderError,
    SecretStore,
    SecretValue,
)

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
        self._http: Any = None  # the provider's HTTP client (or SDK transport), made on first use

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

    def _client(self) -> Any:
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

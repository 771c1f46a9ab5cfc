"""What the providers themselves say of the incident's keys, through the responder contract.

The engine names no provider: it asks each configured responder that declares
``Capability.USAGE`` about the credentials of its providers, by kind, fingerprint and key id
(the timeline holds no secret, and none is needed: the responder asks with its admin
credential). Each answer is a frozen ``UsageReport`` (or a ``Skipped``/``Failed`` saying why not),
recorded in ``investigation.json`` and as a signed ``investigation.provider_usage`` entry with
the APIs it came from. A provider that fails to answer costs its own entry, nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from responders.interface import Capability, Credential, Failed, ResponderContext, ResponderError

if TYPE_CHECKING:
    from clawback.config import Config
    from clawback.registry import Registry
    from responders.interface import Responder, SecretStore

Asker = Callable[[Sequence[Mapping[str, Any]]], list[dict[str, Any]]]


def _plain(value: Any) -> Any:
    """JSON-safe: dataclasses as dicts, tuples as lists, floats as text (canonical JSON)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return format(value, "g")
    return value


def ask(credentials: Sequence[Mapping[str, Any]], responders: Mapping[str, Responder]
        ) -> list[dict[str, Any]]:
    """One entry per credential whose provider has a responder that can say, in the order of
    ``credentials``.

    Responders are asked side by side, each about its own credentials one after the other:
    each provider sees the same one-at-a-time reads as before (CloudTrail's LookupEvents, for
    one, allows two a second per account and region), and the investigation waits for the
    slowest provider instead of the sum of all their round trips."""
    asked: list[tuple[Responder, Credential]] = []
    for cred in credentials:
        responder = responders.get(str(cred.get("provider")))
        if responder is None:
            continue
        asked.append((responder, Credential(
            provider=str(cred["provider"]), kind=str(cred["kind"]),
            fingerprint=str(cred["fingerprint"]),
            key_id=str(cred["key_id"]) if cred.get("key_id") else None,
            account=str(cred["account"]) if cred.get("account") else None)))
    by_responder: dict[int, list[int]] = {}
    for index, (responder, _) in enumerate(asked):
        by_responder.setdefault(id(responder), []).append(index)
    entries: list[dict[str, Any]] = [{} for _ in asked]

    def one_responder(indexes: list[int]) -> None:
        for index in indexes:
            entries[index] = _entry(*asked[index])

    groups = list(by_responder.values())
    if len(groups) <= 1:
        for group in groups:
            one_responder(group)
        return entries
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(groups), _MAX_PROVIDERS_AT_ONCE),
                            thread_name_prefix="clawback-usage") as pool:
        for done in [pool.submit(one_responder, group) for group in groups]:
            done.result()  # _entry turns every exception into a Failed: nothing is raised
    return entries


# Different providers asked at once (each about its own keys, one at a time).
_MAX_PROVIDERS_AT_ONCE = 8


def _entry(responder: Responder, key: Credential) -> dict[str, Any]:
    try:
        outcome = responder.usage(key)
    except ResponderError as exc:
        outcome = Failed(error=str(exc))
    except Exception as exc:  # one provider's bug must not cost the others' answers
        outcome = Failed(error=f"{type(exc).__name__}: {exc}")
    fields = _plain(outcome)
    fields.pop("facts", None)
    return {
        "target": {"target": f"{key.provider}:{key.key_id or key.fingerprint}",
                   "provider": key.provider, "kind": key.kind,
                   "fingerprint": key.fingerprint,
                   **({"key_id": key.key_id} if key.key_id else {})},
        "detail": f"{responder.name}: {outcome.detail or outcome.name}"
                  + (f" ({getattr(outcome, 'error', '') or getattr(outcome, 'reason', '')})"
                     if outcome.status != "ok" else ""),
        "extra": {"outcome": outcome.name, "status": outcome.status, **fields},
    }


def asker(registry: Registry, config: Config, store: SecretStore,
          settings: Mapping[str, Any]) -> Asker | None:
    """An ``ask`` over the configured responders that can say; None when none can."""
    responders: dict[str, Responder] = {}
    for cls in registry.key_responders:
        if cls.name not in config.providers or Capability.USAGE not in cls.capabilities:
            continue
        context = ResponderContext(config=config.provider(cls.name), secrets=store,
                                   settings=settings)
        try:
            responder = cls(context)
        except ResponderError:
            continue
        for provider in cls.providers:
            responders.setdefault(provider, responder)
    if not responders:
        return None
    return lambda credentials: ask(credentials, responders)


def from_config(config_path: Any) -> Asker | None:
    """``clawback investigate --config``: the responders the config names."""
    from clawback.config import find_config, load_config
    from clawback.registry import load_registry
    from clawback.secret_store import KeyringSecretStore

    registry = load_registry()
    path = find_config(config_path)
    if path is None:
        return None
    config = load_config(path, known_providers=set(registry.names))
    return asker(registry, config, KeyringSecretStore(), config.settings())

"""Which responders and actions exist: the entry-point group ``clawback.responders``.

Adding a provider means one module and one entry point; nothing here names a provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clawback.errors import BadInput
from responders.interface import Action, Responder

ENTRY_POINT_GROUP = "clawback.responders"


@dataclass(frozen=True)
class Registry:
    responders: Mapping[str, type[Responder]]
    actions: Mapping[str, type[Action]] = field(default_factory=dict)

    @property
    def key_responders(self) -> list[type[Responder]]:
        return [cls for cls in self.responders.values() if cls.providers or cls.fallback]

    def responder_for_provider(self, provider: str) -> type[Responder] | None:
        for cls in self.key_responders:
            if provider in cls.providers and not cls.fallback:
                return cls
        for cls in self.responders.values():
            if cls.fallback:
                return cls
        return None


def load_registry(extra: Iterable[type[Responder]] = ()) -> Registry:
    """Load every installed responder, plus ``extra`` ones (tests, embedders)."""
    from importlib.metadata import entry_points

    responders: dict[str, type[Responder]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls: Any = ep.load()
        except Exception as exc:
            raise BadInput(
                f"the responder plugin {ep.name!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}. Reinstall clawback or remove the plugin."
            ) from exc
        responders[ep.name] = cls
    for cls in extra:
        responders[cls.name] = cls
    actions: dict[str, type[Action]] = {}
    for cls in responders.values():
        for name, action in cls.actions.items():
            actions[name] = action
    return Registry(responders=responders, actions=actions)

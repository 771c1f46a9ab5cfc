"""Which responders and actions exist: the entry-point group ``clawback.responders``.

Adding a provider means one module and one entry point; nothing here names a provider.
Responder modules are imported only when needed: the panic button validates its playbook and
stops the agent before a single provider SDK wrapper is loaded. An action's name starts with its
responder's entry-point name (``host.snapshot`` comes from the entry point ``host``), which is how
a ``uses:`` finds its responder without loading the others.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from clawback.errors import BadInput
from responders.interface import (
    AGENT_ENTRY_POINT_GROUP,
    HOST_ENTRY_POINT_GROUP,
    REMOTE_ENTRY_POINT_GROUP,
    Action,
    AgentKeeper,
    HostKeeper,
    RemoteHosts,
    Responder,
)

ENTRY_POINT_GROUP = "clawback.responders"


class Registry:
    def __init__(self, entry_points: Mapping[str, Any],
                 extra: Mapping[str, type[Responder]] | None = None) -> None:
        self._entry_points = dict(entry_points)
        self._loaded: dict[str, type[Responder]] = dict(extra or {})

    @property
    def names(self) -> list[str]:
        """Every responder's name, without importing any of them."""
        return sorted({*self._entry_points, *self._loaded})

    @property
    def origins(self) -> dict[str, str] | None:
        """Each responder's entry point (``module:Class``), without importing any; None when
        one was given in-process (its code cannot be identified)."""
        if self._loaded and any(self.module_of(name) is None for name in self._loaded):
            return None
        return {name: str(point.value) for name, point in self._entry_points.items()}

    def module_of(self, name: str) -> str | None:
        """The module an installed responder comes from, without importing it; None for one
        given in-process (``extra``), even under an installed one's name."""
        point = self._entry_points.get(name)
        loaded = self._loaded.get(name)
        if point is None or (loaded is not None and loaded.__module__ != point.module):
            return None
        return str(point.module)

    def responder(self, name: str) -> type[Responder]:
        if name not in self._loaded:
            ep = self._entry_points[name]
            try:
                cls: Any = ep.load()
            except Exception as exc:
                raise BadInput(
                    f"the responder plugin {name!r} ({ep.value}) failed to load: "
                    f"{type(exc).__name__}: {exc}. Reinstall clawback or remove the plugin."
                ) from exc
            self._loaded[name] = cls
        return self._loaded[name]

    @property
    def responders(self) -> dict[str, type[Responder]]:
        """Every responder, loaded."""
        return {name: self.responder(name) for name in self.names}

    def action(self, uses: str) -> type[Action] | None:
        prefix = uses.split(".", 1)[0]
        if prefix in self.names:
            found = self.responder(prefix).actions.get(uses)
            if found is not None:
                return found
        # A plugin may name its actions differently: look everywhere before giving up.
        return self.actions.get(uses)

    @property
    def actions(self) -> dict[str, type[Action]]:
        out: dict[str, type[Action]] = {}
        for cls in self.responders.values():
            out.update(cls.actions)
        return out

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


class ActionParams(Mapping[str, type[Any]]):
    """``uses:`` name → the model validating its ``with:``, resolved lazily from a registry.

    Looking one name up loads one responder; listing them all (only to explain an unknown
    ``uses:``) loads every responder.
    """

    def __init__(self, registry: Registry, engine: Mapping[str, type[Any]]) -> None:
        self._registry = registry
        self._engine = dict(engine)

    def __getitem__(self, uses: str) -> type[Any]:
        if uses in self._engine:
            return self._engine[uses]
        action = self._registry.action(uses)
        if action is None:
            raise KeyError(uses)
        return action.Params

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._engine, *self._registry.actions}))

    def __len__(self) -> int:
        return len(list(iter(self)))


def load_registry(extra: Iterable[type[Responder]] = ()) -> Registry:
    """Every installed responder (by entry point, not yet imported), plus ``extra`` ones."""
    points = {ep.name: ep for ep in _installed(ENTRY_POINT_GROUP)}
    return Registry(points, {cls.name: cls for cls in extra})


@functools.cache
def load_agent(name: str | None = None) -> AgentKeeper:
    """The agent clawback protects, by its entry point in ``clawback.agents`` (``name``, else
    the only one installed; with several, the first by name until config chooses)."""
    points = {ep.name: ep for ep in _installed(AGENT_ENTRY_POINT_GROUP)}
    if not points:
        raise BadInput(f"no agent support is installed (entry-point group "
                       f"{AGENT_ENTRY_POINT_GROUP}): reinstall clawback")
    chosen = name if name is not None else sorted(points)[0]
    if chosen not in points:
        raise BadInput(f"no agent support named {chosen!r} is installed; installed: "
                       + ", ".join(sorted(points)))
    keeper: AgentKeeper = points[chosen].load()()
    return keeper


@functools.cache
def load_host() -> HostKeeper:
    """This machine as the host responder answers for it: the network cut, supervisors
    (entry point group ``clawback.host``; with several installed, the first by name)."""
    keeper: HostKeeper = _first(HOST_ENTRY_POINT_GROUP, "host support")
    return keeper


@functools.cache
def load_remote() -> RemoteHosts:
    """What the remote responder offers for fleet hosts over SSH (entry point group
    ``clawback.remote``; with several installed, the first by name)."""
    hosts: RemoteHosts = _first(REMOTE_ENTRY_POINT_GROUP, "fleet (SSH) support")
    return hosts


def _first(group: str, what: str) -> Any:
    points = {ep.name: ep for ep in _installed(group)}
    if not points:
        raise BadInput(f"no {what} is installed (entry-point group {group}): reinstall clawback")
    return points[sorted(points)[0]].load()()


def _installed(group: str) -> Any:
    """The group's entry points: from clawback's index while the installed distributions are
    unchanged (``importlib.metadata`` is not imported on the panic path), else from the
    metadata, read once per process."""
    from clawback.entry_point_index import entry_points

    return entry_points(group)


"""The host the agent runs on: evidence snapshots, stopping its service, cutting the network."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import ClassVar

from responders.interface import Action, Responder


class _Actions(Mapping[str, type[Action]]):
    """The host's actions by name, each module imported when its action is first asked for:
    the panic path's steps (snapshot, stop) do not load the network cut's module, with its
    nftables ruleset and pydantic models."""

    _where: ClassVar[dict[str, tuple[str, str]]] = {
        "host.snapshot": ("responders.host.snapshot", "SnapshotAction"),
        "host.stop_service": ("responders.host.service", "StopServiceAction"),
        "host.cut_network": ("responders.host.network", "CutNetworkAction"),
    }

    def __getitem__(self, name: str) -> type[Action]:
        module, attribute = self._where[name]
        action: type[Action] = getattr(importlib.import_module(module), attribute)
        assert action.name == name, f"{module}.{attribute} is named {action.name!r}"
        return action

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


class HostResponder(Responder):
    """Provides the host actions; it revokes no keys (``providers`` is empty)."""

    name: ClassVar[str] = "host"
    actions: ClassVar[Mapping[str, type[Action]]] = _Actions()

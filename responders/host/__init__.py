"""The host the agent runs on: evidence snapshots, stopping its service, cutting the network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from responders.host.network import CutNetworkAction
from responders.host.service import StopServiceAction
from responders.host.snapshot import SnapshotAction
from responders.interface import Action, Responder


class HostResponder(Responder):
    """Provides the host actions; it revokes no keys (``providers`` is empty)."""

    name: ClassVar[str] = "host"
    actions: ClassVar[Mapping[str, type[Action]]] = {
        SnapshotAction.name: SnapshotAction,
        StopServiceAction.name: StopServiceAction,
        CutNetworkAction.name: CutNetworkAction,
    }

"""Host actions over SSH, for ``clawback contain --hosts`` (clawback.fleet).

Each action reads the fleet host it acts on from ``ResponderContext.host`` (a connected
``RemoteHost``) and does its work through the agent uploaded there. Nothing here is an entry
point: clawback.fleet swaps these in for the local host actions of the same names, and the
local path never imports this package.
"""

from __future__ import annotations

from collections.abc import Mapping

from responders.interface import Action
from responders.remote.guidance import not_over_ssh
from responders.remote.network import RemoteCutNetworkAction
from responders.remote.service import RemoteStopServiceAction
from responders.remote.snapshot import RemoteSnapshotAction

REMOTE_ACTIONS: Mapping[str, type[Action]] = {
    RemoteSnapshotAction.name: RemoteSnapshotAction,
    RemoteStopServiceAction.name: RemoteStopServiceAction,
    RemoteCutNetworkAction.name: RemoteCutNetworkAction,
}


def over_ssh(uses: str) -> type[Action]:
    """The action ``uses`` names as a fleet host runs it: its SSH variant, or a manual step
    where none exists."""
    return REMOTE_ACTIONS.get(uses) or not_over_ssh(uses)

"""``host.cut_network`` on a fleet host: the same nftables table, with the lockout guard on.

Over SSH every cut is a remote cut, so the guard of ``responders.host.network`` always applies:
the step (or ``[network]``) must say ``confirmed_remote: true``, an auto-rollback timer must be
armed (``rollback_minutes`` > 0), and the address this SSH session comes from, *as the host sees
it*, must be inside ``admin_sources``. The SSH port kept open is the one this session uses, not
``[network] ssh_port``, so the cut cannot drop the session clawback is using.

The ruleset is rendered here by ``render_ruleset``; the agent applies it with ``nft -c -f`` then
``nft -f`` (one transaction), records the table's handle in ``/var/lib/clawback/<incident>/``
and starts a detached timer that deletes exactly that table when the deadline passes, unless
confirmed. A copy of that record is kept in ``<incident>/hosts/<host>/network-cut.json``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Any, ClassVar

from responders.host.network import (
    FAMILY,
    CutNetworkParams,
    effective_params,
    render_ruleset,
)
from responders.interface import (
    Action,
    Done,
    Failed,
    Outcome,
    Planned,
    Refused,
    ResponderContext,
    ResponderError,
)
from responders.kit.private_files import make_private_dir, write_private
from responders.remote.session import remote_host

STATE_ROOT = "/var/lib/clawback"


def remote_state_dir(incident_id: str) -> str:
    return f"{STATE_ROOT}/{incident_id}"


class RemoteCutNetworkAction(Action):
    """Isolate a fleet host with nftables, keeping this SSH session and an auto-rollback."""

    name: ClassVar[str] = "host.cut_network"
    checkpoint_before: ClassVar[bool] = True
    Params: ClassVar[type[CutNetworkParams]] = CutNetworkParams

    def __init__(self, context: ResponderContext, params: CutNetworkParams | None = None) -> None:
        super().__init__(context, params if params is not None else CutNetworkParams())
        self._config_error: ResponderError | None = None
        try:
            self.params: CutNetworkParams = effective_params(self.params, context.settings)
        except ResponderError as exc:
            self._config_error = exc

    def targets(self) -> list[str]:
        return [f"{self.context.host_name}/{self.params.scope}:{FAMILY}/{self.params.table}"]

    def _effective(self) -> CutNetworkParams:
        """The params with the SSH port this session really uses."""
        if self._config_error is not None:
            raise self._config_error
        host = remote_host(self)
        port = host.facts.get("ssh_server_port") or host.target.port
        return self.params.model_copy(update={"ssh_port": int(port)})

    def _guard(self, params: CutNetworkParams) -> str | None:
        """Why this cut could lock the owner out (advice), or None when it is safe."""
        if params.scope != "host":
            return None
        host = remote_host(self)
        client = host.facts.get("ssh_client")
        why = f"{self.context.host_name} is reached over SSH from {client or 'an unknown address'}"
        if not params.confirmed_remote:
            return (
                f"refusing to cut the network: {why}, so the cut can lock you out. Set "
                "confirmed_remote: true on the step (keep approve: true) with admin_sources "
                "listing where you connect from, and a rollback_minutes timer"
            )
        if params.rollback_minutes <= 0:
            return (
                f"refusing a remote cut without auto-rollback ({why}): set rollback_minutes > 0"
            )
        try:
            address = ipaddress.ip_address(str(client))
        except ValueError:
            return f"refusing: {self.context.host_name} did not say which address this session " \
                   "comes from (no SSH_CONNECTION), so the guard cannot check admin_sources"
        if not any(address in ipaddress.ip_network(s) for s in params.admin_sources):
            return (
                f"refusing: {self.context.host_name} sees this session coming from {client}, "
                f"which is not in admin_sources {params.admin_sources}; add {client} to "
                "admin_sources ([network] in clawback.toml or the step's with:) or the cut "
                "drops this session"
            )
        return None

    def plan(self, target: str) -> Planned:
        params = self._effective()
        ruleset = render_ruleset(params, incident_id=self.context.incident_id)
        guard = self._guard(params)
        state_dir = remote_state_dir(self.context.incident_id or "<incident>")
        commands = [
            f"{self.context.host_name}: nft -c -f {state_dir}/network-cut.nft",
            f"{self.context.host_name}: nft -f {state_dir}/network-cut.nft",
            f"{self.context.host_name}: auto-rollback in {params.rollback_minutes:g} min "
            f"(nft delete table {FAMILY} handle <handle>) unless confirmed",
        ]
        detail = f"would apply this ruleset on {self.context.host_name}:\n{ruleset}"
        return Planned(
            action=self.name,
            detail=f"{guard}\n{detail}" if guard else detail,
            commands=tuple(commands),
            facts={"ruleset": ruleset, "refused": guard, "ssh_port": params.ssh_port,
                   "ruleset_sha256": hashlib.sha256(ruleset.encode()).hexdigest()},
        )

    def execute(self, target: str) -> Outcome:
        params = self._effective()
        guard = self._guard(params)
        if guard is not None:
            return Refused(reason=guard, detail="network left as it was")
        host = remote_host(self)
        if not host.acts_as_root:
            return Failed(
                error=f"cutting the network on {self.context.host_name} needs root: set "
                "sudo = true in its [[hosts]] entry (passwordless for python3) or log in as root",
                detail="network left as it was",
            )
        if params.scope == "agent" and params.agent_uid is None:
            return Failed(
                error="an agent-only cut needs the agent's uid: uid in [hosts.agent] or "
                "agent_uid on the step (docker disconnects are not done over SSH)",
                detail="network left as it was",
            )
        ruleset = render_ruleset(params, incident_id=self.context.incident_id)
        state_dir = remote_state_dir(self.context.incident_id)
        # Where no firewall ran before, conntrack starts tracking this SSH session only with
        # the cut; the first packet it then sees decides the direction. If that is the host's
        # answer it is "new" outbound and dropped (only established replies may leave), and
        # the session stalls until this side speaks. Keepalives make this side speak first.
        answer = host.call("cut", {
            "ruleset": ruleset,
            "family": FAMILY,
            "table": params.table,
            "state_dir": state_dir,
            "rollback_minutes": params.rollback_minutes,
            "incident_id": self.context.incident_id,
        }, timeout=120, keepalive_s=0.2)
        facts: dict[str, Any] = {
            "scope": params.scope,
            "table": f"{FAMILY} {params.table}",
            "ruleset_sha256": hashlib.sha256(ruleset.encode()).hexdigest(),
            "admin_sources": params.admin_sources,
            "ssh_port": params.ssh_port,
            "ssh_client": host.facts.get("ssh_client"),
            "state_dir_on_host": state_dir,
            "commands": answer.get("commands", []),
        }
        if answer.get("error"):
            return Failed(error=str(answer["error"]), detail="network left as it was",
                          facts=facts)
        state = answer.get("state") or {}
        facts.update(handle=answer.get("handle"), rollback=state.get("rollback"))
        self._keep_record(ruleset, state)
        if answer.get("already"):
            return Done(detail=f"already cut on {self.context.host_name}: table {FAMILY} "
                               f"{params.table} (handle {answer.get('handle')})", facts=facts)
        rollback = state.get("rollback") or {}
        agent_copy = f"{state_dir}/clawback-agent.pyz"
        keep = (
            f"echo '{{\"state_dir\": \"{state_dir}\"}}' | sudo python3 {agent_copy} confirm-cut"
        )
        when = (
            f"; it is undone at {rollback.get('deadline_utc')} unless you keep it: "
            f"`clawback restore-network {self.context.incident_id} --confirm` (or, if this "
            f"machine cannot reach {self.context.host_name}, on the host: `{keep}`)"
            if rollback.get("armed") else ""
        )
        return Done(
            detail=f"network cut on {self.context.host_name} ({params.scope} scope, table "
                   f"{FAMILY} {params.table}, SSH port {params.ssh_port} open to "
                   f"{', '.join(params.admin_sources)}){when}",
            facts=facts,
        )

    def _keep_record(self, ruleset: str, state: dict[str, Any]) -> None:
        if self.context.incident_dir is None:
            return
        folder = make_private_dir(
            Path(self.context.incident_dir) / "hosts" / str(self.context.host_name)
        )
        write_private(folder / "network-cut.nft", ruleset)
        write_private(folder / "network-cut.json", json.dumps(state, indent=2, sort_keys=True))

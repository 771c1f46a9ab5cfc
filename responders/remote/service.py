"""``host.stop_service`` on a fleet host: stop the gateway through its supervisor, over SSH.

The decisions are the local action's: services come from the host's ``[[hosts.agent.services]]``
or are discovered on the host (unit files, lock files, process titles, the gateway port, each
process attributed to the supervisor it runs under); the commands for systemd, launchd, docker
and compose are exactly those ``responders.host.service.stop_commands`` builds; supervisord is
driven over its XML-RPC socket (stopped without waiting for its tick, then polled until down);
what is left gets TERM, then KILL; and the stop is proved at once (no gateway process, nothing
listening on the gateway port). ``recheck`` then asks the host's agent to watch for a respawn
beside the next steps, from the stop until the incident closes and for at least the floor
``responders.host.service.recheck_window`` sets from what proved the stop final. The agent
on the host does the process work with ``/proc``; this module turns its answer into an
outcome.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from responders.backups import backup_name, write_new_copy
from responders.host.service import (
    ServiceSpec,
    StopServiceParams,
    recheck_window,
    services_from_settings,
    services_howto,
    stop_commands,
)
from responders.interface import (
    Action,
    AgentFootprint,
    Done,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    ResponderContext,
    ResponderError,
    Skipped,
)
from responders.kit.private_files import make_private_dir
from responders.remote.session import RemoteHost, remote_host

# After the minimum window, the host is asked again in windows this long until the incident
# closes: each is one SSH round trip.
_LATER_WINDOW_S = 1.0


def _howto(footprint: AgentFootprint) -> str:
    return services_howto(footprint, "hosts.agent.services")


class RemoteStopServiceAction(Action):
    """Stop every gateway service on a fleet host, disable its restart, prove it stays down."""

    name: ClassVar[str] = "host.stop_service"
    Params: ClassVar[type[StopServiceParams]] = StopServiceParams

    def __init__(self, context: ResponderContext, params: StopServiceParams | None = None) -> None:
        super().__init__(context, params if params is not None else StopServiceParams())
        self.params: StopServiceParams
        self.agent: dict[str, Any] = dict(context.settings.get("agent") or {})
        # How the agent shows on a host: the host's agent knows only what the plan says.
        self.footprint = context.agent_footprint()
        self._found: dict[str, tuple[ServiceSpec, list[Mapping[str, Any]]]] | None = None
        self._stale: list[str] = []
        # Per target whose stop was proven: what the host's agent needs to watch for a respawn.
        self._stopped: dict[str, tuple[ServiceSpec, int, dict[str, Any], float]] = {}
        # The engine lists targets outside its error handling: a bad services entry or a host
        # that stops answering becomes this step's Failed outcome (with the advice) instead.
        self._error: ResponderError | None = None

    # -- read-only ----------------------------------------------------------------------------

    def _services(self) -> dict[str, tuple[ServiceSpec, list[Mapping[str, Any]]]]:
        if self._found is not None:
            return self._found
        configured = self.agent.get("services") or []
        found: dict[str, tuple[ServiceSpec, list[Mapping[str, Any]]]] = {}
        if configured:
            # agent_home stays None: the owner of a home on another host cannot be read here.
            for spec in services_from_settings(configured, footprint=self.footprint,
                                               agent_uid=self.agent.get("uid")):
                found[spec.target_id] = (spec, [])
        else:
            answer = remote_host(self).call("services", self._plan(), timeout=120)
            for entry in answer["services"]:
                spec = ServiceSpec(entry["kind"], entry["name"], entry.get("options") or {},
                                   entry.get("found_by", "discovered"))
                found[spec.target_id] = (spec, list(entry.get("pids") or []))
            self._stale = list(answer.get("stale_locks") or [])
        self._found = found
        return found

    def _host_target(self, service_id: str) -> str:
        return f"{self.context.host_name}/{service_id}"

    def targets(self) -> list[str]:
        try:
            services = self._services()
        except ResponderError as exc:
            self._error, services = exc, {}
        return ([self._host_target(t) for t in services]
                or [self._host_target(self.footprint.service_name)])

    def _plan(self, **extra: Any) -> dict[str, Any]:
        """What the host's agent is sent: the agent's settings and its footprint."""
        return {"agent": self.agent, "footprint": self.footprint.as_plan(), **extra}

    def _spec(self, target: str) -> tuple[ServiceSpec, list[Mapping[str, Any]]] | None:
        if self._error is not None:
            raise self._error
        _, _, service_id = target.partition("/")
        return self._services().get(service_id)

    def _commands(self, spec: ServiceSpec) -> list[dict[str, Any]]:
        host = remote_host(self)
        own_uid = 0 if host.acts_as_root else int(host.facts.get("euid", 0))
        return [
            {
                "argv": list(c.argv), "purpose": c.purpose, "required": c.required,
                "ok_exit_codes": list(c.ok_exit_codes),
                "append_previous_stdout": c.append_previous_stdout, "display": c.display(),
            }
            for c in stop_commands(spec, own_uid=own_uid, term_timeout=self.params.term_timeout)
        ]

    def plan(self, target: str) -> Planned:
        found = self._spec(target)
        if found is None:
            return Planned(action=self.name, detail=f"no gateway service found on "
                           f"{self.context.host_name}; would look again and stop what runs")
        spec, pids = found
        lines = [c["display"] for c in self._commands(spec)]
        if spec.kind == "supervisord":
            lines.append(f"supervisor.stopProcessGroup + removeProcessGroup {spec.name} over "
                         f"{spec.options.get('socket') or spec.options.get('serverurl')}")
            lines.append(f"autostart=false in [program:{spec.name.split(':')[-1]}] of that "
                         "supervisord's config file and its includes, each file backed up into "
                         "the incident first")
        if spec.kind in ("pidfile", "process") or pids:
            lines.append(f"TERM, wait {self.params.term_timeout:g}s, KILL survivors")
        lines.append("prove: no gateway process and nothing listening on the gateway port, "
                     "at once and again beside the next steps until the incident closes")
        return Planned(
            action=self.name,
            detail=f"stop {spec.kind} {spec.name} on {self.context.host_name} and keep it from "
                   "restarting",
            commands=tuple(f"{self.context.host_name}: {line}" for line in lines),
            facts={"found": spec.describe(), "pids": [p.get("pid") for p in pids]},
        )

    # -- state-changing -----------------------------------------------------------------------

    def execute(self, target: str) -> Outcome:
        host = remote_host(self)
        found = self._spec(target)
        if found is None:
            return self._nothing_found(host)
        spec, _ = found
        port = int(spec.options.get("port", self.agent.get("gateway_port")
                                    or self.footprint.gateway_port))
        answer = host.call("stop", {
            **self._plan(),
            "spec": {"kind": spec.kind, "name": spec.name, "options": dict(spec.options)},
            "commands": self._commands(spec),
            "port": port,
            "term_timeout": self.params.term_timeout,
            "kill_timeout": self.params.kill_timeout,
            # Proven at once; the respawn watch runs beside the next steps (``recheck``).
            "recheck_seconds": 0,
            "note": f"clawback incident {self.context.incident_id or '(no id)'}: kept off",
        })
        facts = dict(answer["facts"])
        if answer.get("backups"):
            persistence = dict(facts.get("persistence") or {})
            persistence["backups"] = self._keep_backups(answer["backups"])
            facts["persistence"] = persistence
        facts["found"] = spec.describe()
        if self._stale:
            facts["stale_lock_files"] = self._stale
        where = f"{spec.kind} {spec.name} on {self.context.host_name}"
        if answer.get("error"):
            return Failed(error=str(answer["error"]), detail=f"stopping {where} failed",
                          facts=facts)
        proof = facts["proof"]
        if proof["pids_after"] or proof["port_open_after"]:
            return Failed(error=respawn_advice(proof, port, self.footprint),
                          detail=f"{where} is still up", facts=facts)
        if answer.get("not_final"):
            return ManualRequired(
                instructions=f"on {self.context.host_name}: {answer['not_final']}",
                detail=f"supervisord {spec.name} on {self.context.host_name} is stopped now, "
                       "but not for good",
                facts=facts,
            )
        verb = "stopped" if proof["pids_before"] or spec.kind not in ("pidfile", "process") else (
            "found no live"
        )
        if facts.get("already_removed"):
            verb = "found already removed"
        if answer.get("watch"):
            self._stopped[target] = (spec, port, dict(answer["watch"]), time.monotonic())
        return Done(
            detail=f"{verb} {where}; no gateway process and port {port} closed; watched for a "
                   "respawn beside the next steps",
            facts=facts,
        )

    def _keep_backups(self, backups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Each config file the host's agent edited, as it was, into
        ``<incident>/backups/<host>/`` (0600, never overwritten); the facts name and hash them."""
        if self.context.incident_dir is None:
            raise ResponderError("no incident directory to keep the config backups in")
        if self.context.host_name is None:
            raise ResponderError("no fleet host name to file the config backups under")
        directory = make_private_dir(
            Path(self.context.incident_dir) / "backups" / self.context.host_name
        )
        kept = []
        for backup in backups:
            data = base64.b64decode(str(backup["data"]))
            original = str(backup["original"])
            digest = hashlib.sha256(data).hexdigest()
            if digest != backup.get("sha256"):
                raise ResponderError(
                    f"{self.context.host_name}: the backup of {original} arrived damaged"
                )
            target = write_new_copy(directory, backup_name(original), data)
            kept.append({"original": f"{self.context.host_name}:{original}",
                         "backup": str(target), "sha256": digest})
        return kept

    def recheck(self, target: str, closing: threading.Event) -> Outcome | None:
        """The host's agent watches for a respawn, in windows of a few seconds, from the stop
        until the incident closes and for at least ``recheck_window``'s floor; a respawn fails
        the stop. The floor is the short one only while supervisord's state, as each answer
        reports it, still shows the program removed."""
        stopped = self._stopped.get(target)
        if stopped is None:
            return None
        spec, port, watch, started = stopped
        where = f"{spec.kind} {spec.name} on {self.context.host_name}"
        checks = 0
        floor: tuple[float, str] | None = None
        while True:
            elapsed = time.monotonic() - started
            if floor is None:
                window = 0.0  # one look: the supervisor's state sets the floor
            elif elapsed < floor[0]:
                window = floor[0] - elapsed
            else:
                window = _LATER_WINDOW_S
            answer = remote_host(self).call("recheck", {
                **self._plan(),
                "spec": {"kind": spec.kind, "name": spec.name, "options": dict(spec.options)},
                "port": port, "watch": watch,
                "recheck_seconds": min(window, _LATER_WINDOW_S * 4),
            })
            proof = dict(answer["proof"])
            proof["rechecked_after_s"] = round(time.monotonic() - started, 3)
            checks += int(answer.get("checks") or 1)
            facts: dict[str, Any] = {"proof": proof, "checks": checks}
            if floor is not None:
                facts["window"] = {"min_s": floor[0], "reason": floor[1]}
            if proof["pids_after"] or proof["port_open_after"]:
                return Failed(error=respawn_advice(proof, port, self.footprint),
                              detail=f"{where} came back after the stop", facts=facts)
            now = self._floor(spec, proof)
            if floor is None or now[0] > floor[0]:
                floor = now
                continue
            if time.monotonic() - started >= floor[0] and closing.is_set():
                return Done(
                    detail=f"{where} stayed down: no gateway process and port {port} closed for "
                           f"{proof['rechecked_after_s']:.1f} s after the stop ({checks} checks; "
                           f"at least {floor[0]:g} s because {floor[1]})",
                    facts=facts,
                )

    def _floor(self, spec: ServiceSpec, proof: Mapping[str, Any]) -> tuple[float, str]:
        said = None
        if spec.kind == "supervisord" and proof.get("supervisor_state_after") == "removed":
            said = (f"supervisord no longer has {spec.name!r} in its running config and "
                    "nothing matching is alive")
        return recheck_window(spec.kind, said, self.params.recheck_seconds)

    def _nothing_found(self, host: RemoteHost) -> Outcome:
        answer = host.call("services", self._plan(), timeout=120)
        running = [s for s in answer["services"] if s.get("pids")]
        if running:
            names = ", ".join(f"{s['kind']} {s['name']}" for s in running)
            return Failed(
                error=f"gateway processes came up on {self.context.host_name} ({names}) after "
                      f"the services were listed; run contain again, or "
                      f"{_howto(self.footprint)}",
                facts={"services": running},
            )
        return Skipped(
            reason=f"no {self.footprint.product} gateway is running on "
                   f"{self.context.host_name} (looked for gateway units, lock files, the process "
                   f"title and the gateway port); if it runs under another name, "
                   f"{_howto(self.footprint)}",
        )


def respawn_advice(proof: Mapping[str, Any], port: int, footprint: AgentFootprint) -> str:
    parts = []
    new = sorted(set(proof["pids_after"]) - set(proof["pids_before"]))
    if new:
        parts.append(f"it came back as pid {', '.join(map(str, new))}; stop it through the "
                     f"supervisor that restarts it: {_howto(footprint)}")
    elif proof["pids_after"]:
        parts.append(f"pid {', '.join(map(str, proof['pids_after']))} survived TERM and KILL")
    if proof["port_open_after"]:
        parts.append(f"port {port} still has a listener (pid {proof['listeners_after']}); see "
                     f"`ss -ltnp 'sport = :{port}'` on the host")
    return "the gateway is not down: " + "; ".join(parts)


"""``clawback restore-network``: undo (or keep) a network cut, recorded in the incident.

The change is appended to the incident's own timeline (reopened, then closed again) so the
isolation window is on record with the rest of the response.

A fleet incident (``contain --hosts``) cut its hosts over SSH, each with an auto-rollback timer
armed on the host. Here every host whose cut the timeline records as applied is reached again
the way the fleet run reached it (same config, known_hosts and keys) and its agent keeps the
cut (``confirm-cut``) or removes it (``restore``). Each host gets an intent and a result naming
it; one host failing never stops the others.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.errors import BadInput
from clawback.recorder import Recorder, outcome_fields, outcome_summary
from responders.interface import Done, Failed, Outcome, ResponderError, Skipped

STEP = "restore-network"
CUT_ACTION = "host.cut_network"


@dataclass(frozen=True)
class NetworkChange:
    incident_dir: Path
    outcome: Outcome
    checkpoint: str


def change_network(incident_dir: Path, *, confirm: bool) -> NetworkChange:
    """``confirm``: keep the cut and disarm its auto-rollback; otherwise remove the cut."""
    from clawback.incident import IncidentLock
    from clawback.registry import load_host
    from clawback.signing import load_signing_key
    from clawback.timeline import Timeline

    action = _action(confirm)
    network = load_host()
    with IncidentLock(incident_dir):
        timeline = Timeline.resume(incident_dir, load_signing_key())
        outcome = Recorder(timeline).act(
            STEP, action, {"target": "localhost"},
            lambda: network.confirm_cut(incident_dir) if confirm else network.restore(incident_dir),
        )
        timeline.close(manifest_sha256=_manifest_sha256(incident_dir))
        checkpoint = timeline.last_checkpoint or ""
    return NetworkChange(incident_dir=incident_dir, outcome=outcome, checkpoint=checkpoint)


def _action(confirm: bool) -> str:
    return "network.confirm_cut" if confirm else "network.restore"


def _manifest_sha256(incident_dir: Path) -> str | None:
    manifest = incident_dir / "evidence" / "manifest.json"
    if not manifest.exists():
        return None
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Fleet incidents
# --------------------------------------------------------------------------------------------


def fleet_header(incident_dir: Path) -> Mapping[str, Any] | None:
    """Entry 0's ``extra`` when the incident is a fleet run (``contain --hosts``), else None."""
    from clawback.timeline import TIMELINE_FILE, read_entries

    entries = read_entries(incident_dir / TIMELINE_FILE)
    header = entries[0].extra if entries else {}
    return header if isinstance(header.get("fleet"), Mapping) else None


@dataclass(frozen=True)
class HostCut:
    """A fleet host whose ``host.cut_network`` result says the cut was applied."""

    host: str
    target: str  # the cut's own target, e.g. "edge/host:inet/clawback_isolate"
    state_dir: str  # where the agent keeps the cut's record on that host
    deadline_utc: str  # when its auto-rollback fires ("" when none was armed)


def cut_hosts(incident_dir: Path) -> dict[str, HostCut]:
    """Every host of the incident whose network cut was applied, by host name, in order."""
    from clawback.registry import load_remote
    from clawback.timeline import TIMELINE_FILE, read_entries

    entries = read_entries(incident_dir / TIMELINE_FILE)
    incident_id = str(entries[0].fields["incident"]) if entries else ""
    found: dict[str, HostCut] = {}
    for entry in entries:
        target = entry.fields.get("target") or {}
        if entry.phase != "result" or entry.action != CUT_ACTION or not target.get("host"):
            continue
        if entry.extra.get("status") != "ok":
            continue
        facts = entry.extra.get("facts") or {}
        rollback = facts.get("rollback") or {}
        name = str(target["host"])
        found[name] = HostCut(
            host=name,
            target=str(target.get("target") or name),
            state_dir=str(facts.get("state_dir_on_host") or load_remote().state_dir(incident_id)),
            deadline_utc=str(rollback.get("deadline_utc") or "") if rollback.get("armed")
            else "",
        )
    # The hosts' order in the incident, not the order their cuts happened to finish in.
    fleet = entries[0].extra.get("fleet") if entries else None
    order = [str(h.get("name")) for h in (fleet or {}).get("hosts") or []]
    ranked = sorted(found, key=lambda n: order.index(n) if n in order else len(order))
    return {name: found[name] for name in ranked}


@dataclass(frozen=True)
class HostChange:
    host: str
    outcome: Outcome

    @property
    def succeeded(self) -> bool:
        # Skipped: the host was already as asked (restored earlier, or its rollback disarmed).
        return self.outcome.succeeded or isinstance(self.outcome, Skipped)


@dataclass(frozen=True)
class FleetNetworkChange:
    incident_dir: Path
    confirm: bool
    hosts: tuple[HostChange, ...]
    notes: tuple[str, ...]
    checkpoint: str

    @property
    def succeeded(self) -> bool:
        return all(change.succeeded for change in self.hosts)


@dataclass
class _FleetRestore:
    incident_dir: Path
    confirm: bool
    cuts: list[HostCut]
    plan: Any  # clawback.fleet.FleetPlan
    members: dict[str, Any]  # cut host name -> its clawback.config.Host
    config: Any  # clawback.config.Config
    config_path: Path
    config_sha256: str
    notes: list[str] = field(default_factory=list)


def _select_cuts(incident_dir: Path, hosts: str | None) -> list[HostCut]:
    cuts = cut_hosts(incident_dir)
    if not cuts:
        raise BadInput(f"incident {incident_dir.name} records no applied network cut on any "
                       "fleet host: there is nothing to keep or restore")
    if hosts is None:
        return list(cuts.values())
    names = [item.strip() for item in hosts.split(",") if item.strip()]
    if not names:
        raise BadInput("--hosts names no host: give the names of hosts whose network was cut")
    for name in names:
        if name not in cuts:
            close = difflib.get_close_matches(name, list(cuts), n=1)
            raise BadInput(
                f"--hosts: the network of {name!r} was never cut in incident "
                f"{incident_dir.name}" + (f". Did you mean {close[0]!r}?" if close else "")
                + f" Hosts that were cut: {', '.join(cuts)}"
            )
    return [cuts[name] for name in dict.fromkeys(names)]


def _prepare_fleet(
    incident_dir: Path, header: Mapping[str, Any], *, confirm: bool, hosts: str | None,
    config: Path | None,
) -> _FleetRestore:
    """Every input check, before the timeline is touched: BadInput (exit 2) on any problem."""
    from clawback.config import load_config
    from clawback.fleet import plan_fleet
    from clawback.registry import load_registry
    from clawback.secret_store import KeyringSecretStore

    cuts = _select_cuts(incident_dir, hosts)
    recorded = header.get("config") or {}
    config_path = config or (Path(recorded["path"]) if recorded.get("path") else None)
    if config_path is None:
        raise BadInput(f"incident {incident_dir.name} records no config file: give the "
                       "clawback.toml that names its hosts with --config")
    if not config_path.is_file():
        raise BadInput(f"no config file at {config_path} (the one "
                       f"{'--config names' if config else 'the incident was run with'}): "
                       "give the clawback.toml that names the hosts with --config")
    notes: list[str] = []
    sha = hashlib.sha256(config_path.read_bytes()).hexdigest()
    if recorded.get("sha256") and sha != recorded["sha256"]:
        notes.append(f"{config_path} has changed since the incident was run (sha256 "
                     f"{sha[:12]}…, was {str(recorded['sha256'])[:12]}…); its hosts, keys and "
                     "known_hosts are used as they are now")
    loaded = load_config(config_path, known_providers=set(load_registry().names))
    # Hosts given ad hoc (user@address:port) are not in the config: reach them as recorded.
    recorded_ssh = {str(h.get("name")): str(h.get("ssh"))
                    for h in (header.get("fleet") or {}).get("hosts") or []}
    in_config = {h.name: h for h in loaded.hosts}
    selection = []
    for cut in cuts:
        if cut.host in in_config:
            selection.append(cut.host)
            if cut.host in recorded_ssh and in_config[cut.host].ssh != recorded_ssh[cut.host]:
                notes.append(f"{cut.host} is now reached at {in_config[cut.host].ssh} "
                             f"(the incident reached it at {recorded_ssh[cut.host]})")
        elif cut.host in recorded_ssh:
            selection.append(recorded_ssh[cut.host])
        else:
            raise BadInput(f"{cut.host} is not in [[hosts]] of {config_path} and the incident "
                           "does not record how it was reached: add it to [[hosts]]",
                           path=config_path)
    plan = plan_fleet(loaded, config_path, KeyringSecretStore(), ",".join(selection))
    if len(plan.hosts) != len(cuts):
        raise BadInput(f"two cut hosts resolve to one SSH target in {config_path}: restore "
                       "them one at a time with --hosts", path=config_path)
    # In selection order; an ad hoc target's name is derived from it, the timeline's is kept.
    members = {cut.host: host for cut, host in zip(cuts, plan.hosts, strict=True)}
    return _FleetRestore(incident_dir=incident_dir, confirm=confirm, cuts=cuts, plan=plan,
                         members=members, config=loaded, config_path=config_path,
                         config_sha256=sha, notes=notes)


def _agent_outcome(answer: Mapping[str, Any], cut: HostCut, incident: str, *,
                   confirm: bool) -> Outcome:
    """The agent's ``confirm-cut`` / ``restore`` answer as an outcome."""
    facts = {k: v for k, v in answer.items() if k not in ("error", "skipped")}
    facts["state_dir_on_host"] = cut.state_dir
    if answer.get("error"):
        return Failed(error=str(answer["error"]), facts=facts)
    skipped = str(answer.get("skipped") or "")
    if skipped.startswith("no network cut is recorded"):
        return Failed(
            error=f"the timeline says the network of {cut.host} was cut, but {cut.state_dir} "
                  "on it holds no record of that cut: check `nft list tables` on the host "
                  "and delete the isolation table by hand if it is there",
            facts=facts,
        )
    if skipped:
        return Skipped(reason=skipped, facts=facts)
    if confirm:
        return Done(detail=f"auto-rollback on {cut.host} disarmed; the cut stays. Undo it "
                           f"later with `clawback restore-network {incident} --hosts "
                           f"{cut.host}`", facts=facts)
    return Done(detail=f"network of {cut.host} restored: {answer.get('restored')}",
                facts=facts)


def _on_host_fallback(cut: HostCut, *, confirm: bool) -> str:
    command = "confirm-cut" if confirm else "restore"
    return (f"echo '{{\"state_dir\": \"{cut.state_dir}\"}}' | sudo python3 "
            f"{cut.state_dir}/clawback-agent.pyz {command}")


def _failure_advice(cut: HostCut, incident: str, *, confirm: bool) -> str:
    retry = (f"`clawback restore-network {incident}{' --confirm' if confirm else ''} --hosts "
             f"{cut.host}`")
    if confirm:
        when = f" at {cut.deadline_utc}" if cut.deadline_utc else ""
        state = f"the auto-rollback on {cut.host} is still armed and undoes the cut{when}"
    else:
        state = f"the network of {cut.host} is still cut" + (
            f" until its auto-rollback at {cut.deadline_utc}" if cut.deadline_utc else "")
    return (f"{state}: retry with {retry} from an address in admin_sources, or on the host's "
            f"console: `{_on_host_fallback(cut, confirm=confirm)}`")


def _change_host(run: _FleetRestore, cut: HostCut) -> Outcome:
    from clawback.registry import load_remote

    host = run.members[cut.host]
    hosts = load_remote()
    target = hosts.target_label(host.ssh)
    advice = _failure_advice(cut, run.incident_dir.name, confirm=run.confirm)
    remote = hosts.connect(
        cut.host, host.ssh, known_hosts=run.plan.known_hosts,
        private_key=run.plan.keys.get(host.name), sudo=host.sudo, python=host.python,
        connect_timeout=run.config.fleet.connect_timeout_seconds, if_unreachable=advice,
    )
    command = "confirm-cut" if run.confirm else "restore"
    params: dict[str, Any] = {"state_dir": cut.state_dir}
    if not run.confirm:
        params["restored_by"] = "restore-network"
    not_done = f"{cut.host} not {'kept' if run.confirm else 'restored'}"
    try:
        remote.open()
    except ResponderError as exc:  # its advice already ends with ours (if_unreachable)
        remote.close()
        return Failed(error=str(exc), detail=not_done, facts={"ssh": str(target)})
    try:
        answer = remote.call(command, params, timeout=120)
    except Exception as exc:  # this host's failure only, named
        outcome: Outcome = Failed(error=f"{cut.host}: {exc}" if isinstance(exc, ResponderError)
                                  else f"{cut.host}: {type(exc).__name__}: {exc}",
                                  facts={"ssh": str(target)})
    else:
        outcome = _agent_outcome(answer, cut, run.incident_dir.name, confirm=run.confirm)
    finally:
        remote.close()
    if isinstance(outcome, Failed):
        return Failed(error=f"{outcome.error.rstrip('.')}; {advice}", detail=not_done,
                      facts=outcome.facts)
    return outcome


def change_fleet_network(
    incident_dir: Path,
    *,
    confirm: bool,
    hosts: str | None = None,
    config: Path | None = None,
    on_note: Callable[[str], None] | None = None,
    on_host: Callable[[HostChange], None] | None = None,
) -> FleetNetworkChange:
    """Keep (``confirm``) or undo the cut on every cut host of a fleet incident (``hosts``:
    comma-separated names, a subset), in parallel; ``on_host`` hears each host as it ends."""
    from clawback.incident import IncidentLock
    from clawback.signing import load_signing_key
    from clawback.timeline import Timeline

    header = fleet_header(incident_dir)
    if header is None:
        raise BadInput(f"incident {incident_dir.name} is not a fleet incident (contain "
                       "--hosts): --hosts and --config apply only to those")
    run = _prepare_fleet(incident_dir, header, confirm=confirm, hosts=hosts, config=config)
    for note in run.notes:
        if on_note is not None:
            on_note(note)
    action = _action(confirm)
    changes: dict[str, HostChange] = {}
    report_lock = threading.Lock()
    with IncidentLock(incident_dir):
        timeline = Timeline.resume(incident_dir, load_signing_key())
        recorder = Recorder(timeline)
        recorder.event(
            STEP, "fleet.restore_network",
            detail=f"{'keeping' if confirm else 'undoing'} the network cut on "
                   f"{len(run.cuts)} host(s)",
            extra={"hosts": [c.host for c in run.cuts], "notes": run.notes,
                   "config": {"path": str(run.config_path), "sha256": run.config_sha256}},
        )

        def change(cut: HostCut) -> None:
            outcome = recorder.act(STEP, action, {"target": cut.target, "host": cut.host},
                                   lambda: _change_host(run, cut))
            with report_lock:
                changes[cut.host] = HostChange(cut.host, outcome)
                if on_host is not None:
                    on_host(changes[cut.host])

        workers = min(len(run.cuts), run.config.fleet.max_parallel)
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="clawback-restore") as pool:
            for future in [pool.submit(change, cut) for cut in run.cuts]:
                future.result()
        timeline.close(manifest_sha256=_manifest_sha256(incident_dir))
        checkpoint = timeline.last_checkpoint or ""
    return FleetNetworkChange(
        incident_dir=incident_dir, confirm=confirm,
        hosts=tuple(changes[c.host] for c in run.cuts), notes=tuple(run.notes),
        checkpoint=checkpoint,
    )


def host_documents(changes: Sequence[HostChange]) -> list[dict[str, Any]]:
    """The per-host part of ``restore-network --json`` (no secret: none is involved)."""
    return [{"host": c.host, "outcome": c.outcome.name, "ok": c.succeeded,
             "summary": outcome_summary(c.outcome), **outcome_fields(c.outcome)}
            for c in changes]

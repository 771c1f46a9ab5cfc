"""``clawback contain --hosts``: one incident over many agent hosts, over SSH with Fabric.

Hosts come from ``[[hosts]]`` in clawback.toml, picked by name, by group (``@agents``; ``@all``
is every host) or given ad hoc as ``user@address:port``. The playbook is the normal one, run
in phases:

* a run of host steps (``host.snapshot``, ``host.stop_service``, ``host.cut_network``...) runs
  on every host at once, in a bounded pool (``[fleet] max_parallel``), each host through its
  own ``Runner`` whose actions are the SSH variants in ``responders.remote``;
* before the first key step, every host's secrets are discovered there (right after that
  host's own steps, so the agent is already stopped), merged (the same secret on two hosts is
  one credential with both hosts' locations) and handed to one central ``Runner``, which
  revokes each of them once;
* key steps run once, centrally, as in a single-host run.

Every Runner writes to the same signed timeline, and every entry a host's Runner writes names
that host. One host's failure (unreachable, refused host key, a step that fails) never stops
the others: it is recorded with advice, and the run ends with exit 3. A dry run connects and
plans but changes nothing on any host beyond a temporary upload it removes again.

Fleet incidents cannot be resumed (``--resume``): a new ``contain --hosts`` run is the retry.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import io
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.errors import BadInput
from clawback.recorder import Recorder
from clawback.registry import Registry
from clawback.runner import (
    KEYS_REVOKE_ALL,
    KEYS_ROTATE_ALL,
    Reporter,
    Runner,
    RunOptions,
    RunResult,
    SilentReporter,
    TargetResult,
    operator_identity,
)
from responders.interface import Action, Credential, Done, Failed, ResponderError

CENTRAL_STEPS = (KEYS_REVOKE_ALL, KEYS_ROTATE_ALL)
CONNECT_STEP = "connect"
DISCOVER_STEP = "discover"


# --------------------------------------------------------------------------------------------
# Which hosts
# --------------------------------------------------------------------------------------------


def select_hosts(config: Any, selection: str, config_path: Path | None) -> list[Any]:
    """The ``[[hosts]]`` entries ``--hosts`` names, in order, each once; BadInput otherwise."""
    from pydantic import ValidationError

    from clawback.config import Host

    items = [item.strip() for item in selection.split(",") if item.strip()]
    if not items:
        raise BadInput("--hosts names no host: give names, @group or user@address:port")
    by_name = {host.name: host for host in config.hosts}
    groups = sorted({g for host in config.hosts for g in host.groups})
    chosen: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            group = item[1:]
            members = [h for h in config.hosts if group == "all" or group in h.groups]
            if not members:
                known = ", ".join(f"@{g}" for g in groups) or "none: add groups = [...] to hosts"
                raise BadInput(f"no [[hosts]] entry is in group {group!r}; groups: {known}",
                               path=config_path)
            for host in members:
                chosen.setdefault(host.name, host)
        elif item in by_name:
            chosen.setdefault(item, by_name[item])
        elif "@" in item:
            name = item.split("@", 1)[1].replace("[", "").replace("]", "").replace(":", "-")
            try:
                chosen.setdefault(name, Host.model_validate({"name": name, "ssh": item}))
            except ValidationError as exc:
                # The name is derived from the target: a bad target explains both.
                errors = [e for e in exc.errors() if e["loc"] == ("ssh",)] or exc.errors()
                problem = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in errors)
                raise BadInput(f"--hosts {item!r}: {problem}") from None
        else:
            close = difflib.get_close_matches(item, list(by_name), n=1)
            raise BadInput(
                f"--hosts: no host {item!r} in [[hosts]]"
                + (f". Did you mean {close[0]!r}?" if close else "")
                + f" Known hosts: {', '.join(by_name) or 'none'}"
                + (f"; groups: {', '.join('@' + g for g in groups)}" if groups else ""),
                path=config_path,
            )
    return list(chosen.values())


def host_settings(config: Any, host: Any) -> dict[str, Any]:
    """``context.settings`` for a fleet host: its own ``[hosts.agent]`` (the top-level
    ``[agent]`` describes this machine), the shared ``[evidence]`` and ``[network]``."""
    settings = config.settings()
    agent = host.agent.model_dump(mode="json", exclude_none=True)
    if "services" in agent:
        agent["services"] = [
            {k: v for k, v in s.items() if v is not None} for s in agent["services"]
        ]
    settings["agent"] = agent
    settings["host"] = {"name": host.name, "ssh": host.ssh, "sudo": host.sudo}
    return settings


def load_private_key(text: str, where: str) -> Any:
    """A paramiko key from the PEM/OpenSSH text kept in keyring (unencrypted)."""
    import paramiko

    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        with contextlib.suppress(paramiko.SSHException, ValueError, TypeError):
            return cls.from_private_key(io.StringIO(text))
    raise BadInput(
        f"{where} is not an unencrypted OpenSSH private key (ed25519, ecdsa or rsa); store the "
        "key file's text with `keyring set SERVICE USER < key`, or use identity = \"agent\" "
        "with a passphrase-protected key loaded by ssh-add"
    )


@dataclass
class FleetPlan:
    """What ``prepare_fleet`` checked: hosts, their keys and settings, nothing connected yet."""

    hosts: list[Any]
    keys: dict[str, Any]  # host name -> paramiko key (absent: the SSH agent)
    known_hosts: Path
    selection: str


def prepare_fleet(prepared: Any, selection: str) -> FleetPlan:
    """Every input check of a fleet run; BadInput (exit 2) before anything is touched."""
    if prepared.request.resume:
        raise BadInput("a fleet incident cannot be resumed: run `clawback contain --hosts ...` "
                       "again (a new incident); single hosts resume as usual")
    return plan_fleet(prepared.config, prepared.config_path, prepared.store, selection)


def plan_fleet(config: Any, config_path: Path | None, store: Any, selection: str) -> FleetPlan:
    """The hosts ``selection`` names, their SSH keys (resolved through ``store``) and the
    known_hosts file; BadInput naming the config line when any of it is missing."""
    hosts = select_hosts(config, selection, config_path)
    keys: dict[str, Any] = {}
    for host in hosts:
        if host.identity == "agent":
            continue
        where = f"[[hosts]] {host.name} identity ({host.identity})"
        try:
            text = store.resolve(host.identity).reveal()
        except ResponderError as exc:
            index = next((i for i, h in enumerate(config.hosts) if h is host), None)
            line = None if index is None else config.line_of("hosts", index, "identity")
            raise BadInput(f"{where}: {exc}", path=config_path, line=line) from None
        keys[host.name] = load_private_key(text, where)
    known_hosts = Path(config.fleet.known_hosts)
    if not known_hosts.is_file():
        raise BadInput(
            f"no known_hosts file at {known_hosts}: clawback checks every host's key and trusts "
            "none on first use. Collect them once, checking each fingerprint on the host's "
            "console (`ssh-keyscan -p PORT ADDRESS >> known_hosts`), or point [fleet] "
            "known_hosts at your file",
            path=config_path,
        )
    return FleetPlan(hosts=hosts, keys=keys, known_hosts=known_hosts, selection=selection)


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    central: bool
    step_ids: tuple[str, ...]


def phases_of(loaded: Any) -> list[Phase]:
    """Consecutive host steps form one parallel phase; each key step is a central phase."""
    phases: list[Phase] = []
    for step in loaded.playbook.steps:
        central = step.uses in CENTRAL_STEPS
        if phases and not central and not phases[-1].central:
            phases[-1] = Phase(False, (*phases[-1].step_ids, step.id))
        else:
            phases.append(Phase(central, (step.id,)))
    return phases


# --------------------------------------------------------------------------------------------
# Reporting: one line per step, not one per host
# --------------------------------------------------------------------------------------------


class _FleetReporter:
    """Shared by the host Runners: a step is announced once; checkpoints come from the fleet."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self._announced: set[str] = set()
        self._lock = threading.Lock()

    def _first(self, key: str) -> bool:
        with self._lock:
            if key in self._announced:
                return False
            self._announced.add(key)
            return True

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        if self._first(f"start {step_id}"):
            self.inner.step_started(step_id, uses, f"{description} (every host)".strip())

    def step_skipped(self, step_id: str, reason: str) -> None:
        if self._first(f"skip {step_id}"):
            self.inner.step_skipped(step_id, reason)

    def target_finished(self, result: TargetResult) -> None:
        self.inner.target_finished(result)

    def checkpoint(self, text: str, *, urgent: bool = False) -> None:
        pass

    def note(self, message: str) -> None:
        if self._first(f"note {message}"):
            self.inner.note(message)

    def warn(self, message: str) -> None:
        if self._first(f"warn {message}"):
            self.inner.warn(message)

    def action_issued(self) -> None:
        self.inner.action_issued()


class _AskOnce:
    """One approval question per step for the whole fleet, not one per host."""

    def __init__(self, ask: Callable[[str], bool] | None) -> None:
        self._ask = ask
        self._answers: dict[str, bool] = {}
        self._lock = threading.Lock()

    def __call__(self, question: str) -> bool:
        with self._lock:
            if question not in self._answers:
                self._answers[question] = bool(self._ask and self._ask(question))
            return self._answers[question]


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class _Member:
    config: Any  # clawback.config.Host
    settings: dict[str, Any]
    remote: Any = None  # a RemoteSession (responders.interface) once connected
    runner: Runner | None = None
    credentials: list[Credential] = field(default_factory=list)
    discovered: bool = False
    results: list[TargetResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config.name)


class _OverSsh(Registry):
    """What a fleet host's Runner sees: every action a playbook names, as run over SSH."""

    def __init__(self, local: Registry) -> None:
        super().__init__({})
        self._local = local

    def action(self, uses: str) -> type[Action] | None:
        from clawback.registry import load_remote

        return load_remote().over_ssh(uses) if self._local.action(uses) is not None else None


def _shared_manifest(incident_id: str) -> Any:
    from clawback.evidence import Manifest

    @dataclass
    class SharedManifest(Manifest):
        """The incident's one manifest; every host's Runner adds its archives at once."""

        _lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                      compare=False)

        def add(self, step: str, collected: Any) -> Any:
            with self._lock:
                return super().add(step, collected)

    return SharedManifest(incident_id=incident_id)


class FleetRun:
    """One ``contain --hosts`` run; ``run()`` returns the same RunResult a single host's does."""

    def __init__(self, prepared: Any, plan: FleetPlan, reporter: Reporter | None) -> None:
        self.prepared = prepared
        self.plan = plan
        self.request = prepared.request
        self.reporter: Reporter = reporter or SilentReporter()
        self.host_reporter = _FleetReporter(self.reporter)
        self.phases = phases_of(prepared.loaded)
        self.members = [
            _Member(config=host, settings=host_settings(prepared.config, host))
            for host in plan.hosts
        ]
        self.pool_size = min(len(self.members), prepared.config.fleet.max_parallel) or 1
        self.timeline: Any = None
        self.manifest: Any = None
        self.incident_id = "dry-run"
        self.incident_dir: Path | None = None
        self.merged: list[Credential] = []
        self.options = RunOptions(
            dry_run=self.request.dry_run,
            yes=self.request.yes,
            cut_network=self.request.cut_network,
            interactive=self.request.interactive,
            approver=_AskOnce(self.request.approver),
        )

    # -- registries ---------------------------------------------------------------------------

    def _central_registry(self) -> Registry:
        """Key responders that act on local files are replaced by per-host manual steps."""
        from clawback.registry import load_remote

        keep, replaced, providers = {}, [], set()
        for name, cls in self.prepared.registry.responders.items():
            if cls.providers and not cls.needs_config and not cls.fallback:
                replaced.append(name)
                providers |= set(cls.providers)
            else:
                keep[name] = cls
        if providers:
            stand_in = load_remote().on_host_responder(frozenset(providers), replaced)
            keep[stand_in.name] = stand_in
        return Registry({}, keep)

    # -- recording ----------------------------------------------------------------------------

    def _record(self, member: _Member, result: TargetResult) -> None:
        """A result no Runner produced (connecting, discovery): timeline, reporter, list."""
        Recorder(self.timeline, host_name=member.name).result(
            result.step, result.action, result.outcome,
            target={"target": result.target, **result.target_info},
        )
        member.results.append(result)
        self.reporter.target_finished(result)

    def _checkpoint(self, *, urgent: bool = False) -> None:
        if self.timeline is not None:
            self.reporter.checkpoint(self.timeline.checkpoint(), urgent=urgent)

    # -- per host -----------------------------------------------------------------------------

    def _connect(self, member: _Member) -> None:
        from clawback.registry import load_remote

        hosts = load_remote()
        target = hosts.target_label(member.config.ssh)
        remote = hosts.connect(
            member.name, member.config.ssh, known_hosts=self.plan.known_hosts,
            private_key=self.plan.keys.get(member.name), sudo=member.config.sudo,
            python=member.config.python,
            connect_timeout=self.prepared.config.fleet.connect_timeout_seconds,
        )
        try:
            facts = remote.open()
        except Exception as exc:  # HostUnreachable carries advice; anything else is named
            remote.close()
            if not isinstance(exc, ResponderError):
                exc = ResponderError(f"preparing {member.name} failed ({type(exc).__name__}: "
                                      f"{exc}); it was not contained by this run")
            self._record(member, TargetResult(
                CONNECT_STEP, "fleet.connect", member.name,
                Failed(error=str(exc), detail=f"{member.name} was not contained by this run"),
                {"ssh": str(target)},
            ))
            return
        member.remote = remote
        self._record(member, TargetResult(
            CONNECT_STEP, "fleet.connect", member.name,
            Done(detail=f"connected to {facts.get('hostname')} as {facts.get('user')}; host "
                        f"key matched {self.plan.known_hosts}",
                 facts=remote.describe()),
            {"ssh": str(target)},
        ))
        member.runner = Runner(
            registry=_OverSsh(self.prepared.registry),
            playbook=self.prepared.loaded,
            settings=member.settings,
            provider_config=self.prepared.config.provider,
            credentials=[],
            secrets=self.prepared.store,
            options=self.options,
            reporter=self.host_reporter,
            timeline=self.timeline,
            manifest=self.manifest,
            incident_id=self.incident_id,
            incident_dir=self.incident_dir,
            configured_providers=set(self.prepared.config.providers),
            host=remote,
            host_name=member.name,
        )

    def _discover(self, member: _Member) -> None:
        from clawback.registry import load_remote

        member.discovered = True
        settings = member.settings.get("agent") or {}
        try:
            answer = member.remote.call("discover", {
                "user_home": settings.get("user_home"),
                "state_dirs": settings.get("state_dirs"),
                "tmp_dirs": settings.get("tmp_dirs"),
            }, timeout=600)
        except ResponderError as exc:
            self._record(member, TargetResult(
                DISCOVER_STEP, "discover", member.name,
                Failed(error=f"{exc}; this host's keys are not revoked by this run: run "
                             f"`clawback discover` on {member.name} and revoke them there"),
            ))
            return
        member.credentials = load_remote().host_credentials(member.name, answer)
        Recorder(self.timeline, host_name=member.name).event(
            DISCOVER_STEP, "discover",
            detail=f"{len(member.credentials)} secret(s) the agent on {member.name} could reach",
            extra={"providers": sorted({c.provider for c in member.credentials}),
                   "notes": list(answer.get("notes") or []),
                   "stood_in": list(answer.get("stood_in") or [])},
        )

    def _run_host_phase(self, member: _Member, *, phase: Phase, discover_after: bool) -> None:
        self._host_phase(member, phase, discover_after)

    def _host_phase(self, member: _Member, phase: Phase, discover_after: bool) -> None:
        if member.runner is None:
            return
        try:
            member.results.extend(member.runner.run_steps(phase.step_ids))
        finally:
            # Keys must be found even where a step broke: they are revoked centrally.
            if discover_after and not member.discovered:
                self._discover(member)

    def _each(self, work: Callable[[_Member], None], members: Sequence[_Member],
              step: str) -> None:
        """``work`` on every member at once (bounded); a crash is that host's failure only."""

        def guarded(member: _Member) -> None:
            try:
                work(member)
            except Exception as exc:
                self._record(member, TargetResult(
                    step, "fleet.host", member.name,
                    Failed(error=f"{type(exc).__name__}: {exc}",
                           detail=f"{step} stopped on {member.name}; the other hosts went on"),
                ))

        if not members:
            return
        with ThreadPoolExecutor(max_workers=self.pool_size,
                                thread_name_prefix="clawback-fleet") as pool:
            for future in [pool.submit(guarded, m) for m in members]:
                future.result()

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.request.dry_run:
            return self._run()
        from clawback.incident import (
            IncidentLock,
            create_incident_dir,
            incidents_root,
            new_incident_id,
        )
        from clawback.signing import load_signing_key
        from clawback.timeline import Timeline

        signer = load_signing_key()
        self.incident_id = new_incident_id()
        self.incident_dir = create_incident_dir(incidents_root(self.request.incidents_dir),
                                                self.incident_id)
        with IncidentLock(self.incident_dir):
            self.timeline = Timeline.create(self.incident_dir, self.incident_id, signer,
                                            header=self._header())
            self.manifest = _shared_manifest(self.incident_id)
            return self._run()

    def _run(self) -> RunResult:
        central = Runner(
            registry=self._central_registry(),
            playbook=self.prepared.loaded,
            settings=self.prepared.settings,
            provider_config=self.prepared.config.provider,
            credentials=lambda: self.merged,
            secrets=self.prepared.store,
            options=self.options,
            reporter=self.reporter,
            timeline=self.timeline,
            manifest=self.manifest,
            incident_id=self.incident_id,
            incident_dir=self.incident_dir,
            configured_providers=set(self.prepared.config.providers),
        )
        try:
            self.reporter.note(f"connecting to {len(self.members)} host(s), "
                               f"{self.pool_size} at a time")
            self._each(self._connect, self.members, CONNECT_STEP)
            self._checkpoint()
            first_central = next((i for i, p in enumerate(self.phases) if p.central), None)
            for index, phase in enumerate(self.phases):
                live = [m for m in self.members if m.runner is not None]
                if phase.central:
                    self._each(self._discover, [m for m in live if not m.discovered],
                               DISCOVER_STEP)
                    self._merge(central)
                    central.run_steps(phase.step_ids)
                    continue
                if self._cuts_network(phase):
                    self._checkpoint(urgent=True)
                discover_after = first_central is not None and index + 1 == first_central
                self._each(functools.partial(self._run_host_phase, phase=phase,
                                             discover_after=discover_after),
                           live, phase.step_ids[0])
                self._checkpoint()
        finally:
            # Each host's re-checks (the stop stays proven) go over its SSH session.
            self._each(_settle_rechecks, [m for m in self.members if m.runner is not None],
                       "recheck")
            self._each(lambda m: m.remote.close(),
                       [m for m in self.members if m.remote is not None], "disconnect")
        return central.finish([r for m in self.members for r in m.results])

    def _merge(self, central: Runner) -> None:
        from clawback.registry import load_remote

        self.merged, notes = load_remote().merge(m.credentials for m in self.members)
        for cred in self.merged:
            if cred.secret is None:
                continue
            for member in self.members:
                if member.runner is not None:
                    member.runner.redactor.add(cred.secret)
        if notes:
            Recorder(self.timeline, central.redactor).event(
                DISCOVER_STEP, "discover.merge", detail="; ".join(notes))

    def _cuts_network(self, phase: Phase) -> bool:
        steps = {s.id: s for s in self.prepared.loaded.playbook.steps}
        return any(
            getattr(self.prepared.registry.action(steps[i].uses), "checkpoint_before", False)
            for i in phase.step_ids
        )

    def _header(self) -> dict[str, Any]:
        from clawback.registry import load_remote

        config_path = self.prepared.config_path
        config_sha = hashlib.sha256(Path(config_path).read_bytes()).hexdigest() if (
            config_path is not None
        ) else None
        return {
            "operator": operator_identity(),
            "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
            "playbook": {"path": str(self.prepared.loaded.path),
                         "sha256": self.prepared.loaded.sha256},
            "config": {"path": str(config_path) if config_path else None, "sha256": config_sha},
            "fleet": {
                "selection": self.plan.selection,
                "hosts": [{"name": m.name, "ssh": m.config.ssh, "sudo": m.config.sudo,
                           "groups": list(m.config.groups)} for m in self.members],
                "known_hosts": str(self.plan.known_hosts),
                "agent_sha256": load_remote().agent_sha256(),
                "max_parallel": self.pool_size,
            },
        }


def run_fleet(prepared: Any, reporter: Reporter | None = None, *, hosts: str) -> RunResult:
    """Contain every host ``hosts`` selects (``prepared`` is clawback.contain.prepare's)."""
    plan = prepare_fleet(prepared, hosts)
    return FleetRun(prepared, plan, reporter).run()


def _settle_rechecks(member: _Member) -> None:
    """A host's re-checks (the stop stays proven), over its SSH session."""
    if member.runner is not None:
        member.results.extend(member.runner.settle_rechecks())

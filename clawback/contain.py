"""Run a playbook as an incident: the library behind ``clawback contain`` and ``clawback demo``.

Everything that can be wrong with the input is checked in ``prepare`` before anything is
created or changed: a bad playbook, config, provider name or malformed credential reference
exits 2 with no incident directory and no action taken.

What is wrong with the *credentials* does not stop the panic button (degraded mode): a
reference that does not resolve (an unset variable, a missing keyring entry, no keyring at all)
makes that provider's keys manual steps that say why, and a keyring that cannot keep the
signing key makes the incident sign with a key of its own, kept in its directory, with a loud
warning. The agent is still stopped and the evidence sealed; the run ends with exit 3. A dry
run and ``drill --preflight`` find the same problems and predict the same exit code.

Once the run is over (agent stopped, keys revoked, evidence sealed, timeline closed), the
incident is investigated from its sealed evidence (``clawback.investigate.after``), off the
panic path. Its findings are sealed into the incident; its failure is a warning, and never
changes what contain did or its exit code.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawback.errors import BadInput
from clawback.registry import Registry, load_registry
from clawback.runner import (
    KEYS_REVOKE_ALL,
    KEYS_ROTATE_ALL,
    WHEN_VARIABLES,
    Approver,
    Reporter,
    Runner,
    RunOptions,
    RunResult,
    SilentReporter,
    TargetResult,
    known_actions,
    operator_identity,
)
from clawback.secret_store import KeyringSecretStore, is_reference, parse_reference
from clawback.signing import INCIDENT_KEY_FILE
from responders.interface import Credential, ManualRequired, Responder, ResponderError

if TYPE_CHECKING:
    from clawback.checked_inputs import CheckedConfig, LoadedPlaybook
    from clawback.config import Config
    from responders.interface import AgentInventory


def packaged_playbook(name: str) -> Path:
    """The playbook shipped as ``clawback.playbooks`` (a directory in a checkout or a wheel).
    Located by its package's spec: importlib.resources costs the panic path ~4 ms."""
    from importlib.util import find_spec

    spec = find_spec("clawback.playbooks")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput("the packaged playbooks are missing: reinstall clawback")
    return Path(next(iter(spec.submodule_search_locations))) / f"{name}.yaml"


@dataclass
class ContainRequest:
    playbook: Path | None = None
    config: Path | None = None
    dry_run: bool = False
    yes: bool = False
    cut_network: bool = False
    resume: str | None = None
    confirm_manual: bool = False
    secret_prompt: Callable[[str], str] | None = None
    incidents_dir: Path | None = None
    interactive: bool = False
    approver: Approver | None = None
    extra_responders: Sequence[type[Responder]] = ()
    playbook_name: str = "contain"
    # clawback drill: each new key is written where the agent reads the old one before the
    # old one is retired (clawback.drill's stores, passed to the Runner as store_for).
    switch_agent: bool = False
    # The agent user's home, over [agent] user_home (contain --home).
    home: Path | None = None
    # Degraded mode (see the module docstring); the drill, which is no emergency, refuses
    # instead (exit 2, nothing done).
    degrade: bool = True


@dataclass
class Prepared:
    request: ContainRequest
    registry: Registry
    # What the panic path reads of the validated config; ``config`` is all of it.
    inputs: CheckedConfig
    config_path: Path | None
    loaded: LoadedPlaybook
    settings: dict[str, Any]
    store: KeyringSecretStore
    _inventory: AgentInventory | None = None
    _full_inventory: AgentInventory | None = None
    notes: list[str] = field(default_factory=list)
    # Responder name -> why its admin credential cannot be used (degraded mode).
    unusable: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        """The whole validated config (built now if it was checked in an earlier run)."""
        return self.inputs.model()

    @property
    def inventory(self) -> Any:
        """Discovery runs on first use: after the agent is stopped, not before. It reads
        configs, dotenv files, auth stores, units and ~/.aws (not free text), within its budget:
        the first revocations wait for this much only."""
        if self._inventory is None:
            self._inventory = _discover(self.settings, free_text=False,
                                        budget_seconds=DISCOVERY_BUDGET_S)
        return self._inventory

    def full_inventory(self) -> Any:
        """All of discovery, logs and transcripts included, within its budget (preflight)."""
        if self._full_inventory is None:
            self._full_inventory = _discover(self.settings, free_text=True,
                                             budget_seconds=FULL_DISCOVERY_BUDGET_S)
        return self._full_inventory

    def free_text_inventory(self) -> Any:
        """The logs, transcripts and histories the first pass left out, within their budget:
        the secrets there it did not find (the keys step's second round)."""
        from clawback.registry import load_agent

        return load_agent().discover_deferred(self.inventory, self.settings.get("agent", {}),
                                              budget_seconds=FREE_TEXT_BUDGET_S)

    def credentials(self) -> list[Credential]:
        return list(self.inventory.credentials)


def prepare(request: ContainRequest) -> Prepared:
    """Validate everything; create and change nothing.

    A config and playbook that passed every check before, unchanged, checked by the same code
    in the same environment, are not validated again (``clawback.checked_inputs``): pydantic,
    PyYAML and the responders' modules then wait until after the stop. The files' owner and
    mode and every credential reference are checked on every run."""
    from clawback.checked_inputs import CheckedInputs, inputs_digest
    from clawback.config_file import find_config
    from clawback.trusted_files import read_trusted_file

    registry = load_registry(request.extra_responders)
    providers = set(registry.names)  # by entry point: no responder module is imported yet
    config_path = find_config(request.config)
    config_raw = read_trusted_file(config_path, what="config") if config_path else None
    playbook_path = Path(request.playbook or packaged_playbook(request.playbook_name))
    playbook_raw = read_trusted_file(playbook_path, what="playbook")
    origins = registry.origins
    digest = None if origins is None else inputs_digest(
        config_path=config_path, config_raw=config_raw, playbook_path=playbook_path,
        playbook_raw=playbook_raw, entry_points=origins)
    record = CheckedInputs.load()
    entry = record.get(digest)
    if entry is not None:
        config, loaded = _from_record(entry, registry, providers, config_path, config_raw,
                                      playbook_path, playbook_raw)
    else:
        config, loaded = _validate(registry, providers, config_path, config_raw, playbook_path,
                                   playbook_raw, remember=not request.dry_run)
    store = KeyringSecretStore()
    unusable = _check_references(config, config_path, store, degrade=request.degrade)
    if not request.dry_run:  # a dry run writes nothing at all
        from clawback import entry_point_index

        entry_point_index.remember()
    if entry is None and digest is not None and not request.dry_run:
        from clawback.checked_inputs import entry_for

        record.add(digest, entry_for(config, loaded, _toml_document(config_raw)))
        record.save()
    settings = dict(config.settings)
    if request.home is not None:
        home = Path(request.home).expanduser()
        if not home.is_dir():
            raise BadInput(f"--home {home}: no such directory (give the agent user's home, "
                           "where OpenClaw keeps its state)")
        settings = {**settings, "agent": {**settings.get("agent", {}),
                                          "user_home": str(home.absolute())}}
    return Prepared(
        request=request,
        registry=registry,
        inputs=config,
        config_path=config_path,
        loaded=loaded,
        settings=settings,
        store=store,
        unusable=unusable,
    )


def _toml_document(raw: bytes | None) -> dict[str, Any]:
    """The TOML document of a config that passed validation ({} without a config)."""
    import tomllib

    return tomllib.loads(raw.decode("utf-8")) if raw is not None else {}


def _validate(registry: Registry, providers: set[str], config_path: Path | None,
              config_raw: bytes | None, playbook_path: Path, playbook_raw: bytes, *,
              remember: bool) -> tuple[CheckedConfig, LoadedPlaybook]:
    """The whole validation: config, playbook, provider tables (BadInput on any problem)."""
    from clawback.checked_inputs import CheckedConfig
    from clawback.config import Config, config_from_bytes
    from clawback.playbook import playbook_from_bytes

    config = (Config() if config_path is None or config_raw is None
              else config_from_bytes(config_path, config_raw, known_providers=providers))
    loaded = playbook_from_bytes(playbook_path, playbook_raw, actions=known_actions(registry),
                                 variables=WHEN_VARIABLES)
    _check_provider_tables(registry, config, config_path, remember=remember)
    return CheckedConfig.of(config), loaded


def _from_record(entry: dict[str, Any], registry: Registry, providers: set[str],
                 config_path: Path | None, config_raw: bytes | None,
                 playbook_path: Path, playbook_raw: bytes,
                 ) -> tuple[CheckedConfig, LoadedPlaybook]:
    """A config and playbook that passed before (``clawback.checked_inputs``)."""
    from clawback.checked_inputs import config_from_entry, playbook_from_entry

    def build() -> Config:
        from clawback.config import Config, config_from_bytes

        if config_path is None or config_raw is None:
            return Config()
        return config_from_bytes(config_path, config_raw, known_providers=providers)

    config = config_from_entry(entry, path=config_path, raw=config_raw, build=build)

    def model_of(uses: str) -> Any:
        # One step's model: its responder's module only (the engine's own key steps aside).
        action = None if uses in ENGINE_ACTIONS else registry.action(uses)
        return action.Params if action is not None else known_actions(registry)[uses]

    loaded = playbook_from_entry(entry, path=playbook_path, raw=playbook_raw,
                                 model_of=model_of, variables=WHEN_VARIABLES)
    return config, loaded


def _check_provider_tables(registry: Registry, config: Any, config_path: Path | None, *,
                           remember: bool) -> None:
    """Each [providers.X] table is checked by its responder now, not mid-run after the agent
    was stopped (loads only the configured responders). A table its responder's current code
    has accepted before is not checked again (clawback.checked_tables): the panic button then
    loads no provider module before the stop. ``remember``: record what was accepted (a dry
    run writes nothing)."""
    from clawback.checked_tables import CheckedTables

    checked = CheckedTables.load()
    for name in config.providers:
        table = config.provider(name)
        digest = checked.digest(name, registry.module_of(name), table)
        if digest is not None and digest in checked:
            continue
        try:
            registry.responder(name).check_config(table)
        except ResponderError as exc:
            message = str(exc)
            key = next((k for k in table if f"{k}:" in message or f"{k!r}" in message), None)
            line = (config.line_of("providers", name, key) if key
                    else config.line_of("providers", name))
            raise BadInput(message, path=config_path, line=line) from None
        if digest is not None:
            checked.add(digest)
    if remember:
        checked.save()


def _check_references(config: Any, config_path: Path | None, store: KeyringSecretStore, *,
                      degrade: bool) -> dict[str, str]:
    """Every admin credential the config names is resolved before anything runs. A malformed
    reference is bad input; one that does not resolve makes its provider unusable (degraded
    mode) or, with ``degrade`` off, is bad input too. Returns provider -> reason."""
    unusable: dict[str, str] = {}
    for name in config.providers:
        for key, value in config.provider(name).items():
            if not (isinstance(value, str) and is_reference(value)):
                continue
            try:
                parse_reference(value)
            except ResponderError as exc:
                raise BadInput(f"[providers.{name}] {key}: {exc}", path=config_path,
                               line=config.line_of("providers", name, key)) from None
            try:
                store.resolve(value)
            except ResponderError as exc:
                if not degrade:
                    raise BadInput(f"[providers.{name}] {key}: {exc}", path=config_path,
                                   line=config.line_of("providers", name, key)) from None
                unusable.setdefault(name, f"{key}: {exc}")
    return unusable


ENGINE_ACTIONS = frozenset({KEYS_REVOKE_ALL, KEYS_ROTATE_ALL})

# The agent's files can be made arbitrarily slow to read (gigabytes of logs): discovery during
# contain stops when its budget is spent, and says what it left unread.
DISCOVERY_BUDGET_S = 15.0
FREE_TEXT_BUDGET_S = 30.0
FULL_DISCOVERY_BUDGET_S = 60.0


def _discover(settings: dict[str, Any], *, free_text: bool, budget_seconds: float) -> Any:
    from clawback.registry import load_agent

    return load_agent().discover(settings.get("agent", {}), free_text=free_text,
                                 budget_seconds=budget_seconds)


def run(prepared: Prepared, reporter: Reporter | None = None) -> RunResult:
    """Execute the prepared playbook as a new or resumed incident."""
    from clawback.evidence import Manifest
    from clawback.incident import (
        IncidentLock,
        create_incident_dir,
        incidents_root,
        new_incident_id,
        resolve_incident,
    )
    from clawback.journal import Journal

    request = prepared.request
    options = RunOptions(
        dry_run=request.dry_run,
        yes=request.yes,
        cut_network=request.cut_network,
        interactive=request.interactive,
        approver=request.approver,
        confirm_manual=request.confirm_manual,
        secret_prompt=request.secret_prompt,
    )
    runner_args: dict[str, Any] = dict(
        registry=prepared.registry,
        playbook=prepared.loaded,
        settings=prepared.settings,
        provider_config=prepared.inputs.provider,
        credentials=prepared.credentials,
        discovery_notes=lambda: prepared.inventory.notes,
        late_credentials=prepared.free_text_inventory,
        secrets=prepared.store,
        options=options,
        reporter=reporter,
        configured_providers=set(prepared.inputs.providers),
        unusable=prepared.unusable,
    )
    say = reporter or SilentReporter()
    warnings = [f"[providers.{name}] cannot be used ({reason}): its keys are left to you"
                for name, reason in prepared.unusable.items()]
    for warning in warnings:
        say.warn(warning)
    # A credential that does not work is on the operator's list even when no step needed it.
    unusable_items = [_unusable_item(name, reason)
                      for name, reason in prepared.unusable.items()]
    if request.dry_run:
        # A dry run writes nothing at all: no incident, no timeline, no keyring entry. It asks
        # the keyring what the real run would, to predict the same outcome.
        from clawback.signing import KeyringUnusable, keyring_problem

        problem = keyring_problem()
        closing = list(unusable_items)
        if problem is not None:
            if not request.degrade:
                raise KeyringUnusable(problem)
            warnings.append(_unkept_warning(problem, None))
            say.warn(warnings[-1])
            closing.append(_unkept_item(problem))
        dry = Runner(**runner_args, incident_id="dry-run", closing_items=closing,
                     no_keyring=_short(problem)).run()
        dry.warnings = warnings
        return dry

    from clawback.signing import (
        KeyringUnusable,
        incident_key,
        load_signing_key,
        signer_for_incident,
    )
    from clawback.timeline import Timeline

    root = incidents_root(request.incidents_dir)
    # A resume of an incident that does not exist is bad input: nothing, not even the signing
    # key, is created before it is found.
    resume_dir = resolve_incident(request.resume, root) if request.resume else None
    if resume_dir is not None:
        signer = signer_for_incident(resume_dir)
        incident_dir = resume_dir
        incident_id = incident_dir.name
        with IncidentLock(incident_dir):
            journal = Journal.open(incident_dir, playbook_sha256=prepared.loaded.sha256)
            timeline = Timeline.resume(incident_dir, signer)
            manifest = Manifest(incident_id=incident_id)
            for step, collected in journal.collections():
                manifest.add(step, collected)
            for step, name, source in journal.evidence_files():
                manifest.add_file(step, incident_dir / name, source=source)
            notifier = _notifier(prepared, incident_dir, incident_id, runner_args, say)
            result: RunResult | None = None
            try:
                result = Runner(
                    **runner_args, timeline=timeline, journal=journal, manifest=manifest,
                    incident_id=incident_id, incident_dir=incident_dir,
                    store_for=_store_for(prepared, incident_dir, timeline),
                ).run()
            finally:
                _close_notifier(notifier, result, say, warnings)
            result.warnings = warnings
        _investigate(result, prepared, say)
        return result

    unkept: str | None = None
    try:
        signer = load_signing_key()
    except KeyringUnusable as exc:
        if not request.degrade:
            raise
        unkept = exc.message
    incident_id = new_incident_id()
    incident_dir = create_incident_dir(root, incident_id)
    header = _header(prepared)
    closing = list(unusable_items)
    if prepared.unusable:
        header["unusable_providers"] = dict(prepared.unusable)
    if unkept is not None:
        # From here on something is done: whatever else fails, the run ends with exit 3.
        signer = incident_key(incident_dir)
        warnings.append(_unkept_warning(unkept, incident_dir))
        say.warn(warnings[-1])
        closing.append(_unkept_item(unkept))
        header["signing_key_store"] = {"kind": "incident-file", "file": INCIDENT_KEY_FILE,
                                       "reason": unkept}
    with IncidentLock(incident_dir):
        journal = Journal.create(
            incident_dir, incident_id=incident_id, playbook_sha256=prepared.loaded.sha256,
            playbook_path=str(prepared.loaded.path),
        )
        timeline = Timeline.create(incident_dir, incident_id, signer, header=header)
        manifest = Manifest(incident_id=incident_id)
        notifier = _notifier(prepared, incident_dir, incident_id, runner_args, say)
        result = None
        try:
            result = Runner(
                **runner_args, timeline=timeline, journal=journal, manifest=manifest,
                incident_id=incident_id, incident_dir=incident_dir,
                store_for=_store_for(prepared, incident_dir, timeline), closing_items=closing,
                no_keyring=_short(unkept),
            ).run()
        finally:
            _close_notifier(notifier, result, say, warnings)
    result.warnings = warnings
    if unkept is not None:
        result.signing_public_key = signer.public_key_pem()
    _investigate(result, prepared, say)
    return result


def _investigate(result: RunResult, prepared: Prepared, say: Reporter) -> None:
    """Off the panic path: everything is done and sealed; nothing here changes the outcome."""
    from clawback.investigate.after import investigate_after_contain

    def usage() -> Any:
        from clawback.investigate.provider_usage import asker

        return asker(prepared.registry, prepared.config, prepared.store, prepared.settings)

    investigate_after_contain(result, prepared.config, say, usage)


def _notifier(prepared: Prepared, incident_dir: Path, incident_id: str,
              runner_args: dict[str, Any], say: Reporter) -> Any:
    """With ``[notify] urls``: queue the start message and route the run's reporter through
    the notifier (nothing is sent, nor Apprise imported, before the first action)."""
    if not prepared.inputs.notify_urls:
        return None
    notify = prepared.config.notify
    from clawback.notifier import Notifier, NotifyingReporter, start_message

    notifier = Notifier(references=notify.urls, store=prepared.store,
                        incident_dir=incident_dir, timeout=notify.timeout_seconds,
                        flush=notify.flush_seconds)
    notifier.post(*start_message(incident_id, operator_identity(),
                                 Path(str(prepared.loaded.path)).name))
    runner_args["reporter"] = NotifyingReporter(say, notifier, incident_id)
    return notifier


def _close_notifier(notifier: Any, result: RunResult | None, say: Reporter,
                    warnings: list[str]) -> None:
    """The end message with the final checkpoint, then a bounded wait for the last ones."""
    if notifier is None:
        return
    if result is not None:
        from clawback.notifier import end_message

        title, body = end_message(result)
        notifier.post(title, body, checkpoint=result.final_checkpoint, final=True)
    else:
        notifier.post("clawback: the run stopped on an error",
                      "contain stopped before it finished; see its output on the host.")
    for problem in notifier.close():
        warnings.append(problem)
        say.warn(problem)


def _short(reason: str | None) -> str | None:
    """The reason without its advice (said once, in the warning and the to-do list)."""
    return reason.split(":", 1)[0] if reason else None


def _unkept_warning(reason: str, incident_dir: Path | None) -> str:
    where = incident_dir / INCIDENT_KEY_FILE if incident_dir else f"<incident>/{INCIDENT_KEY_FILE}"
    verb = "is" if incident_dir else "would be"
    return (
        f"the keyring cannot keep the timeline signing key ({reason}). This incident {verb} "
        f"signed by a key of its own, kept in {where}: whoever can read that file can sign in "
        "its name, so copy its public key and the final checkpoint off this host now."
    )


def _unusable_item(name: str, reason: str) -> TargetResult:
    return TargetResult("config", "credential", f"providers.{name}", ManualRequired(
        detail="admin credential unusable",
        instructions=(
            f"[providers.{name}] {reason}. Its keys were left to you (each is on this list). "
            f"Fix the credential, then resume the incident (clawback contain --resume ID) to "
            f"let clawback finish them, or check it first with clawback drill --preflight."
        ),
    ))


def _unkept_item(reason: str) -> TargetResult:
    return TargetResult("signing", "keep-key", "keyring", ManualRequired(
        detail="signing key kept in the incident directory",
        instructions=(
            f"The keyring could not keep the signing key ({reason}). Copy the incident's "
            f"signing-key.pub (printed at the end) and the final checkpoint off this host now: "
            f"verify --pubkey and --checkpoint with those copies prove the timeline. Then make "
            f"the keyring usable, so the next incident is signed by this installation's key."
        ),
    ))


def _store_for(prepared: Prepared, incident_dir: Path, timeline: Any) -> Callable[..., Any]:
    """Per-credential stores with a rotation ledger, so a crash never loses a new key or makes
    a second one; the drill's also switch the agent's files over (contain's never do).

    The session (and the OpenClaw responder it imports) is built at the first rotation, not
    before the first action: the stop must not wait for it.
    """
    session: Any = None
    lock = threading.Lock()

    def store_for(cred: Credential) -> Any:
        nonlocal session
        with lock:  # the fan-out's threads may all ask at once
            if session is None:
                from clawback.rotation import DrillSession

                session = DrillSession(prepared, incident_dir, timeline,
                                       switch_files=prepared.request.switch_agent)
        return session(cred)

    return store_for


def _header(prepared: Prepared) -> dict[str, Any]:
    """What entry 0 records beyond the host, clock, tool and key the timeline adds itself."""
    # The digest of the bytes validated, not of the file as it is now.
    config_sha = prepared.inputs.sha256 if prepared.config_path is not None else None
    return {
        "operator": operator_identity(),
        "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "playbook": {"path": str(prepared.loaded.path), "sha256": prepared.loaded.sha256},
        "config": {"path": str(prepared.config_path) if prepared.config_path else None,
                   "sha256": config_sha},
    }

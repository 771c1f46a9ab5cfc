"""Run a playbook as an incident: the library behind ``clawback contain`` and ``clawback demo``.

Everything that can be wrong with the input is checked in ``prepare`` before anything is
created or changed: a bad playbook, config, provider name or credential reference exits 2 with
no incident directory and no action taken.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.errors import BadInput
from clawback.registry import Registry, load_registry
from clawback.runner import (
    WHEN_VARIABLES,
    Approver,
    Reporter,
    Runner,
    RunOptions,
    RunResult,
    known_actions,
    operator_identity,
)
from clawback.secret_store import KeyringSecretStore, is_reference
from responders.interface import Credential, Responder, ResponderError


def packaged_playbook(name: str) -> Path:
    from importlib.resources import files

    return Path(str(files("clawback.playbooks") / f"{name}.yaml"))


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


@dataclass
class Prepared:
    request: ContainRequest
    registry: Registry
    config: Any  # clawback.config.Config
    config_path: Path | None
    loaded: Any  # clawback.playbook.LoadedPlaybook
    settings: dict[str, Any]
    store: KeyringSecretStore
    _inventory: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def inventory(self) -> Any:
        """Discovery runs on first use: after the agent is stopped, not before."""
        if self._inventory is None:
            self._inventory = _discover(self.settings)
        return self._inventory

    def credentials(self) -> list[Credential]:
        return list(self.inventory.credentials)


def prepare(request: ContainRequest) -> Prepared:
    """Validate everything; create and change nothing."""
    from clawback.config import find_config, load_config
    from clawback.playbook import load_playbook

    registry = load_registry(request.extra_responders)
    providers = set(registry.names)  # by entry point: no responder module is imported yet
    config_path = find_config(request.config)
    config = load_config(config_path, known_providers=providers)
    playbook_path = request.playbook or packaged_playbook(request.playbook_name)
    loaded = load_playbook(
        Path(playbook_path), actions=known_actions(registry), variables=WHEN_VARIABLES
    )
    store = KeyringSecretStore()
    _check_provider_tables(registry, config, config_path)
    _check_references(config, config_path, store)
    settings = config.settings()
    return Prepared(
        request=request,
        registry=registry,
        config=config,
        config_path=config_path,
        loaded=loaded,
        settings=settings,
        store=store,
    )


def _check_provider_tables(registry: Registry, config: Any, config_path: Path | None) -> None:
    """Each [providers.X] table is checked by its responder now, not mid-run after the agent
    was stopped (loads only the configured responders)."""
    for name in config.providers:
        table = config.provider(name)
        try:
            registry.responder(name).check_config(table)
        except ResponderError as exc:
            message = str(exc)
            key = next((k for k in table if f"{k}:" in message or f"{k!r}" in message), None)
            line = (config.line_of("providers", name, key) if key
                    else config.line_of("providers", name))
            raise BadInput(message, path=config_path, line=line) from None


def _check_references(config: Any, config_path: Path | None, store: KeyringSecretStore) -> None:
    """Every admin credential the config names must resolve before anything runs."""
    for name in config.providers:
        for key, value in config.provider(name).items():
            if isinstance(value, str) and is_reference(value):
                try:
                    store.resolve(value)
                except ResponderError as exc:
                    raise BadInput(
                        f"[providers.{name}] {key}: {exc}", path=config_path,
                        line=config.line_of("providers", name, key),
                    ) from None


def _discover(settings: dict[str, Any]) -> Any:
    from clawback.inventory import discover_agent

    return discover_agent(settings.get("agent", {}))


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
        provider_config=prepared.config.provider,
        credentials=prepared.credentials,
        secrets=prepared.store,
        options=options,
        reporter=reporter,
        configured_providers=set(prepared.config.providers),
    )
    if request.dry_run:
        # A dry run writes nothing at all: no incident, no timeline, no keyring entry.
        return Runner(**runner_args, incident_id="dry-run").run()

    from clawback.signing import load_signing_key
    from clawback.timeline import Timeline

    root = incidents_root(request.incidents_dir)
    # A resume of an incident that does not exist is bad input: nothing, not even the signing
    # key, is created before it is found.
    resume_dir = resolve_incident(request.resume, root) if request.resume else None
    signer = load_signing_key()
    if resume_dir is not None:
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
            return Runner(
                **runner_args, timeline=timeline, journal=journal, manifest=manifest,
                incident_id=incident_id, incident_dir=incident_dir,
                store_for=_store_for(prepared, incident_dir, timeline),
            ).run()

    incident_id = new_incident_id()
    incident_dir = create_incident_dir(root, incident_id)
    with IncidentLock(incident_dir):
        journal = Journal.create(
            incident_dir, incident_id=incident_id, playbook_sha256=prepared.loaded.sha256,
            playbook_path=str(prepared.loaded.path),
        )
        timeline = Timeline.create(
            incident_dir, incident_id, signer, header=_header(prepared),
        )
        manifest = Manifest(incident_id=incident_id)
        return Runner(
            **runner_args, timeline=timeline, journal=journal, manifest=manifest,
            incident_id=incident_id, incident_dir=incident_dir,
            store_for=_store_for(prepared, incident_dir, timeline),
        ).run()


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
                from clawback.drill import DrillSession

                session = DrillSession(prepared, incident_dir, timeline,
                                       switch_files=prepared.request.switch_agent)
        return session(cred)

    return store_for


def _header(prepared: Prepared) -> dict[str, Any]:
    """What entry 0 records beyond the host, clock, tool and key the timeline adds itself."""
    config_sha = None
    if prepared.config_path is not None:
        config_sha = hashlib.sha256(Path(prepared.config_path).read_bytes()).hexdigest()
    return {
        "operator": operator_identity(),
        "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "playbook": {"path": str(prepared.loaded.path), "sha256": prepared.loaded.sha256},
        "config": {"path": str(prepared.config_path) if prepared.config_path else None,
                   "sha256": config_sha},
    }

"""Fixtures for driving whole runs: a sample OpenClaw home, a config for it, and a recording
responder that counts every call it receives (to prove dry-run does nothing)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from clawback_demo.home import SampleHome, build_sample_home
from responders.interface import (
    Action,
    AlreadyRevoked,
    Capability,
    Credential,
    Done,
    Failed,
    Outcome,
    Planned,
    Responder,
    Revoked,
    Rotated,
    SecretStore,
    SecretValue,
    VerifiedDead,
)


@dataclass
class CallLog:
    """Every call the recording plugins received, by kind."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, target: str) -> None:
        with self.lock:
            self.calls.append((kind, target))

    def of(self, kind: str) -> list[str]:
        return [t for k, t in self.calls if k == kind]

    @property
    def side_effects(self) -> list[tuple[str, str]]:
        return [(k, t) for k, t in self.calls if k not in ("plan", "targets", "action.plan")]


CALLS = CallLog()
# Per-target scripted answers for the recording responder: a list of outcomes handed out in turn.
SCRIPT: dict[str, list[Outcome]] = {}


class RecordingResponder(Responder):
    """Handles the provider ``recorded``; revoke answers follow SCRIPT, else Revoked."""

    name: ClassVar[str] = "recorder"
    providers: ClassVar[frozenset[str]] = frozenset({"recorded"})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.REVOKE, Capability.VERIFY_REVOKED, Capability.ROTATE,
         Capability.ACCEPT_REPLACEMENT}
    )

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Planned]]:
        for c in creds:
            CALLS.add("plan", c.target_id)
        return super().plan(creds)

    def revoke(self, cred: Credential) -> Outcome:
        CALLS.add("revoke", cred.target_id)
        script = SCRIPT.get(cred.target_id)
        if script:
            return script.pop(0)
        return Revoked(detail=f"revoked {cred.fingerprint}")

    def verify_revoked(self, cred: Credential) -> Outcome:
        CALLS.add("verify", cred.target_id)
        script = SCRIPT.get(f"verify {cred.target_id}")
        if script:
            return script.pop(0)
        return VerifiedDead()

    def accept_replacement(self, cred: Credential, value: SecretValue,
                           store: SecretStore) -> Outcome:
        """Like Anthropic's: the operator made the key by hand; store it, then accept it."""
        CALLS.add("accept", cred.target_id)
        ref = store.store(f"recorded/{cred.key_id}", value)
        return Rotated(new_fingerprint=value.fingerprint, new_reference=ref)

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        CALLS.add("rotate", cred.target_id)
        script = SCRIPT.get(f"rotate {cred.target_id}")
        if script:
            return script.pop(0)
        new = SecretValue(f"recorded-new-{cred.key_id}-0123456789")
        ref = store.store(f"recorded/{cred.key_id}", new)
        return Rotated(new_fingerprint=new.fingerprint, new_reference=ref)


class RecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[str] = ["one"]
    fail: list[str] = []


class RecordAction(Action):
    name: ClassVar[str] = "test.record"
    state_changing: ClassVar[bool] = True
    Params: ClassVar[type[Any]] = RecordParams

    def targets(self) -> Sequence[str]:
        CALLS.add("targets", self.name)
        return list(self.params.targets)

    def plan(self, target: str) -> Planned:
        CALLS.add("action.plan", target)
        return Planned(action="record", detail=f"would record {target}")

    def execute(self, target: str) -> Outcome:
        CALLS.add("execute", target)
        if target in self.params.fail:
            return Failed(error=f"{target} broke", retryable=False)
        return Done(detail=f"recorded {target}")


class RecordingHost(Responder):
    name: ClassVar[str] = "recording-host"
    actions: ClassVar[dict[str, type[Action]]] = {RecordAction.name: RecordAction}


class AlreadyDeadResponder(RecordingResponder):
    name: ClassVar[str] = "already-dead"
    providers: ClassVar[frozenset[str]] = frozenset({"already"})

    def revoke(self, cred: Credential) -> Outcome:
        CALLS.add("revoke", cred.target_id)
        return AlreadyRevoked()


EXTRA_RESPONDERS = (RecordingResponder, RecordingHost, AlreadyDeadResponder)


@pytest.fixture(autouse=True)
def fresh_calls() -> Iterator[None]:
    CALLS.calls.clear()
    SCRIPT.clear()
    yield


@dataclass
class Workspace:
    root: Path
    home: SampleHome
    config: Path
    incidents: Path

    def playbook(self, text: str, name: str = "playbook.yaml") -> Path:
        path = self.root / name
        path.write_text(text)
        os.chmod(path, 0o600)
        return path

    def incident_dirs(self) -> list[Path]:
        if not self.incidents.exists():
            return []
        return sorted(p for p in self.incidents.iterdir() if p.is_dir())

    @property
    def secrets(self) -> list[str]:
        return [p.value for p in self.home.planted]


def write_config(path: Path, home: SampleHome, extra: str = "") -> Path:
    settings = home.agent_settings()
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def workspace(tmp_path: Path, memory_keyring: Any) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    home = build_sample_home(root / "sample", era="both")
    config = write_config(root / "clawback.toml", home)
    return Workspace(root=root, home=home, config=config, incidents=root / "incidents")

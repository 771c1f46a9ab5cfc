"""The rotation ledger: every rotation (``drill`` and ``contain``'s ``rotate: true``) runs
through ``RotationSession``, which hands each responder's ``rotate(cred, store)`` an
``AgentSwitchingStore`` built for that one credential. ``store(name, value)`` keeps the new
secret in the keyring, then (drill only) writes it wherever the agent reads the old one, through
the agent keeper's ``write_replacement`` with backups in the incident, and only then returns.

**Crash safety** follows Secrets Manager's pending / current / previous discipline. The signed
timeline is the rotation ledger. Each stage is a ``rotation.stage`` event, appended durably
before the drill goes on:

* ``started`` (the credential, and a keyring copy of its value, the AWSPREVIOUS);
* ``created`` (the responder holds a new secret) and ``stored`` (it is in the keyring, with its
  fingerprint and keyring reference);
* ``pending`` (the agent's files hold it);
* ``current`` (it works), ``handover`` (the agent is proven to use it, see below),
  ``previous`` (the old key is disabled) and ``retired`` (the old key is deleted), reported by
  the responder.

**Handover.** The old key is retired only once the agent is proven to use the new one
(``AgentHandover.await_agent``, asked by the responder after its new key works): with
``[drill] reload_command``, the agent is restarted or reloaded and must answer its health check
(``health_url``, or the gateway port) within ``grace_seconds``; with only ``health_url``, the
agent (one that reads its keys on every use) must answer it after the switch; otherwise the
provider's last-used time of the old key must not move for ``grace_seconds`` after the switch.
Nothing proven: the rotation stops there, new key stored and live, old key untouched, and says
why (``handover-unproven``); ``drill --resume`` tries again.

``clawback drill --resume ID`` reads those events back:

* The credentials are rebuilt as they were when their rotation started. The old value comes
  from its keyring copy when no file holds it any more. New values found in the agent's files
  are not new targets.
* Each store answers ``interrupted()``. AWS reuses the stored pending key and deletes one the
  crash left unstored, so it cannot be in use. OpenClaw reuses the stored value, so every file
  ends with the same one.

Test hook (tests only): with ``CLAWBACK_TEST_CRASH_AT=<provider>:<stage>`` set, the process
SIGKILLs itself right after that stage's event is durable, so a test can crash a real drill at
each stage and resume it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawback.recorder import Recorder
from clawback.registry import Registry
from clawback.runner import KEYS_REVOKE_ALL, KEYS_ROTATE_ALL
from responders.interface import (
    AgentProof,
    AgentValue,
    Credential,
    InterruptedRotation,
    Location,
    ResponderError,
    SecretStore,
    SecretValue,
)

if TYPE_CHECKING:
    from clawback.contain import Prepared
    from clawback.timeline import Timeline

STAGE_ACTION = "rotation.stage"
CRASH_HOOK_ENV = "CLAWBACK_TEST_CRASH_AT"


# --------------------------------------------------------------------------------------------
# The ledger: what earlier runs of this incident recorded about each rotation
# --------------------------------------------------------------------------------------------


@dataclass
class TargetHistory:
    """One credential's rotation as the timeline of earlier runs tells it."""

    target: str
    credential: Mapping[str, Any] = field(default_factory=dict)
    locations: tuple[Location, ...] = ()
    started_at: datetime | None = None  # the first attempt's start
    previous_reference: str | None = None
    store_name: str = ""
    reference: str | None = None
    stored_fingerprint: str | None = None
    reverted: bool = False
    account: str = ""  # whose key the rotation was creating, once it said so

    def rebuild(self, secret: SecretValue | None) -> Credential:
        c = self.credential
        return Credential(
            provider=str(c["provider"]), kind=str(c["kind"]),
            fingerprint=str(c["fingerprint"]), locations=self.locations,
            key_id=c.get("key_id"), account=c.get("account"), secret=secret,
        )


@dataclass
class RotationHistory:
    targets: dict[str, TargetHistory] = field(default_factory=dict)
    # Fingerprints of every new secret stored: found in the agent's files, they are the
    # rotation's work, not keys to rotate again.
    products: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, incident_dir: Path, timeline: Timeline | None = None) -> RotationHistory:
        """The ledger so far; from ``timeline`` when it is open for appends (other threads of
        the same run may be writing: see ``Timeline.written_entries``)."""
        from clawback.timeline import TIMELINE_FILE, read_entries

        history = cls()
        if timeline is not None:
            entries = timeline.written_entries()
        else:
            path = Path(incident_dir) / TIMELINE_FILE
            if not path.exists():
                return history
            entries = read_entries(path)
        for entry in entries:
            if entry.action == STAGE_ACTION and entry.phase == "event":
                history._add(entry.fields)
        return history

    def _add(self, fields: Mapping[str, Any]) -> None:
        target = str((fields.get("target") or {}).get("target", ""))
        extra = fields.get("extra") or {}
        stage = str(extra.get("stage", ""))
        item = self.targets.setdefault(target, TargetHistory(target))
        if extra.get("account"):
            item.account = str(extra["account"])
        if stage == "started":
            if item.started_at is None:
                item.started_at = datetime.fromisoformat(str(fields["ts"]))
            if not item.credential:
                item.credential = dict(extra.get("credential") or {})
                item.locations = tuple(
                    Location(str(p), str(k)) for p, k in extra.get("locations") or ()
                )
            item.previous_reference = item.previous_reference or extra.get("previous_reference")
        elif stage == "stored":
            item.store_name = str(extra.get("store_name", ""))
            item.reference = extra.get("reference")
            item.stored_fingerprint = extra.get("stored_fingerprint")
            item.reverted = False
            if extra.get("new_fingerprint"):
                self.products.add(str(extra["new_fingerprint"]))
        elif stage == "reverted":
            item.reverted = True

    def reconcile(self, discovered: Sequence[Credential], secrets: SecretStore
                  ) -> list[Credential]:
        """The credentials a resumed drill works on.

        A started rotation keeps its original credential, with every place it was found then.
        Its value comes from discovery while a file still holds it, otherwise from the keyring
        copy taken at the start. New values an earlier run stored are dropped from discovery.
        """
        started = {t.credential.get("fingerprint"): t for t in self.targets.values()
                   if t.credential}
        out: list[Credential] = []
        remaining: list[Credential] = []
        for cred in discovered:
            history = started.pop(cred.fingerprint, None)
            if history is not None:
                locations = tuple(sorted(set(history.locations) | set(cred.locations)))
                out.append(dataclasses.replace(history.rebuild(cred.secret), locations=locations))
            elif cred.fingerprint not in self.products:
                remaining.append(cred)
        for history in started.values():
            out.append(history.rebuild(_resolve_quietly(secrets, history.previous_reference)))
        return out + remaining


def _resolve_quietly(secrets: SecretStore, reference: str | None) -> SecretValue | None:
    if not reference:
        return None
    try:
        return secrets.resolve(reference)
    except ResponderError:
        return None


# --------------------------------------------------------------------------------------------
# The store each rotation gets
# --------------------------------------------------------------------------------------------


def agent_value(registry: Registry, cred: Credential, stored: SecretValue) -> AgentValue:
    """What the agent holds of a stored replacement, as the credential's responder says
    (an AWS pair stored as JSON gives the agent the new id beside the new secret)."""
    responder = registry.responder_for_provider(cred.provider)
    return responder.agent_value(stored) if responder is not None else AgentValue(stored)


class AgentSwitchingStore:
    """A SecretStore for one credential's rotation that also switches the agent over.

    The first name stored is the credential's replacement (a responder may store more, such as
    a Slack refresh token: those only go to the keyring). It is kept in the keyring, then
    written over the old value in the agent's files, and only then does ``store`` return. If
    the responder withdraws it again (``delete``), the files get the old value back first.
    """

    def __init__(self, session: DrillSession, cred: Credential, *, switches_files: bool,
                 history: TargetHistory | None) -> None:
        self.session = session
        self.cred = cred
        self.switches_files = switches_files
        self._history = history
        self._primary = history.store_name if history and history.store_name else None
        self._switched: tuple[SecretValue, str | None] | None = None
        self._switched_at: datetime | None = None
        self._earlier: InterruptedRotation | None = None
        self._earlier_read = False
        self._lock = threading.RLock()

    # -- SecretStore ------------------------------------------------------------------------

    def resolve(self, reference: str) -> SecretValue:
        return self.session.secrets.resolve(reference)

    def store(self, name: str, value: SecretValue) -> str:
        with self._lock:
            if self._primary is None:
                self._primary = name
            if name != self._primary:
                return self.session.secrets.store(name, value)
            self.session.record(self.cred, "created")
            replacement_value = agent_value(self.session.registry, self.cred, value)
            new_secret, new_key_id = replacement_value.secret, replacement_value.key_id
            reference = self.session.secrets.store(name, value)
            self.session.record(
                self.cred, "stored", store_name=name, reference=reference,
                stored_fingerprint=value.fingerprint, new_fingerprint=new_secret.fingerprint,
                **({"new_key_id": new_key_id} if new_key_id else {}),
            )
            if self.switches_files:
                switched = self._switch(new_secret, new_key_id)
                self._switched = (new_secret, new_key_id)
                self._switched_at = datetime.now(UTC)
                self.session.record(self.cred, "pending", detail=_switch_summary(switched),
                                    switched=switched)
            return reference

    def delete(self, name: str) -> None:
        with self._lock:
            if name == self._primary and self._switched is not None:
                new_secret, new_key_id = self._switched
                if self.cred.secret is None:
                    raise ResponderError(
                        f"cannot switch the agent back to {self.cred.fingerprint}: its value is "
                        f"unknown (no file and no keyring copy holds it)"
                    )
                back = self.session.agent.write_replacement(
                    self.cred, self.cred.secret, self.session.backups, old=new_secret,
                    companions=[(new_key_id or "", self.cred.key_id or "")],
                    files=self.session.files,
                )
                self._switched = None
                self.session.record(self.cred, "reverted", store_name=name,
                                    detail="the agent's files hold the old value again",
                                    switched=back.facts())
            self.session.secrets.delete(name)

    # -- AgentHandover ----------------------------------------------------------------------

    def await_agent(self, *, last_used: Callable[[], datetime | None] | None = None
                    ) -> AgentProof:
        """Whether the agent now uses the new key (see the module docstring, Handover)."""
        with self._lock:
            switched_at = self._switched_at
        if not self.switches_files or switched_at is None:
            proof = AgentProof(True, "the agent's files were not switched (the agent is "
                               "stopped, or the responder switches them itself)")
        else:
            proof = self.session.handover.prove(switched_at, last_used)
        self.session.record(self.cred, "handover" if proof.proven else "handover-unproven",
                            detail=proof.how)
        return proof

    # -- RotationLedger ---------------------------------------------------------------------

    def interrupted(self) -> InterruptedRotation | None:
        """What an earlier run of this incident left of this rotation (read once: it describes
        earlier runs, not this one)."""
        with self._lock:
            if not self._earlier_read:
                self._earlier = self._read_earlier()
                self._earlier_read = True
            return self._earlier

    def reached(self, stage: str, *, account: str = "") -> None:
        self.session.record(self.cred, stage, **({"account": account} if account else {}))

    # -- internals --------------------------------------------------------------------------

    def _read_earlier(self) -> InterruptedRotation | None:
        history = self._history
        if history is None or history.started_at is None:
            return None
        pending = None
        if history.reference and not history.reverted:
            value = _resolve_quietly(self.session.secrets, history.reference)
            # The keyring name may hold something else by now (a later store, an older drill).
            if value is not None and value.fingerprint == history.stored_fingerprint:
                pending = value
        return InterruptedRotation(
            started_at=history.started_at,
            store_name=history.store_name if pending is not None else "",
            pending=pending,
            account=history.account,
        )

    def _switch(self, new_secret: SecretValue, new_key_id: str | None) -> dict[str, Any]:
        write_replacement = self.session.agent.write_replacement
        cred = self.cred
        earlier = self.interrupted()
        if earlier is not None and earlier.pending is not None and cred.secret is not None:
            stale_value = agent_value(self.session.registry, cred, earlier.pending)
            stale, stale_id = stale_value.secret, stale_value.key_id
            if stale != new_secret:
                # The crashed run switched files to a key that is not the one going live now:
                # give them the old value back first, so every file holds the same key again.
                write_replacement(cred, cred.secret, self.session.backups, old=stale,
                                  companions=[(stale_id or "", cred.key_id or "")],
                                  files=self.session.files)
        replacement = write_replacement(
            cred, new_secret, self.session.backups,
            companions=[(cred.key_id or "", new_key_id or "")],
            files=self.session.files,
        )
        return replacement.facts()


def _switch_summary(facts: Mapping[str, Any]) -> str:
    updated, already = len(facts.get("updated", ())), len(facts.get("already_new", ()))
    text = f"the agent's files hold the new value: {updated} file(s) written"
    return text + (f", {already} already held it" if already else "")


class Handover:
    """How this drill proves the agent took a new key: ``[drill]`` of clawback.toml."""

    def __init__(self, settings: Mapping[str, Any], gateway_port: int | None) -> None:
        self.reload_command = [str(a) for a in settings.get("reload_command") or ()]
        self.health_url = settings.get("health_url") or None
        self.grace = float(settings.get("grace_seconds", 60.0))
        self.gateway_port = gateway_port
        self._lock = threading.Lock()
        self._reloaded: tuple[datetime, AgentProof] | None = None

    def prove(self, switched_at: datetime,
              last_used: Callable[[], datetime | None] | None) -> AgentProof:
        if self.reload_command:
            return self._reload(switched_at)
        if self.health_url:
            return self._healthy("the agent answers its health check after the switch")
        if last_used is not None:
            return self._unused_since(switched_at, last_used)
        return AgentProof(False, "nothing proves the agent reads the new key: set [drill] "
                          "reload_command (and health_url) so clawback restarts the agent and "
                          "checks it, then run `clawback drill --resume`")

    def _reload(self, switched_at: datetime) -> AgentProof:
        """One reload covers every switch made before it started; rotations take turns."""
        import subprocess

        with self._lock:
            if self._reloaded is not None and self._reloaded[0] >= switched_at:
                return self._reloaded[1]
            started = datetime.now(UTC)
            try:
                done = subprocess.run(self.reload_command, capture_output=True,
                                      timeout=max(self.grace, 5.0), check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                proof = AgentProof(False, f"[drill] reload_command could not run: "
                                   f"{type(exc).__name__}")
            else:
                proof = (self._healthy("the agent was reloaded and answers its health check")
                         if done.returncode == 0 else
                         AgentProof(False, f"[drill] reload_command exited {done.returncode}"))
            self._reloaded = (started, proof)
            return proof

    def _healthy(self, how: str) -> AgentProof:
        import socket
        import time
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + self.grace
        while True:
            try:
                if self.health_url:
                    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    with opener.open(self.health_url, timeout=2) as answer:  # loopback only
                        if 200 <= answer.status < 300:
                            return AgentProof(True, how)
                elif self.gateway_port:
                    with socket.create_connection(("127.0.0.1", self.gateway_port), timeout=2):
                        return AgentProof(True, how)
                else:
                    return AgentProof(False, "no health check: set [drill] health_url")
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() >= deadline:
                return AgentProof(False, f"the agent did not answer its health check within "
                                  f"{self.grace:g} s")
            time.sleep(0.2)

    def _unused_since(self, switched_at: datetime,
                      last_used: Callable[[], datetime | None]) -> AgentProof:
        import time

        time.sleep(self.grace)
        used = last_used()
        if used is not None and used.tzinfo is None:
            used = used.replace(tzinfo=UTC)
        if used is None or used < switched_at:
            return AgentProof(True, f"the provider shows no use of the old key in the "
                              f"{self.grace:g} s after the agent's files were switched")
        return AgentProof(False, f"the old key was used at {used:%Y-%m-%d %H:%M:%S} UTC, after "
                          "the agent's files were switched: the agent (or someone else) still "
                          "uses it; restart the agent, then `clawback drill --resume`")


class DrillSession:
    """``store_for`` of the drill's Runner: one AgentSwitchingStore per credential.

    The Runner calls it right after the rotation's intent entry and before ``rotate``, so the
    ``started`` event (and the keyring copy of the old value) precede anything the responder
    does.
    """

    def __init__(self, prepared: Prepared, incident_dir: Path, timeline: Timeline, *,
                 switch_files: bool = True) -> None:
        from clawback.registry import load_agent

        # The agent's own files, as its keeper (entry point clawback.agents) reads and writes them.
        self.agent = load_agent()
        # The agent's tree: the only way its files are read or rewritten (no link followed).
        self.files = self.agent.agent_files(prepared.settings)
        # contain keeps the ledger (no replacement lost or made twice across a crash) but never
        # writes new keys into a compromised agent's files.
        self.switch_files = switch_files
        store: Any = prepared.store
        self.secrets = store if isinstance(store, TakingTurns) else TakingTurns(store)
        self.registry = prepared.registry
        self.incident_dir = Path(incident_dir)
        self.incident_id = self.incident_dir.name
        self.timeline = timeline
        # Stages are recorded like every other event: redacted, durable before the drill goes on.
        self.recorder = Recorder(timeline)
        self.backups = self.agent.backups(self.incident_dir)
        # Read while the run's other threads append (the revoke fan-out): under the append
        # lock, or a line half written could make this rotation fail to start.
        self.history = RotationHistory.read(self.incident_dir, timeline)
        self.step = _rotate_step(prepared.loaded)
        self._crash_at = os.environ.get(CRASH_HOOK_ENV, "")
        agent = prepared.settings.get("agent") or {}
        self.handover = Handover(prepared.settings.get("drill") or {}, agent.get("gateway_port"))

    def __call__(self, cred: Credential) -> SecretStore:
        responder = self.registry.responder_for_provider(cred.provider)
        switches = self.switch_files and (
            responder is None or not responder.rewrites_agent_files
        )
        if switches:
            blockers = self.agent.switch_blockers(cred)
            if blockers:
                # Refused before the provider is asked for anything: an in-place reset would
                # kill the old key while the agent still reads it from there.
                raise ResponderError(
                    f"the agent also reads {cred.kind} {cred.fingerprint} from "
                    + "; ".join(f"{b.location} ({b.reason})" for b in blockers)
                    + ": rotate it by hand, then update that store too"
                )
        history = self.history.targets.get(cred.target_id)
        previous = history.previous_reference if history else None
        problem: dict[str, str] = {}
        if previous is None and cred.secret is not None and self.switch_files:
            try:
                previous = self.secrets.store(self.previous_name(cred.target_id), cred.secret)
            except ResponderError as exc:
                # Only a resume after a crash needs the copy; the rotation itself does not.
                problem["previous_copy"] = f"not kept: {exc}"
        self.record(
            cred, "started", previous_reference=previous,
            credential=cred.describe(),
            locations=[[loc.path, loc.key] for loc in cred.locations],
            resumed=history is not None, **problem,
        )
        return AgentSwitchingStore(self, cred, switches_files=switches, history=history)

    def previous_name(self, target: str) -> str:
        """Keyring name of the old value's copy (the AWSPREVIOUS), kept until the drill ends."""
        digest = hashlib.sha256(target.encode()).hexdigest()[:16]
        return f"drill/{self.incident_id}/previous/{digest}"

    def record(self, cred: Credential, stage: str, *, detail: str = "", **extra: Any) -> None:
        """Append the stage durably, then (tests only) die there if asked to."""
        self.recorder.event(
            self.step, STAGE_ACTION,
            target={"target": cred.target_id, "provider": cred.provider,
                    "fingerprint": cred.fingerprint},
            detail=detail or f"{cred.provider} rotation reached {stage}",
            extra={"stage": stage, **extra},
        )
        if self._crash_at and self._crash_at == f"{cred.provider}:{stage}":
            # Die between keyring writes, as a crash between stages would; a kill in the
            # middle of another thread's write would test keyrings.alt's file format instead.
            with self.secrets.turn:
                os.kill(os.getpid(), signal.SIGKILL)


class TakingTurns:
    """The keyring, one call at a time. keyrings.alt's file backends rewrite the whole file on
    every change, so concurrent rotations would otherwise read each other's half-written file.
    The drill gives this one store to the Runner (responders' admin lookups) and its stores."""

    def __init__(self, inner: SecretStore) -> None:
        self._inner = inner
        self.turn = threading.RLock()

    def resolve(self, reference: str) -> SecretValue:
        with self.turn:
            return self._inner.resolve(reference)

    def store(self, name: str, value: SecretValue) -> str:
        with self.turn:
            return self._inner.store(name, value)

    def delete(self, name: str) -> None:
        with self.turn:
            self._inner.delete(name)


def _rotate_step(loaded: Any) -> str:
    """The step whose rotations the ledger records: the drill's, or contain's replacing one."""
    for step in loaded.playbook.steps:
        if step.uses == KEYS_ROTATE_ALL:
            return str(step.id)
    for step in loaded.playbook.steps:
        if step.uses == KEYS_REVOKE_ALL and getattr(loaded.params[step.id], "rotate", False):
            return str(step.id)
    return "rotate"


# The name the drill gave it first.
RotationSession = DrillSession

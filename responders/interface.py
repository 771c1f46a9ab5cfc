"""The contract between clawback's engine and everything that touches the outside world.

The engine decides and records; a responder acts and returns frozen results. A responder never
writes the timeline and never prints a secret: everything it returns is built from fingerprints.
Third parties add a responder with one module and one entry point in the group
``clawback.responders``. The agent clawback protects (OpenClaw) is reached through one entry
point in the group ``clawback.agents``: an ``AgentKeeper`` (its discovery, and writing a provider
key's replacement where the agent reads it), so the engine never names the agent either; the
host is asked about afterwards through a ``HostKeeper`` (group ``clawback.host``: the network
cut, a process's supervisor) and fleet hosts through ``RemoteHosts`` (group ``clawback.remote``).
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from responders.agent_files import AgentFiles
    from responders.backups import BackupStore

T = TypeVar("T")
R = TypeVar("R")


class ResponderError(Exception):
    """A responder cannot act at all (bad configuration, missing admin credential, ...).

    The message is shown to the operator as advice, so it says what to do.
    """


# --------------------------------------------------------------------------------------------
# Secrets and credentials
# --------------------------------------------------------------------------------------------


def fingerprint(value: str) -> str:
    """The only printable form of a secret: last 4 characters plus an 8-hex sha256 prefix."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"…{value[-4:]} sha256:{digest}"


class SecretValue:
    """A secret that refuses to be printed, compared by identity of value, never serialized."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._value)

    def __repr__(self) -> str:
        return f"SecretValue({self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("SecretValue", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("secret values are never serialized")


@dataclass(frozen=True, order=True)
class Location:
    """Where a secret was found: a file and, inside it, a key path or variable name."""

    path: str
    key: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.key}" if self.key else self.path


@dataclass(frozen=True)
class Credential:
    """One secret the agent could reach. Its value travels only inside ``secret``."""

    provider: str
    kind: str
    fingerprint: str
    locations: tuple[Location, ...] = ()
    key_id: str | None = None
    account: str | None = None
    secret: SecretValue | None = field(default=None, repr=False, compare=False)
    # Secrets that only work together with this one, found beside it under names that belong
    # together: an AWS session key's ``session_token``. Never serialized, like ``secret``.
    companions: Mapping[str, SecretValue] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_secret(
        cls,
        provider: str,
        kind: str,
        value: str,
        locations: Iterable[Location] = (),
        *,
        key_id: str | None = None,
        account: str | None = None,
        companions: Mapping[str, str] | None = None,
    ) -> Credential:
        secret = SecretValue(value)
        return cls(
            provider=provider,
            kind=kind,
            fingerprint=secret.fingerprint,
            locations=tuple(sorted(set(locations))),
            key_id=key_id,
            account=account,
            secret=secret,
            companions={k: SecretValue(v) for k, v in (companions or {}).items()},
        )

    @property
    def target_id(self) -> str:
        """Stable identifier used in the timeline and the resume journal."""
        return f"{self.provider}:{self.key_id or self.fingerprint}"

    def describe(self) -> dict[str, Any]:
        """JSON-safe description for the timeline: fingerprints, never the value."""
        out: dict[str, Any] = {
            "provider": self.provider,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "locations": [str(loc) for loc in self.locations],
        }
        if self.key_id:
            out["key_id"] = self.key_id
        if self.account:
            out["account"] = self.account
        return out


class SecretStore(Protocol):
    """Where admin credentials are read from and replacement secrets are written to."""

    def resolve(self, reference: str) -> SecretValue:
        """Resolve ``keyring:SERVICE/USER`` or ``env:NAME``; raise ResponderError if absent."""
        ...

    def store(self, name: str, value: SecretValue) -> str:
        """Store a new secret under ``name`` and return the reference to it."""
        ...

    def delete(self, name: str) -> None: ...


# Added for `clawback drill` (resumable rotation): an optional extra a SecretStore may offer.
@dataclass(frozen=True)
class InterruptedRotation:
    """What an earlier attempt at the same rotation left behind when its process died."""

    started_at: datetime  # when that attempt began: anything created since may be its own
    store_name: str = ""  # the name it stored its new secret under, if it got that far
    pending: SecretValue | None = field(default=None, repr=False)  # that stored secret
    account: str = ""  # whose key it was creating (an IAM user), when it recorded that


@runtime_checkable
class RotationLedger(Protocol):
    """A SecretStore that keeps a durable record of one credential's rotation.

    A responder that can resume checks ``isinstance(store, RotationLedger)``: ``interrupted()``
    tells it what a crashed attempt left (a stored pending secret to reuse, the time after
    which an unstored new key is an orphan), and ``reached(stage)`` records each stage as it
    is reached: ``current`` (the new secret works), ``previous`` (the old one is disabled),
    ``retired`` (the old one is deleted). The store itself records ``pending``.
    """

    def interrupted(self) -> InterruptedRotation | None: ...

    def reached(self, stage: str, *, account: str = "") -> None:
        """Record ``stage``; ``account`` names whose key is being made (recorded before the
        create call, so a resume knows where an unstored orphan would be)."""
        ...


@dataclass(frozen=True)
class AgentProof:
    """Whether the agent is proven to use a new secret, and how (or why not)."""

    proven: bool
    how: str


@runtime_checkable
class AgentHandover(Protocol):
    """A SecretStore that can tell when the agent has taken up the new secret it stored.

    A rotating responder asks ``await_agent`` after its new key works and *before* it retires
    the old one, passing ``last_used`` when the provider keeps a last-used time of the old key
    (it returns that time, or None when it was never used). Not proven: the old key stays.
    """

    def await_agent(
        self, *, last_used: Callable[[], datetime | None] | None = None
    ) -> AgentProof: ...


def await_agent(
    store: SecretStore, last_used: Callable[[], datetime | None] | None = None
) -> AgentProof:
    """``store.await_agent`` when it offers one; a plain store (contain, where the agent is
    stopped and its old key already revoked) has nothing to wait for."""
    if isinstance(store, AgentHandover):
        return store.await_agent(last_used=last_used)
    return AgentProof(True, "no running agent to switch over")


def handed_over(
    store: SecretStore, facts: dict[str, Any], stays: str,
    last_used: Callable[[], datetime | None] | None = None,
) -> Failed | None:
    """None once the agent is proven on the new secret (``facts["agent"]`` says how); else the
    rotation stops with ``stays`` (what is left live, e.g. "the old key … stays Active")."""
    proof = await_agent(store, last_used)
    facts["agent"] = proof.how
    if proof.proven:
        return None
    return Failed(error=f"the new secret is stored and works, but {stays}: {proof.how}",
                  facts=dict(facts))


# --------------------------------------------------------------------------------------------
# Outcomes: each kind of result is its own type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one target. ``facts`` is JSON-safe and holds no secret."""

    detail: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)

    status: ClassVar[str] = "ok"

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def succeeded(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Done(Outcome):
    """A host action completed (service stopped, network cut, ...)."""


@dataclass(frozen=True)
class Revoked(Outcome):
    """The credential is dead at the provider."""


@dataclass(frozen=True)
class Disabled(Outcome):
    """The credential is switched off but can be switched back on."""


@dataclass(frozen=True)
class Rotated(Outcome):
    """A replacement exists and is stored; the old credential is dead."""

    new_fingerprint: str = ""
    new_reference: str = ""


@dataclass(frozen=True)
class AlreadyRevoked(Outcome):
    """The provider says the credential is already dead: success, so re-runs are idempotent."""


@dataclass(frozen=True)
class VerifiedDead(Outcome):
    """The provider's unambiguous answer says the credential is dead: its documented code for
    an invalid credential, plus its own record of the key where it keeps one."""


@dataclass(frozen=True)
class Unproven(Outcome):
    """Revoked (or asked to be), not proven dead: the provider's answer is ambiguous.

    A 401 can mean a missing scope, an IP outside an allow-list, the wrong endpoint for this
    kind of token; a missing key can sit in a project the admin cannot see. ``reason`` says
    what the provider answered and why that proves nothing; ``check`` what the operator should
    look at to settle it, ``url`` where. Never counted as dead: the runner lists it with what a
    human must still do, and the run exits 3.
    """

    reason: str = ""
    check: str = ""
    url: str = ""

    status: ClassVar[str] = "unproven"


@dataclass(frozen=True)
class KeyUse:
    """One use of a credential the provider recorded (an API call it logged)."""

    at: str  # RFC 3339, UTC
    action: str  # e.g. "s3.amazonaws.com ListBuckets"
    source_address: str = ""
    region: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class UsageReport(Outcome):
    """What the provider says of a credential's use; read-only, nothing changed.

    ``last_used`` is the provider's last-use time ("" when it records none); ``uses`` the
    calls it lists, newest first, up to what was asked for (``complete`` says whether that is
    all it keeps); ``sources`` the APIs asked; ``caveat`` what the answer cannot say (a
    provider that records uses hours late, a log that was not available).
    """

    last_used: str = ""
    last_service: str = ""
    last_region: str = ""
    uses: tuple[KeyUse, ...] = ()
    complete: bool = False
    sources: tuple[str, ...] = ()
    caveat: str = ""


@dataclass(frozen=True)
class ManualRequired(Outcome):
    """Only a human can finish this; ``instructions`` say exactly what to do."""

    instructions: str = ""
    url: str = ""

    status: ClassVar[str] = "manual"


@dataclass(frozen=True)
class Failed(Outcome):
    """The action did not happen. ``retryable`` failures are retried by the runner."""

    error: str = ""
    retryable: bool = False
    retry_after: float | None = None

    status: ClassVar[str] = "failed"


@dataclass(frozen=True)
class Skipped(Outcome):
    """Nothing to do, and nothing was done."""

    reason: str = ""

    status: ClassVar[str] = "skipped"


@dataclass(frozen=True)
class Refused(Outcome):
    """An approval was denied or could not be asked for."""

    reason: str = ""

    status: ClassVar[str] = "refused"


@dataclass(frozen=True)
class Planned(Outcome):
    """What ``plan()`` would do: commands or requests, none of them sent."""

    action: str = ""
    commands: tuple[str, ...] = ()

    status: ClassVar[str] = "planned"


@dataclass(frozen=True)
class EvidenceItem:
    """One collected artifact, as recorded in the evidence manifest."""

    evidence_id: str
    kind: str  # "file" | "command"
    source: str
    stored_path: str
    size: int
    sha256: str
    collected_at: str
    archive: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    mtime: float | None = None
    ctime: float | None = None
    argv: tuple[str, ...] = ()
    exit_code: int | None = None
    truncated: bool = False
    original_size: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Collected(Outcome):
    """An evidence snapshot sealed into an archive."""

    archive: str = ""
    archive_sha256: str = ""
    items: tuple[EvidenceItem, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (source, reason)


@dataclass(frozen=True)
class PreflightCheck:
    """One capability proved (or not) by ``preflight()``."""

    provider: str
    capability: str
    ok: bool
    detail: str = ""
    missing_permission: str = ""


@dataclass(frozen=True)
class ConfigSetting:
    """One line of a responder's ``[providers.X]`` table as ``clawback init`` writes it."""

    key: str
    value: Any  # str, bool, int, a list or dict of those: never a secret, only a reference
    comment: str = ""
    optional: bool = False  # written commented out: an example to fill in, not needed


@dataclass(frozen=True)
class ProviderSetup:
    """What a responder needs in clawback.toml, for ``clawback init`` and ``clawback runbook``.

    ``permissions`` are what its admin credential must be allowed to do for ``contain``
    (and what ``preflight()`` probes); ``console`` is where that credential is made. An
    empty ``settings`` means the responder works without a table of its own.
    """

    settings: tuple[ConfigSetting, ...] = ()
    permissions: tuple[str, ...] = ()
    console: str = ""
    note: str = ""

    def references(self) -> list[str]:
        """The credential references among the settings that must be filled in."""
        return [s.value for s in self.settings
                if not s.optional and isinstance(s.value, str)
                and s.value.startswith(("keyring:", "env:"))]


def admin_reference(provider: str) -> str:
    """The keyring reference ``clawback init`` proposes for a provider's admin credential."""
    return f"keyring:clawback/{provider}-admin"


# --------------------------------------------------------------------------------------------
# Responders
# --------------------------------------------------------------------------------------------


class Capability(enum.StrEnum):
    REVOKE = "revoke"
    DISABLE = "disable"
    ROTATE = "rotate"
    VERIFY_REVOKED = "verify_revoked"
    PREFLIGHT = "preflight"
    MANUAL = "manual"
    # Read-only: what the provider itself says of a credential's use (``usage``).
    USAGE = "usage"
    # The provider has no call that creates a key: the operator makes the replacement by hand
    # and pastes it, and ``accept_replacement`` stores and proves it.
    ACCEPT_REPLACEMENT = "accept_replacement"


FanOut = Callable[[Callable[[T], R], Sequence[T]], list[R]]


def serial_fan_out(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    return [func(item) for item in items]


@dataclass(frozen=True)
class RateLimit:
    """How hard the engine may drive one provider account, as the provider documents it.

    The engine's fan-out for a responder never has more than ``concurrent`` requests in flight,
    and, when the provider documents a rate, starts at most ``requests`` in any ``per_seconds``
    (a token bucket that starts full, so a burst up to the documented quota goes at once).
    ``source`` says where the numbers come from; a provider that documents none says so.
    """

    concurrent: int
    requests: int | None = None
    per_seconds: float = 1.0
    source: str = ""

    def __post_init__(self) -> None:
        if self.concurrent < 1 or (self.requests is not None and self.requests < 1):
            raise ValueError("a rate limit allows at least one request")


# For a responder that declares nothing (a third-party provider, a local stand-in): as many at
# once as httpx's default pool holds, and no pacing beyond the provider's own 429 answers,
# which the runner retries with backoff.
UNDECLARED_RATE_LIMIT = RateLimit(
    concurrent=100, source="none declared: httpx's default pool of 100 connections"
)


@dataclass(frozen=True)
class ResponderContext:
    """What the engine hands a responder. ``config`` is its own ``[providers.<name>]`` table."""

    config: Mapping[str, Any] = field(default_factory=dict)
    secrets: SecretStore | None = None
    dry_run: bool = False
    incident_id: str = ""
    incident_dir: Path | None = None
    fan_out: FanOut = serial_fan_out
    settings: Mapping[str, Any] = field(default_factory=dict)  # whole config, read-only
    # The machine a host action acts on: None is this one; a fleet run passes its connection to
    # a remote agent host here (see clawback.fleet).
    host: Any = None
    host_name: str | None = None
    # The agent clawback protects (entry-point group ``clawback.agents``), for what host code
    # must ask it (the workspaces its config names) without naming it. Called on first use:
    # loading it loads the agent's discovery, which the panic path leaves until after the stop.
    # None (a bare responder call): host code knows only the agent's default layout.
    agent_keeper: Callable[[], AgentKeeper] | None = None


class Responder:
    """Base class for a key responder. Override what the provider's API allows.

    ``revoke_all`` defaults to the engine's concurrent fan-out over ``revoke``; override it for
    batch APIs such as GitHub's ``/credentials/revoke``.
    """

    name: ClassVar[str] = ""
    providers: ClassVar[frozenset[str]] = frozenset()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    actions: ClassVar[Mapping[str, type[Action]]] = {}
    # A fallback responder gets every credential whose provider no other responder claims
    # (the guided manual steps for "unknown provider" secrets).
    fallback: ClassVar[bool] = False
    # A responder that only edits local files (the agent's own tokens) may act without a
    # [providers.X] table; one that talks to a provider's API may not.
    needs_config: ClassVar[bool] = True
    # What the provider documents about request rates: the engine's fan-out (``context.fan_out``)
    # keeps to it, so thousands of keys neither trip the provider's limiter nor wait on a fixed
    # cap that has nothing to do with the provider.
    rate_limit: ClassVar[RateLimit] = UNDECLARED_RATE_LIMIT
    # A responder whose rotation itself rewrites the agent's own files (its gateway token is the
    # agent's secret, not a provider's): the drill's store keeps the record and writes nothing.
    rewrites_agent_files: ClassVar[bool] = False

    def __init__(self, context: ResponderContext) -> None:
        self.context = context

    @classmethod
    def agent_value(cls, stored: SecretValue) -> AgentValue:
        """What the agent's files hold of a replacement this responder stored with
        ``SecretStore.store``: by default the stored value itself. A responder that stores
        more than the secret (an AWS key id and secret as one JSON pair) says how to split it."""
        return AgentValue(stored)

    def handles(self, cred: Credential) -> bool:
        return cred.provider in self.providers

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Validate this responder's ``[providers.X]`` table before anything runs; raise
        ResponderError naming the bad key. Reads nothing and sends nothing."""

    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup | None:
        """What this responder needs in ``[providers.<name>]`` to act on ``found`` (the
        credentials discovery found for its providers), with the permissions its admin
        credential needs. None: it needs nothing from clawback.toml. Sends nothing."""
        return None

    def configured_targets(self) -> list[Credential]:
        """Targets named in this responder's config rather than discovered (IAM users, deploy
        keys, webhooks...). Must not send any request."""
        return []

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        """What ``revoke_all`` would do, sending nothing: ``Planned``, or the outcome the real
        run would certainly have (a manual step), so a dry run predicts the real run."""
        return [
            (c, Planned(action="revoke", detail=f"revoke {c.kind} {c.fingerprint}"))
            for c in creds
        ]

    def revoke(self, cred: Credential) -> Outcome:
        return ManualRequired(
            instructions=f"Revoke the {cred.kind} {cred.fingerprint} in the provider's console.",
        )

    def revoke_all(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        outcomes = self.context.fan_out(self.revoke, list(creds))
        return list(zip(creds, outcomes, strict=True))

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        return ManualRequired(
            instructions=f"Create a replacement for {cred.kind} {cred.fingerprint} by hand.",
        )

    def accept_replacement(
        self, cred: Credential, new_value: SecretValue, store: SecretStore
    ) -> Outcome:
        """Take the replacement the operator made by hand and pasted for ``cred`` (after
        ``rotate`` asked for one): store it through ``store``, prove it works, withdraw it if
        it does not. Declared with ``Capability.ACCEPT_REPLACEMENT``; the engine asks only
        then. ``new_value`` is never echoed."""
        return Skipped(reason=f"{self.name} makes its replacements itself: nothing to paste")

    def verify_revoked(self, cred: Credential) -> Outcome:
        return Skipped(reason=f"{self.name} cannot check whether a key is dead")

    def usage(self, cred: Credential) -> Outcome:
        """What the provider says of ``cred``'s use (``UsageReport``), read-only; declared with
        ``Capability.USAGE``. ``cred`` carries no secret here: only its kind, fingerprint and
        key id, from the incident's timeline."""
        return Skipped(reason=f"{self.name} cannot say how a key was used")

    def preflight(self) -> list[PreflightCheck]:
        return []


class Action:
    """A non-key step (``host.snapshot``, ``host.stop_service``, ...).

    ``Params`` is a pydantic model validated against the step's ``with:`` before anything runs,
    or a frozen dataclass of flat values pydantic validates the same way (the actions that run
    before the stop, which must not load pydantic: ``responders.kit.plain_params``).
    ``targets`` and ``plan`` are read-only; only ``execute`` may change anything.
    """

    name: ClassVar[str] = ""
    state_changing: ClassVar[bool] = True
    # The engine writes and prints a checkpoint right before such an action (network cut: the
    # last moment the operator can copy it off the host).
    checkpoint_before: ClassVar[bool] = False
    Params: ClassVar[type[Any]]

    def __init__(self, context: ResponderContext, params: Any) -> None:
        self.context = context
        self.params = params

    def targets(self) -> Sequence[str]:
        return ["localhost"]

    def plan(self, target: str) -> Outcome:
        """What ``execute`` would do (``Planned``), changing nothing; or, when a read-only look
        already shows it, the outcome the real run would have (nothing to stop: a manual step),
        so a dry run predicts the real run."""
        raise NotImplementedError

    def execute(self, target: str) -> Outcome:
        raise NotImplementedError

    def recheck(self, target: str, closing: threading.Event) -> Outcome | None:
        """Keep proving, beside the next steps, what a successful ``execute`` did (a stopped
        service stays stopped), so the playbook need not wait for it.

        The engine calls this in the background right after ``execute`` succeeded and records
        what it returns as its own result before the incident closes; a Failed one fails the
        step after all. ``closing`` is set when the engine is about to close: watch at least as
        long as the proof needs, then until ``closing``, and return. None: nothing to re-check.
        Must not change anything.
        """
        return None


# --------------------------------------------------------------------------------------------
# The agent itself (entry-point group ``clawback.agents``)
# --------------------------------------------------------------------------------------------

AGENT_ENTRY_POINT_GROUP = "clawback.agents"


@dataclass(frozen=True)
class AgentValue:
    """What the agent holds of a stored replacement: the secret, and the key id beside it when
    the provider pairs one with the secret."""

    secret: SecretValue
    key_id: str | None = None


@dataclass(frozen=True)
class SwitchBlocker:
    """A place the agent reads a credential from that clawback cannot rewrite (a store, a
    free-text file): rotating in place would kill the key the agent still reads there."""

    location: Location
    reason: str


class AgentInventory(Protocol):
    """What discovery found: the credentials, what it could not read (``notes``), the free
    text it left for a second pass (``deferred``), and whether an install was found at all
    (nothing found is not all clear)."""

    @property
    def credentials(self) -> Sequence[Credential]: ...

    @property
    def notes(self) -> Sequence[str]: ...

    @property
    def deferred(self) -> Sequence[Path]: ...

    @property
    def found_install(self) -> bool: ...

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ConfigFile:
    """One file of the agent's config: what it holds, parsed, and where that lands in the
    whole (``mount``: the key path an include is mounted at; () for the main file)."""

    path: Path
    data: Any
    mount: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class AgentConfig:
    """One install's config as the agent reads it: the merged whole and the files it is made
    of (includes followed, confined as the agent confines them), and what could not be read."""

    path: Path
    state_dir: Path  # the install it configures
    merged: Mapping[str, Any]
    files: tuple[ConfigFile, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentService:
    """A service definition that runs (or ran) the agent: names and paths, never values."""

    kind: str  # systemd-user | systemd | launchd | schtasks
    name: str
    path: str
    version: str | None = None  # the agent's version the definition names, if it does


@dataclass(frozen=True)
class AgentLock:
    """A lock file the running agent holds: ``pid`` names the process serving the install
    while ``alive`` (the lock is read from the agent's tree, so never trusted beyond that)."""

    path: str
    pid: int | None
    alive: bool


@dataclass(frozen=True)
class AgentSurvey:
    """The agent's install as a hardening audit reads it, read-only: the credentials it can
    reach, its state dirs, every config found (former names' leftovers included), the service
    definitions that run it, the ports it listens on (or would), its live lock files, and what
    could not be read (``notes``). Nothing found is not all clear."""

    credentials: tuple[Credential, ...]
    state_dirs: tuple[Path, ...]
    configs: tuple[AgentConfig, ...] = ()
    services: tuple[AgentService, ...] = ()
    ports: tuple[int, ...] = ()
    locks: tuple[AgentLock, ...] = ()
    notes: tuple[str, ...] = ()


class ReplacementWritten(Protocol):
    """The files a replacement was written to (``facts()`` is what the timeline records)."""

    def facts(self) -> dict[str, Any]: ...


class AgentKeeper(Protocol):
    """The agent clawback protects, as the engine may ask about it.

    ``agent`` is clawback.toml's ``[agent]`` table; ``settings`` the whole validated config.
    Discovery reads and never writes; ``write_replacement`` is all or nothing and raises
    ResponderError saying what failed (see the OpenClaw implementation).
    """

    name: str
    # The file names of the agent's own config, its former names included (a backup is one of
    # these names followed by ``.bak``).
    config_names: tuple[str, ...]

    def discover(
        self, agent: Mapping[str, Any], user_home: Path | None = None, *,
        free_text: bool = True, budget_seconds: float | None = None,
    ) -> AgentInventory: ...

    def discover_deferred(
        self, first: AgentInventory, agent: Mapping[str, Any], *,
        budget_seconds: float | None = None,
    ) -> AgentInventory: ...

    def survey(
        self, *, user_home: Path, state_dirs: Sequence[Path] | None = None,
        tmp_dirs: Sequence[Path] = (), env: Mapping[str, str] | None = None,
        system_root: Path = Path("/"),
    ) -> AgentSurvey:
        """What ``clawback audit`` judges (``state_dirs`` None: find them; ``env``: the
        agent's environment if known; ``system_root`` holds the system's service definitions,
        ``/`` on a real host). Reads, never writes, and follows no link in the agent's tree."""
        ...

    def agent_files(self, settings: Mapping[str, Any]) -> AgentFiles: ...

    def backups(self, incident_dir: Path) -> BackupStore: ...

    def switch_blockers(self, cred: Credential) -> list[SwitchBlocker]: ...

    def workspace_dirs(self, state_dir: Path, user_home: Path,
                       files: AgentFiles | None = None) -> Sequence[Path]:
        """The workspaces the agent's config in ``state_dir`` names (its default one too),
        read through ``files`` (the agent's tree, no link followed); reads only."""
        ...

    def process_signature(self, name: str, cmdline: Sequence[str]) -> str | None:
        """Why a process with this name and command line looks like the agent (None: it
        does not); read from the process table, so never trusted beyond that."""
        ...

    def write_replacement(
        self, cred: Credential, new: SecretValue, backups: BackupStore, *,
        old: SecretValue | None = None, companions: Sequence[tuple[str, str]] = (),
        files: AgentFiles | None = None,
    ) -> ReplacementWritten: ...


# --------------------------------------------------------------------------------------------
# The host, afterwards: its network cut, its supervisors (entry-point group ``clawback.host``)
# --------------------------------------------------------------------------------------------

HOST_ENTRY_POINT_GROUP = "clawback.host"


@dataclass(frozen=True)
class CutState:
    """A network cut as its record in an incident stands now.

    ``timer_running`` and ``in_place`` are None when they cannot be looked at (the record was
    made on another machine or in another network namespace, no root, no nft): unknown, not no.
    """

    table: str
    status: str
    rollback_armed: bool = False
    rollback_deadline: float | None = None  # epoch seconds, while armed
    confirmed_at: str | None = None
    restored_at: str | None = None
    restored_by: str | None = None
    timer_running: bool | None = None
    in_place: bool | None = None


class HostKeeper(Protocol):
    """This machine as the engine asks about it outside a run: the network cut a host
    responder made (``clawback status``, ``clawback restore-network``) and which supervisor
    would respawn a process (``clawback audit``)."""

    def cut_state(self, incident_dir: Path) -> CutState | None:
        """The cut recorded in ``incident_dir`` (None: none is); changes nothing."""
        ...

    def confirm_cut(self, incident_dir: Path) -> Outcome:
        """Keep the cut: disarm its auto-rollback."""
        ...

    def restore(self, incident_dir: Path) -> Outcome:
        """Remove exactly what the cut added."""
        ...

    def supervisor_of(self, pid: int) -> str | None:
        """``kind:name`` of the supervisor that would respawn ``pid`` (supervisord, systemd,
        docker), None when none is found or the process is gone."""
        ...


# --------------------------------------------------------------------------------------------
# Fleet hosts over SSH (entry-point group ``clawback.remote``)
# --------------------------------------------------------------------------------------------

REMOTE_ENTRY_POINT_GROUP = "clawback.remote"


class RemoteSession(Protocol):
    """One fleet host reached over SSH: ``open()`` connects (raising ResponderError with
    advice when it cannot) and answers the host's facts; ``call()`` runs one command there."""

    name: str

    def open(self) -> Mapping[str, Any]: ...

    def call(self, command: str, params: Mapping[str, Any], *,
             timeout: float = ...) -> Mapping[str, Any]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class RemoteHosts(Protocol):
    """What a responder offers for fleet hosts (``contain --hosts``, ``restore-network``):
    sessions, each action as it runs over SSH, and reading what a host's agent discovered."""

    def target_label(self, ssh: str) -> str:
        """``ssh`` (``user@host:port``) as the timeline names it; text that is no SSH target
        raises ValueError saying how to write one."""
        ...

    def connect(self, name: str, ssh: str, *, known_hosts: Path, private_key: Any = None,
                sudo: bool = False, python: str = "python3", connect_timeout: float = 10.0,
                if_unreachable: str | None = None) -> RemoteSession:
        """A session not yet opened; ``if_unreachable`` ends the advice of a failed open."""
        ...

    def over_ssh(self, uses: str) -> type[Action]:
        """The action ``uses`` names as a fleet host runs it (a manual step where none is)."""
        ...

    def on_host_responder(self, providers: frozenset[str],
                          replaced: Sequence[str]) -> type[Responder]:
        """Stands in for the key responders that act on local files: a manual step per host."""
        ...

    def host_credentials(self, host: str, answer: Mapping[str, Any]) -> list[Credential]: ...

    def merge(self, per_host: Iterable[Sequence[Credential]]
              ) -> tuple[list[Credential], list[str]]:
        """One credential per secret across hosts, and notes on what was merged."""
        ...

    def state_dir(self, incident_id: str) -> str:
        """Where a host's agent keeps an incident's records (the network cut's)."""
        ...

    def agent_sha256(self) -> str:
        """The SHA-256 of the agent uploaded to every host (the timeline records it)."""
        ...

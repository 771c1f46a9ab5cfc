"""``host.snapshot``: copy the agent's evidence into one tar.gz, hashing every byte on its way in.

The archive is written by ``responders.hostprobes.archive`` (the fleet agent writes its archives
with the same code): each source file is opened once, and the same streaming pass copies it
into the archive and feeds its SHA-256, so the hash in the manifest is the hash of exactly what
was stored, even if the file changes under us. Here compression runs in ISA-L (igzip) worker
threads while this thread reads and hashes, which keeps the snapshot at the speed of
``tar | sha256sum``.

The archive keeps original file contents (it is 0600 in a 0700 directory); everything this
module *returns* (outcome detail, facts, evidence items) names paths and hashes only.

Besides logs, transcripts, configs, databases and unit files, the full pass keeps what says
what the agent was told and who it is: each workspace's top-level files (``AGENTS.md``,
``SOUL.md``, ``BOOTSTRAP.md``, ``MEMORY.md``, ...; its ``.env`` is a secret store, not
evidence), its ``memory/`` and ``.openclaw/`` trees, and ``identity/`` (this host's device key
and tokens), and the gateway's stdout/stderr as supervisord keeps them (found from its config
files, so after the stop too).

The agent's home, state dirs and temp dirs are hostile (``responders.agent_files``): nothing
there is reached through a link (a link is recorded with its target as a skipped source, never
followed, so a link to ``/etc/shadow`` or ``/dev/zero`` collects nothing), nothing there can
block the snapshot (FIFOs, devices and sockets are skipped), and names that are not UTF-8 are
kept exactly. A sparse file stores only its first (or, for a log tail, last)
``SPARSE_KEPT_BYTES``, and the volatile pass has a total budget, so an agent that planted
multi-GB sparse logs cannot delay the stop that waits for it; both are recorded in the items.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from responders.agent_files import AgentFiles
from responders.hostprobes.archive import (
    CHUNK_BYTES,
    SPARSE_KEPT_BYTES,
    SPARSE_MIN_BYTES,
    VOLATILE_TOTAL_BYTES,
    CommandCapture,
    CompressedStream,
    EvidenceArchive,
    MiB,
    Writable,
    collect_listing,
    json_bytes,
    snapshot_caps,
    utc_now,
)
from responders.hostprobes.collection import CollectionPlan, WorkspaceFinder, os_error_reason
from responders.hostprobes.collection import build_plan as plan_collection
from responders.interface import (
    Action,
    AgentFootprint,
    AgentKeeper,
    Collected,
    Failed,
    Planned,
    ResponderError,
)
from responders.kit.plain_params import FORBID_EXTRA, from_table, within
from responders.kit.private_files import make_private_dir

if TYPE_CHECKING:
    from concurrent.futures import Future

# The archive's names the tests and bench read from here (one writer: hostprobes.archive).
__all__ = [
    "SPARSE_KEPT_BYTES",
    "SPARSE_MIN_BYTES",
    "VOLATILE_TOTAL_BYTES",
    "EvidenceArchive",
    "SnapshotAction",
    "SnapshotParams",
    "collect_listing",
    "utc_now",
]

# ISA-L level 1 measured fastest on mixed log data here (level 0 is no faster on text and grows
# incompressible data by 23%); see bench/evidence.py.
COMPRESS_LEVEL = 1
# Compression threads; None = one per CPU left over by this (reading, hashing) thread, at most
# 4. On 2 CPUs a second compressor measured slower: it competes with the hashing thread.
COMPRESS_THREADS: int | None = None


@dataclass(frozen=True)
class SnapshotParams:
    """The playbook step's ``with:`` (a plain dataclass: the volatile snapshot runs before the
    stop, which loads no pydantic; see ``responders.kit.plain_params``)."""

    __pydantic_config__ = FORBID_EXTRA

    volatile: bool = False
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    extra_paths: list[str] = field(default_factory=list)
    system_artifacts: bool = True
    # The gateway prunes logs older than 24 h on restart; the volatile pass keeps each log's end.
    log_tail_bytes: int = 16 * MiB
    command_timeout: float = 30.0

    def __post_init__(self) -> None:
        within("max_file_bytes", self.max_file_bytes, at_least=0)
        within("max_total_bytes", self.max_total_bytes, at_least=0)
        within("log_tail_bytes", self.log_tail_bytes, above=0)
        within("command_timeout", self.command_timeout, above=0)


@dataclass(frozen=True)
class AgentLayout:
    """``settings["agent"]``: where the agent lives. Other keys belong to other steps."""

    state_dirs: list[str] = field(default_factory=list)
    user_home: str | None = None
    tmp_dirs: list[str] = field(default_factory=lambda: ["/tmp"])
    uid: int | None = None
    gateway_port: int = 18789

    @classmethod
    def from_settings(cls, table: Mapping[str, Any] | None) -> AgentLayout:
        return from_table(cls, table, what="agent")


@dataclass(frozen=True)
class EvidenceSettings:
    """``settings["evidence"]``: defaults for the caps; a step's params override them."""

    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    # Prefix for host-wide paths (/var/log, /etc/cron.d, ...): "/" on a live host.
    system_root: str = "/"

    def __post_init__(self) -> None:
        within("evidence.max_file_bytes", self.max_file_bytes, at_least=0)
        within("evidence.max_total_bytes", self.max_total_bytes, at_least=0)

    @classmethod
    def from_settings(cls, table: Mapping[str, Any] | None) -> EvidenceSettings:
        return from_table(cls, table, what="evidence")


def snapshot_caps_for(params: SnapshotParams, evidence: EvidenceSettings
                      ) -> tuple[int | None, int | None]:
    """(per-file, total) caps: the step's, else ``[evidence]``'s; a volatile pass always has a
    total (``hostprobes.archive.snapshot_caps``). The fleet's snapshot sends the same."""
    return snapshot_caps(
        volatile=params.volatile,
        max_file_bytes=(params.max_file_bytes if params.max_file_bytes is not None
                        else evidence.max_file_bytes),
        max_total_bytes=(params.max_total_bytes if params.max_total_bytes is not None
                         else evidence.max_total_bytes),
    )


# --------------------------------------------------------------------------------------------
# What to collect (read-only)
# --------------------------------------------------------------------------------------------


def build_plan(
    layout: AgentLayout,
    settings: EvidenceSettings,
    params: SnapshotParams,
    service_logs: Sequence[str] = (),
    agent: Callable[[], AgentKeeper] | None = None,
    *,
    footprint: AgentFootprint,
) -> CollectionPlan:
    """What a snapshot would collect (``hostprobes.collection.build_plan``, which the fleet
    agent runs too), from this step's settings; runs nothing. ``footprint`` is how the agent
    shows on the host (``AgentKeeper.footprint``); ``agent`` names the workspaces
    (``ResponderContext.agent_keeper``); without it only the default one is collected."""
    return plan_collection(
        footprint=footprint, user_home=layout.user_home, state_dirs=layout.state_dirs,
        tmp_dirs=layout.tmp_dirs,
        uid=layout.uid, volatile=params.volatile, system_artifacts=params.system_artifacts,
        extra_paths=params.extra_paths, system_root=settings.system_root,
        service_logs=service_logs, workspaces=_workspace_finder(agent),
    )


def _workspace_finder(agent: Callable[[], AgentKeeper] | None) -> WorkspaceFinder | None:
    if agent is None:
        return None

    def find(state: Path, home: Path, tree: AgentFiles | None) -> Sequence[Path]:
        # Loaded when a workspace is looked up (the full pass, after the stop), not by the
        # volatile pass before it: the panic path loads no discovery before the stop signal.
        return agent().workspace_dirs(state, home, tree)

    return find


# --------------------------------------------------------------------------------------------
# The archive (the only place that reads evidence): responders.hostprobes.archive, which the
# fleet agent writes with too; here it compresses in ISA-L worker threads.
# --------------------------------------------------------------------------------------------


def isal_stream(sink: Writable) -> CompressedStream:
    """ISA-L's threaded gzip at ``COMPRESS_LEVEL`` with ``COMPRESS_THREADS``: the reading and
    hashing thread never waits for compression (the speed of ``tar | sha256sum``)."""
    from isal import igzip_threaded

    threads = COMPRESS_THREADS or max(1, min(4, len(os.sched_getaffinity(0)) - 1))
    stream: CompressedStream = igzip_threaded.open(
        sink, "wb", compresslevel=COMPRESS_LEVEL, threads=threads, block_size=CHUNK_BYTES
    )
    return stream


def _close_spools(captures: list[Future[CommandCapture]]) -> None:
    for future in captures:
        with contextlib.suppress(Exception):  # a capture that failed has nothing to close
            spool = future.result().spool
            if spool is not None:
                spool.close()


# --------------------------------------------------------------------------------------------
# Generated items
# --------------------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def process_tree() -> bytes:
    import psutil

    procs = []
    attrs = ["pid", "ppid", "name", "exe", "cmdline", "username", "create_time", "status", "cwd"]
    for proc in psutil.process_iter(attrs=attrs, ad_value=None):
        info = dict(proc.info)
        if info.get("create_time"):
            info["create_time"] = _iso(info["create_time"])
        procs.append(info)
    procs.sort(key=lambda p: p["pid"])
    return json_bytes({"collected_at": utc_now(), "processes": procs})


def sockets(gateway_port: int) -> bytes:
    import psutil

    found = psutil.net_connections(kind="inet")
    # Ordered and filtered on psutil's typed tuples; the rows built from them are mixed JSON.
    found.sort(key=lambda c: (tuple(c.laddr), tuple(c.raddr), c.pid or 0))
    listeners = sorted(
        {
            c.pid or 0
            for c in found
            if c.status == "LISTEN" and c.laddr and c.laddr[1] == gateway_port
        }
    )
    conns = [
        {
            "fd": c.fd,
            "family": c.family.name,
            "type": c.type.name,
            "laddr": list(c.laddr) if c.laddr else None,
            "raddr": list(c.raddr) if c.raddr else None,
            "status": c.status,
            "pid": c.pid,
        }
        for c in found
    ]
    return json_bytes(
        {
            "collected_at": utc_now(),
            "gateway_port": gateway_port,
            "gateway_listener_pids": listeners,
            "connections": conns,
        }
    )


# --------------------------------------------------------------------------------------------
# The action
# --------------------------------------------------------------------------------------------


class SnapshotAction(Action):
    """Snapshot the agent's evidence (volatile: processes, sockets, locks, log tails)."""

    name: ClassVar[str] = "host.snapshot"
    state_changing: ClassVar[bool] = False
    Params: ClassVar[type[SnapshotParams]] = SnapshotParams

    params: SnapshotParams

    @property
    def label(self) -> str:
        return "volatile" if self.params.volatile else "full"

    def _settings(self) -> tuple[AgentLayout, EvidenceSettings]:
        try:
            layout = AgentLayout.from_settings(self.context.settings.get("agent"))
            evidence = EvidenceSettings.from_settings(self.context.settings.get("evidence"))
        except ValueError as err:
            raise ResponderError(
                f"host.snapshot: fix the [agent]/[evidence] config: {err}"
            ) from err
        if not layout.state_dirs and not layout.user_home:
            raise ResponderError(
                "host.snapshot: set agent.state_dirs (the agent's state directories) or "
                "agent.user_home in clawback.toml so the snapshot knows where the agent lives"
            )
        return layout, evidence

    def _caps(self, evidence: EvidenceSettings) -> tuple[int | None, int | None]:
        return snapshot_caps_for(self.params, evidence)

    def archive_path(self) -> Path:
        if self.context.incident_dir is None or not self.context.incident_id:
            raise ResponderError("host.snapshot needs an incident id and incident directory")
        evidence_dir = Path(self.context.incident_dir) / "evidence"
        base = f"{self.context.incident_id}-{self.label}"
        path = evidence_dir / f"{base}.tar.gz"
        n = 2
        # A resumed run never overwrites evidence an earlier attempt sealed.
        while path.exists():
            path = evidence_dir / f"{base}-{n}.tar.gz"
            n += 1
        return path

    def _service_logs(self) -> list[str]:
        if self.params.volatile:
            return []  # on the panic path before the stop; the full pass collects them
        from responders.host.service import supervised_log_files

        return supervised_log_files(self.context.settings, self.context.agent_footprint())

    def plan(self, target: str) -> Planned:
        layout, evidence = self._settings()
        collection = build_plan(layout, evidence, self.params, self._service_logs(),
                                self.context.agent_keeper,
                                footprint=self.context.agent_footprint())
        max_file, max_total = self._caps(evidence)
        # A dry run has no incident yet: name the archive the way a real run would.
        archive: Path | str = (
            self.archive_path()
            if self.context.incident_dir is not None and self.context.incident_id
            else f"evidence/<incident>-{self.label}.tar.gz"
        )
        sizes = 0
        for source in collection.files:
            with contextlib.suppress(OSError):
                size = os.stat(source.path).st_size
                sizes += min(size, self.params.log_tail_bytes) if source.tail else size
        commands = tuple(shlex.join(c.argv) for c in collection.commands)
        return Planned(
            action=self.name,
            commands=commands,
            detail=(
                f"would snapshot {len(collection.files)} files, {len(collection.listings)} "
                f"listings, {len(commands)} commands into {archive}"
            ),
            facts={
                "archive": str(archive),
                "label": self.label,
                "files": [s.path for s in collection.files],
                "tails": [s.path for s in collection.files if s.tail],
                "listings": collection.listings,
                "generated": collection.generated,
                "commands": list(commands),
                "missing": [list(m) for m in collection.missing],
                "estimated_bytes": sizes,
                "max_file_bytes": max_file,
                "max_total_bytes": max_total,
            },
        )

    def execute(self, target: str) -> Collected | Failed:
        layout, evidence = self._settings()
        started_at = utc_now()
        collection = build_plan(layout, evidence, self.params, self._service_logs(),
                                self.context.agent_keeper,
                                footprint=self.context.agent_footprint())
        max_file, max_total = self._caps(evidence)
        path = self.archive_path()
        make_private_dir(path.parent)
        incident = self.context.incident_id
        try:
            with EvidenceArchive(
                path,
                member_prefix=f"{incident}-{self.label}",
                id_prefix=f"{incident}-{self.label}",
                max_file_bytes=max_file,
                max_total_bytes=max_total,
                tree=collection.tree,
                compress=isal_stream,
            ) as archive:
                self._collect(archive, collection, layout)
        except OSError as err:
            return Failed(
                error=f"evidence archive {path} could not be written: {os_error_reason(err)}",
                detail=f"snapshot failed while writing {path.name}",
            )
        finished_at = utc_now()
        skipped = tuple(collection.missing) + tuple(archive.skipped)
        truncated = [i.evidence_id for i in archive.items if i.truncated]
        return Collected(
            archive=str(path),
            archive_sha256=archive.sha256,
            items=tuple(archive.items),
            skipped=skipped,
            detail=(
                f"{len(archive.items)} items ({archive.stored_bytes} bytes) sealed in "
                f"{path.name}; {len(truncated)} truncated, {len(skipped)} skipped"
            ),
            facts={
                "archive": str(path),
                "archive_sha256": archive.sha256,
                "archive_size": archive.size,
                "label": self.label,
                "items": len(archive.items),
                "stored_bytes": archive.stored_bytes,
                "truncated": truncated,
                "skipped": len(skipped),
                "started_at": started_at,
                "finished_at": finished_at,
            },
        )

    def _collect(
        self, archive: EvidenceArchive, collection: CollectionPlan, layout: AgentLayout
    ) -> None:
        generators = {
            "processes": process_tree,
            "sockets": lambda: sockets(layout.gateway_port),
        }
        with contextlib.ExitStack() as running:
            captures: list[Future[CommandCapture]] = []
            if collection.commands:
                # The commands (ss) are separate processes: they run while this one walks /proc,
                # which shortens the volatile snapshot that the stop waits for.
                from concurrent.futures import ThreadPoolExecutor

                pool = running.enter_context(
                    ThreadPoolExecutor(max_workers=len(collection.commands))
                )
                captures = [
                    pool.submit(archive.capture_command, command.argv,
                                timeout=self.params.command_timeout)
                    for command in collection.commands
                ]
                running.callback(_close_spools, captures)  # those not stored when this fails
            for name in collection.generated:
                try:
                    data = generators[name]()
                except Exception as err:  # psutil.AccessDenied and friends: evidence goes on
                    archive.skipped.append((f"psutil:{name}", f"{type(err).__name__}"))
                    continue
                archive.add_generated(f"{name}.json", data, source=f"psutil:{name}")
            for command, capture in zip(collection.commands, captures, strict=True):
                archive.store_command(command.name, capture.result())
        for source in collection.files:
            archive.add_file(
                source.path, tail_bytes=self.params.log_tail_bytes if source.tail else None
            )
        for root in collection.listings:
            collect_listing(archive, root)

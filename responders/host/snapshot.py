"""``host.snapshot``: copy the agent's evidence into one tar.gz, hashing every byte on its way in.

Each source file is opened once, and the same streaming pass copies it into the archive and
feeds its SHA-256, so the hash in the manifest is the hash of exactly what was stored, even if
the file changes under us. Compression runs in ISA-L (igzip) worker threads while this thread
reads and hashes, which keeps the snapshot at the speed of ``tar | sha256sum``.

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
import errno
import hashlib
import io
import json
import os
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from responders.agent_files import AgentFiles, UnsafeFile, kind_of
from responders.hostprobes.collection import (
    CollectionPlan,
    os_error_reason,
    walk_agent_files,
    walk_files,
)
from responders.hostprobes.collection import build_plan as plan_collection
from responders.interface import (
    Action,
    Collected,
    EvidenceItem,
    Failed,
    Planned,
    ResponderError,
)
from responders.kit.plain_params import FORBID_EXTRA, from_table, within
from responders.kit.private_files import FILE_MODE, make_private_dir

if TYPE_CHECKING:
    import tarfile
    from concurrent.futures import Future

MiB = 1024 * 1024
CHUNK_BYTES = MiB
# ISA-L level 1 measured fastest on mixed log data here (level 0 is no faster on text and grows
# incompressible data by 23%); see bench/evidence.py.
COMPRESS_LEVEL = 1
# Compression threads; None = one per CPU left over by this (reading, hashing) thread, at most
# 4. On 2 CPUs a second compressor measured slower: it competes with the hashing thread.
COMPRESS_THREADS: int | None = None
# Files at most this big inside extension/skill trees are stored; bigger ones are only hashed
# into the listing (node_modules can hold tens of thousands of files).
SMALL_FILE_BYTES = 64 * 1024
# A command's output spools to disk; without a per-file cap this bounds it.
DEFAULT_COMMAND_OUTPUT_BYTES = 512 * MiB
# The volatile pass runs before the stop: without a configured cap, this bounds what it copies
# (lock files first, then log tails), so planted gigabytes cannot delay the stop.
VOLATILE_TOTAL_BYTES = 128 * MiB
# A file with fewer bytes on disk than half its size, and bigger than this, is sparse: mostly
# holes an agent made to waste time. Only SPARSE_KEPT_BYTES of it are stored.
SPARSE_MIN_BYTES = 64 * MiB
SPARSE_KEPT_BYTES = 16 * MiB


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


# --------------------------------------------------------------------------------------------
# What to collect (read-only)
# --------------------------------------------------------------------------------------------


def build_plan(
    layout: AgentLayout,
    settings: EvidenceSettings,
    params: SnapshotParams,
    service_logs: Sequence[str] = (),
) -> CollectionPlan:
    """What a snapshot would collect (``hostprobes.collection.build_plan``, which the fleet
    agent runs too), from this step's settings; runs nothing."""
    return plan_collection(
        user_home=layout.user_home, state_dirs=layout.state_dirs, tmp_dirs=layout.tmp_dirs,
        uid=layout.uid, volatile=params.volatile, system_artifacts=params.system_artifacts,
        extra_paths=params.extra_paths, system_root=settings.system_root,
        service_logs=service_logs, workspaces=_workspace_dirs,
    )


def _workspace_dirs(state: Path, home: Path, tree: AgentFiles | None) -> Sequence[Path]:
    # Imported when a workspace is looked up (the full pass, after the stop), not by the
    # volatile pass before it: the panic path loads no discovery before the stop signal.
    from responders.openclaw.discovery import workspace_dirs

    return workspace_dirs(state, home, tree)


# --------------------------------------------------------------------------------------------
# The archive (the only place that reads evidence)
# --------------------------------------------------------------------------------------------


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _HashingSink:
    """The archive file: hashes and counts the compressed bytes as the gzip thread writes them."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()


class _CountingWriter:
    """Gives tarfile the ``tell()`` its 'w' mode needs; the threaded gzip writer can't seek."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._pos = 0

    def write(self, data: bytes) -> int:
        self._pos += len(data)
        return self._target.write(data)

    def tell(self) -> int:
        return self._pos


class _HashingReader:
    """Reads exactly ``length`` bytes from ``source``, hashing them on the way.

    A file that shrinks while read is padded with zeros to ``length`` so the tar member
    (whose size was already written in its header) stays well-formed; ``shortfall`` says how
    many bytes were padding, and the hash covers what was stored, padding included.
    """

    def __init__(self, source: IO[bytes], length: int) -> None:
        self._source = source
        self._remaining = length
        self.sha256 = hashlib.sha256()
        self.shortfall = 0

    def read(self, size: int) -> bytes:
        size = min(size, self._remaining)
        data = self._source.read(size) or b""
        while len(data) < size:
            more = self._source.read(size - len(data))
            if not more:
                self.shortfall += size - len(data)
                data += bytes(size - len(data))
                break
            data += more
        self._remaining -= len(data)
        self.sha256.update(data)
        return data


@dataclass(frozen=True)
class CommandCapture:
    """A command's stdout spooled to a temporary file, waiting to be stored in the archive;
    ``spool`` is None when the command could not run (``skip_reason`` says why)."""

    argv: tuple[str, ...]
    spool: IO[bytes] | None
    skip_reason: str = ""
    executable: str = ""
    exit_code: int | None = None
    total: int = 0
    limit: int = 0
    timed_out: bool = False
    timeout: float = 0.0
    collected_at: str = ""


class EvidenceArchive:
    """One tar.gz being written. Each ``add_*`` reads its source once and returns its item.

    Members live under ``<prefix>/files/<absolute path>``, ``<prefix>/commands/<name>.out`` and
    ``<prefix>/generated/<name>.json``. Caps truncate (recorded in the item), never silently.
    """

    def __init__(
        self,
        path: Path,
        *,
        member_prefix: str,
        id_prefix: str,
        max_file_bytes: int | None = None,
        max_total_bytes: int | None = None,
        compress_threads: int | None = None,
        tree: AgentFiles | None = None,
    ) -> None:
        import tarfile

        from isal import igzip_threaded

        self.tree = tree
        self.path = Path(path)
        self.member_prefix = member_prefix.strip("/")
        self.id_prefix = id_prefix
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.items: list[EvidenceItem] = []
        self.skipped: list[tuple[str, str]] = []
        self.stored_bytes = 0
        self._seen_inodes: dict[tuple[int, int], str] = {}
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        self._raw = os.fdopen(fd, "wb", buffering=0)
        self._sink = _HashingSink(self._raw)
        threads = (
            compress_threads
            or COMPRESS_THREADS
            or max(1, min(4, len(os.sched_getaffinity(0)) - 1))
        )
        self._gz = igzip_threaded.open(
            self._sink, "wb", compresslevel=COMPRESS_LEVEL, threads=threads, block_size=CHUNK_BYTES
        )
        # Closed by finish()/abort(): the archive outlives this constructor.
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=_CountingWriter(self._gz),  # type: ignore[arg-type]
            mode="w",
            format=tarfile.PAX_FORMAT,
            copybufsize=CHUNK_BYTES,
        )
        self._tarfile = tarfile
        self.sha256 = ""
        self.size = 0

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> EvidenceArchive:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    def finish(self) -> tuple[str, int]:
        """Seal the archive: flush, fsync, rename into place. Returns (sha256, size)."""
        self._tar.close()
        self._gz.close()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._partial, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.sha256 = self._sink.sha256.hexdigest()
        self.size = self._sink.size
        return self.sha256, self.size

    def abort(self) -> None:
        """Stop the gzip threads and drop the unfinished archive."""
        with contextlib.suppress(Exception):
            self._gz.close()
        with contextlib.suppress(OSError):
            self._raw.close()
        with contextlib.suppress(OSError):
            self._partial.unlink()

    # -- members ----------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self.id_prefix}-{len(self.items) + 1:04d}"

    def _budget(self, wanted: int) -> int:
        allowed = wanted
        if self.max_file_bytes is not None:
            allowed = min(allowed, self.max_file_bytes)
        if self.max_total_bytes is not None:
            allowed = min(allowed, max(0, self.max_total_bytes - self.stored_bytes))
        return allowed

    def _total_exhausted(self) -> bool:
        return self.max_total_bytes is not None and self.stored_bytes >= self.max_total_bytes

    def _member(
        self, name: str, size: int, mode: int, uid: int, gid: int, mtime: float
    ) -> tarfile.TarInfo:
        info = self._tarfile.TarInfo(f"{self.member_prefix}/{name}")
        info.size = size
        info.mode = mode
        info.uid = uid
        info.gid = gid
        info.mtime = int(mtime)
        return info

    def _store(self, info: tarfile.TarInfo, reader: _HashingReader) -> None:
        self._tar.addfile(info, reader)  # type: ignore[arg-type]
        # addfile keeps every TarInfo for reading back; a writer never needs them.
        self._tar.members.clear()
        self.stored_bytes += info.size

    def _open(self, path: str) -> tuple[int, os.stat_result, str]:
        """A descriptor on ``path``, its fstat and a note. In the agent's tree no link is
        followed and nothing blocks; outside it (system files) a link is followed and noted."""
        if self.tree is not None and self.tree.inside(path):
            fd, st = self.tree.open_regular(path)
            return fd, st, ""
        note = ""
        with contextlib.suppress(OSError):
            if os.path.islink(path):
                note = f"via symbolic link to {os.readlink(path)}"
        fd = _open_for_evidence(path)
        return fd, os.fstat(fd), note

    def _refused(self, path: str, err: UnsafeFile) -> str:
        if err.errno == errno.ELOOP:
            return err.strerror
        kind = self.tree.kind(path) if self.tree is not None else None
        return f"not a regular file ({kind})" if kind else err.strerror

    def add_file(self, path: str, *, tail_bytes: int | None = None) -> EvidenceItem | None:
        """Copy one file (or its last ``tail_bytes``); on failure record it in ``skipped``."""
        path = os.path.abspath(path)
        try:
            fd, st, note = self._open(path)
        except UnsafeFile as err:
            self.skipped.append((path, self._refused(path, err)))
            return None
        except OSError as err:
            self.skipped.append((path, os_error_reason(err)))
            return None
        with os.fdopen(fd, "rb", buffering=0) as fh:
            if not stat.S_ISREG(st.st_mode):
                self.skipped.append((path, f"not a regular file ({kind_of(st.st_mode)})"))
                return None
            inode = (st.st_dev, st.st_ino)
            if inode in self._seen_inodes:
                self.skipped.append((path, f"same file as {self._seen_inodes[inode]}"))
                return None
            self._seen_inodes[inode] = path
            return self.add_open_file(fh, st, path, tail_bytes=tail_bytes, note=note)

    def add_open_file(
        self,
        fh: IO[bytes],
        st: os.stat_result,
        source: str,
        *,
        tail_bytes: int | None = None,
        note: str = "",
    ) -> EvidenceItem | None:
        """Copy an already-open file whose ``st`` was taken when it was opened.

        The stat'd size is the contract: later growth is not copied, a shrink is zero-padded,
        and both are noted in the item.
        """
        if self._total_exhausted():
            self.skipped.append(
                (
                    source,
                    f"max_total_bytes ({self.max_total_bytes}) reached; "
                    f"{st.st_size} bytes not collected",
                )
            )
            return None
        notes = [note] if note else []
        start = 0
        wanted = st.st_size
        if _is_sparse(st):
            # Mostly holes: reading them would only cost time (see SPARSE_KEPT_BYTES).
            kept = min(SPARSE_KEPT_BYTES, tail_bytes or SPARSE_KEPT_BYTES)
            tail_bytes = kept if tail_bytes is not None else None
            if tail_bytes is None:
                wanted = kept
            notes.append(f"sparse: {st.st_size} bytes, {st.st_blocks * 512} on disk; only "
                         f"the {'last' if tail_bytes is not None else 'first'} {kept} kept")
        if tail_bytes is not None and st.st_size > tail_bytes:
            start = st.st_size - tail_bytes
            wanted = tail_bytes
            notes.append(f"tail: last {tail_bytes} of {st.st_size} bytes")
        length = self._budget(wanted)
        truncated = start > 0 or length < st.st_size
        if length < wanted:
            notes.append(f"capped: first {length} of {wanted} bytes")
        if start:
            fh.seek(start)
        collected_at = utc_now()
        reader = _HashingReader(fh, length)
        info = self._member(
            "files" + source, length, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime
        )
        self._store(info, reader)
        if reader.shortfall:
            notes.append(
                f"shrank during collection: read {length - reader.shortfall} of {length} "
                f"bytes; zero-padded to {length}"
            )
        with contextlib.suppress(OSError, ValueError):
            after = os.fstat(fh.fileno())
            if after.st_size > st.st_size:
                notes.append(
                    f"grew during collection to {after.st_size} bytes; "
                    f"copied the {st.st_size} present at start"
                )
            elif after.st_mtime_ns != st.st_mtime_ns and not reader.shortfall:
                notes.append("modified during collection")
        item = EvidenceItem(
            evidence_id=self._next_id(),
            kind="file",
            source=source,
            stored_path=info.name,
            size=length,
            sha256=reader.sha256.hexdigest(),
            collected_at=collected_at,
            archive=self.path.name,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            mtime=st.st_mtime,
            ctime=st.st_ctime,
            truncated=truncated,
            original_size=st.st_size if truncated else None,
            note="; ".join(notes),
        )
        self.items.append(item)
        return item

    def add_generated(self, name: str, data: bytes, source: str) -> EvidenceItem:
        """Store bytes this snapshot produced itself (process tree, listings)."""
        collected_at = utc_now()
        reader = _HashingReader(io.BytesIO(data), len(data))
        info = self._member(
            f"generated/{name}", len(data), FILE_MODE, os.getuid(), os.getgid(), time.time()
        )
        self._store(info, reader)
        item = EvidenceItem(
            evidence_id=self._next_id(),
            kind="generated",
            source=source,
            stored_path=info.name,
            size=len(data),
            sha256=reader.sha256.hexdigest(),
            collected_at=collected_at,
            archive=self.path.name,
        )
        self.items.append(item)
        return item

    def add_command(
        self, name: str, argv: tuple[str, ...], *, timeout: float
    ) -> EvidenceItem | None:
        """Run ``argv`` (no shell) and store its stdout, with argv and exit code in the item."""
        return self.store_command(name, self.capture_command(argv, timeout=timeout))

    def capture_command(self, argv: tuple[str, ...], *, timeout: float) -> CommandCapture:
        """Run ``argv`` into a spool file. Touches nothing of the archive but its directory,
        so commands can run side by side while other items are being collected."""
        executable = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/sbin")
        if executable is None:
            return CommandCapture(argv, None, skip_reason=f"{argv[0]} is not installed")
        limit = (
            self.max_file_bytes
            if self.max_file_bytes is not None
            else (DEFAULT_COMMAND_OUTPUT_BYTES)
        )
        collected_at = utc_now()
        spool = tempfile.TemporaryFile(dir=self.path.parent)  # noqa: SIM115 (store_command closes)
        try:
            exit_code, total, timed_out = _run_to_file(
                (executable, *argv[1:]), spool, limit=limit, timeout=timeout
            )
        except OSError as err:
            spool.close()
            return CommandCapture(argv, None, skip_reason=f"could not run: {os_error_reason(err)}")
        return CommandCapture(
            argv, spool, executable=executable, exit_code=exit_code, total=total,
            limit=limit, timed_out=timed_out, timeout=timeout, collected_at=collected_at,
        )

    def store_command(self, name: str, capture: CommandCapture) -> EvidenceItem | None:
        """Store what ``capture_command`` spooled (or record why there is nothing)."""
        argv = capture.argv
        if capture.spool is None:
            self.skipped.append((shlex.join(argv), capture.skip_reason))
            return None
        with capture.spool as spool:
            total, limit = capture.total, capture.limit
            kept = min(total, limit)
            spool.seek(0)
            length = self._budget(kept)
            notes = []
            if capture.timed_out:
                notes.append(f"timed out after {capture.timeout:g} s; output up to then kept")
            if length < total:
                notes.append(
                    f"capped: first {length} of {total}{'+' if total > limit else ''} bytes"
                )
            reader = _HashingReader(spool, length)
            info = self._member(
                f"commands/{name}.out", length, FILE_MODE, os.getuid(), os.getgid(), time.time()
            )
            self._store(info, reader)
        item = EvidenceItem(
            evidence_id=self._next_id(),
            kind="command",
            source=shlex.join(argv),
            stored_path=info.name,
            size=length,
            sha256=reader.sha256.hexdigest(),
            collected_at=capture.collected_at,
            archive=self.path.name,
            argv=(capture.executable, *argv[1:]),
            exit_code=capture.exit_code,
            truncated=length < total,
            original_size=total if length < total and total <= limit else None,
            note="; ".join(notes),
        )
        self.items.append(item)
        return item

    def hash_only(self, path: str) -> tuple[os.stat_result, str] | None:
        """SHA-256 of a file not worth storing (listings), streamed; None if unreadable (or
        sparse: hashing its holes would only cost time)."""
        try:
            fd, st, _ = self._open(path)
        except UnsafeFile as err:
            self.skipped.append((path, self._refused(path, err)))
            return None
        except OSError as err:
            self.skipped.append((path, os_error_reason(err)))
            return None
        with os.fdopen(fd, "rb", buffering=0) as fh:
            if not stat.S_ISREG(st.st_mode):
                return None
            if _is_sparse(st):
                self.skipped.append((path, f"sparse: {st.st_size} bytes, "
                                           f"{st.st_blocks * 512} on disk; not hashed"))
                return None
            digest = hashlib.file_digest(fh, "sha256")  # type: ignore[arg-type]
        return st, digest.hexdigest()


def _is_sparse(st: os.stat_result) -> bool:
    return st.st_size > SPARSE_MIN_BYTES and st.st_blocks * 512 < st.st_size // 2


def _open_for_evidence(path: str) -> int:
    """Open read-only without blocking on FIFOs and, where allowed, without touching atime."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        return os.open(path, flags | noatime)
    except PermissionError:
        # O_NOATIME needs ownership (or CAP_FOWNER); retry so a readable file is still read.
        if not noatime:
            raise
        return os.open(path, flags)


def _close_spools(captures: list[Future[CommandCapture]]) -> None:
    for future in captures:
        with contextlib.suppress(Exception):  # a capture that failed has nothing to close
            spool = future.result().spool
            if spool is not None:
                spool.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _run_to_file(
    argv: tuple[str, ...], out: IO[bytes], *, limit: int, timeout: float
) -> tuple[int | None, int, bool]:
    """Copy ``argv``'s stdout into ``out`` up to ``limit`` bytes (counting past it).

    Returns (exit code, total bytes produced, timed out). A command that runs past ``timeout``
    or keeps writing past the limit is killed; what it wrote until then is kept.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        # Its own process group, so a timeout kills whatever the command spawned too.
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    total = 0
    timed_out = False
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not sel.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), CHUNK_BYTES)
            if not chunk:
                break
            if total < limit:
                out.write(chunk[: limit - total])
            total += len(chunk)
            if total > limit:
                break
    proc.stdout.close()
    if timed_out or total > limit:
        _kill_group(proc)
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        # stdout is closed but the command lingers past its deadline.
        timed_out = True
        _kill_group(proc)
        proc.wait()
    return proc.returncode, total, timed_out


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
    return _json_bytes({"collected_at": utc_now(), "processes": procs})


def sockets(gateway_port: int) -> bytes:
    import psutil

    conns = []
    for c in psutil.net_connections(kind="inet"):
        conns.append(
            {
                "fd": c.fd,
                "family": c.family.name,
                "type": c.type.name,
                "laddr": list(c.laddr) if c.laddr else None,
                "raddr": list(c.raddr) if c.raddr else None,
                "status": c.status,
                "pid": c.pid,
            }
        )
    conns.sort(key=lambda c: (c["laddr"] or [], c["raddr"] or [], c["pid"] or 0))
    listeners = sorted(
        {
            c["pid"] or 0
            for c in conns
            if c["status"] == "LISTEN" and c["laddr"] and c["laddr"][1] == gateway_port
        }
    )
    return _json_bytes(
        {
            "collected_at": utc_now(),
            "gateway_port": gateway_port,
            "gateway_listener_pids": listeners,
            "connections": conns,
        }
    )


def _json_bytes(obj: object) -> bytes:
    """JSON a person can read (one process, socket or file a line) that json's C encoder
    writes: with ``indent`` the pure-Python one took ~3x as long, before the agent is stopped."""
    if not isinstance(obj, dict):
        return json.dumps(obj, sort_keys=True, default=str).encode()
    fields = []
    for key in sorted(obj):
        value = obj[key]
        text = json.dumps(value, sort_keys=True, default=str)
        if isinstance(value, list) and value:
            text = "[\n  " + ",\n  ".join(
                json.dumps(item, sort_keys=True, default=str) for item in value) + "\n ]"
        fields.append(f" {json.dumps(key)}: {text}")
    return ("{\n" + ",\n".join(fields) + "\n}\n").encode()


def _is_small_enough(path: str, st: os.stat_result) -> bool:
    return st.st_size <= SMALL_FILE_BYTES and "node_modules" not in Path(path).parts


def collect_listing(archive: EvidenceArchive, root: str) -> None:
    """Store a per-file sha256 listing of ``root``; small files are stored too, read once."""
    problems: list[tuple[str, str]] = []
    entries = []
    tree = archive.tree if archive.tree is not None and archive.tree.inside(root) else None
    if tree is not None:
        plan = CollectionPlan(tree=tree)
        walk: Iterator[str] = walk_agent_files(tree, root, plan)
    else:
        plan = None
        walk = walk_files(root, problems)
    for path in walk:
        try:
            st = tree.lstat(path) if tree is not None else os.stat(path)
        except OSError as err:
            problems.append((path, os_error_reason(err)))
            continue
        if stat.S_ISREG(st.st_mode) and _is_small_enough(path, st):
            item = archive.add_file(path)
            if item is not None:
                entries.append(
                    {
                        "path": path,
                        "size": item.size,
                        "mode": item.mode,
                        "mtime": item.mtime,
                        "sha256": item.sha256,
                        "stored_path": item.stored_path,
                    }
                )
            continue
        hashed = archive.hash_only(path)
        if hashed is None:
            entries.append({"path": path, "error": "not a readable regular file"})
            continue
        st, digest = hashed
        entries.append(
            {
                "path": path,
                "size": st.st_size,
                "mode": stat.S_IMODE(st.st_mode),
                "mtime": st.st_mtime,
                "sha256": digest,
                "stored_path": None,
            }
        )
    archive.skipped.extend(problems)
    if plan is not None:
        archive.skipped.extend(plan.missing)
    archive.add_generated(
        f"listings{root}.json",
        _json_bytes({"root": root, "collected_at": utc_now(), "files": entries}),
        source=f"listing of {root}",
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
                "host.snapshot: set agent.state_dirs (e.g. ~/.openclaw) or agent.user_home "
                "in clawback.toml so the snapshot knows where the agent lives"
            )
        return layout, evidence

    def _caps(self, evidence: EvidenceSettings) -> tuple[int | None, int | None]:
        per_file = self.params.max_file_bytes
        total = self.params.max_total_bytes
        total = total if total is not None else evidence.max_total_bytes
        if total is None and self.params.volatile:
            total = VOLATILE_TOTAL_BYTES  # the stop waits for this pass
        return (
            per_file if per_file is not None else evidence.max_file_bytes,
            total,
        )

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

        return supervised_log_files(self.context.settings)

    def plan(self, target: str) -> Planned:
        layout, evidence = self._settings()
        collection = build_plan(layout, evidence, self.params, self._service_logs())
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
        collection = build_plan(layout, evidence, self.params, self._service_logs())
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

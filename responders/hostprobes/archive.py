"""The evidence archive: one tar.gz, every byte hashed on its way in.

Standard library only (see the package docstring): the local ``host.snapshot`` writes its
archive with this class, and so does the fleet agent on each fleet host, so both apply the
same rules. Each source file is opened once, and the same streaming pass copies it into the
archive and feeds its SHA-256, so the hash in the item is the hash of exactly what was stored,
even if the file changes under us. The archive is written to a hidden ``.partial`` file and
renamed into place only when sealed.

The agent's home, state dirs and temp dirs are hostile (``responders.agent_files``): nothing
there is reached through a link (a link is recorded with its target as a skipped source, never
followed), nothing there can block (FIFOs, devices and sockets are skipped), and a sparse file
stores only its first (or, for a log tail, last) ``SPARSE_KEPT_BYTES``. The volatile pass has a
total budget (``snapshot_caps``), so an agent that planted multi-GB logs cannot delay the stop
that waits for it. Every cap truncates visibly: it is recorded in the item's note.

Compression is the caller's choice (``compress``): stdlib gzip by default (a fleet host has
nothing else), ISA-L worker threads on the controller (``responders.host.snapshot``).
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
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from responders.agent_files import AgentFiles, UnsafeFile, kind_of
from responders.hostprobes.collection import (
    CollectionPlan,
    os_error_reason,
    walk_agent_files,
    walk_files,
)
from responders.interface import EvidenceItem

if TYPE_CHECKING:
    import tarfile

MiB = 1024 * 1024
CHUNK_BYTES = MiB
FILE_MODE = 0o600
# gzip level 1: on mixed log data here higher levels cost time before the stop for little
# space (see bench/evidence.py).
COMPRESS_LEVEL = 1
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
# The caller's PATH is attacker-writable on a compromised account (~/.local/bin first): the
# commands a snapshot runs come from here only (as responders/host/commands.py resolves them).
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")



class Writable(Protocol):
    """The archive file as a compressor sees it."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class CompressedStream(Protocol):
    """What a compressor gives back: the tar stream is written into it."""

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


# The compressed stream over the archive file (gzip_stream, or ISA-L's threads on the
# controller).
Compressor = Callable[[Writable], CompressedStream]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def which(name: str) -> str | None:
    """The executable ``name`` resolves to in ``SYSTEM_PATH`` (an absolute name is checked,
    not searched); None if there is none."""
    if os.path.isabs(name):
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for directory in SYSTEM_PATH:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


def snapshot_caps(*, volatile: bool, max_file_bytes: int | None,
                  max_total_bytes: int | None) -> tuple[int | None, int | None]:
    """(per-file cap, total cap) a snapshot runs with: as configured, except that the volatile
    pass, which the stop waits for, never runs without a total (``VOLATILE_TOTAL_BYTES``)."""
    if max_total_bytes is None and volatile:
        max_total_bytes = VOLATILE_TOTAL_BYTES
    return max_file_bytes, max_total_bytes


def gzip_stream(sink: Writable) -> CompressedStream:
    """The standard library's gzip at ``COMPRESS_LEVEL``: what a bare fleet host has."""
    import gzip

    return gzip.GzipFile(filename="", fileobj=sink, mode="wb", compresslevel=COMPRESS_LEVEL)


class _HashingSink:
    """The archive file: hashes and counts the compressed bytes as the compressor writes them."""

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
    """Gives tarfile the ``tell()`` its 'w' mode needs; a threaded gzip writer can't seek."""

    def __init__(self, target: CompressedStream) -> None:
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

    def read(self, size: int = -1) -> bytes:
        size = self._remaining if size < 0 else min(size, self._remaining)
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
    ``tree`` is the agent's tree (``CollectionPlan.tree``): paths inside it are read without
    following any link.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        member_prefix: str,
        id_prefix: str,
        max_file_bytes: int | None = None,
        max_total_bytes: int | None = None,
        tree: AgentFiles | None = None,
        compress: Compressor = gzip_stream,
    ) -> None:
        import tarfile

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
        try:
            self._gz = compress(self._sink)
        except BaseException:
            self._raw.close()
            self._partial.unlink()
            raise
        # Closed by finish()/abort(): the archive outlives this constructor.
        # (typeshed knows neither TarFile's copybufsize nor a write-only fileobj.)
        self._tar: tarfile.TarFile = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115
            fileobj=_CountingWriter(self._gz),
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
        """Stop the compressor and drop the unfinished archive."""
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
        self._tar.addfile(info, reader)
        # addfile keeps every TarInfo for reading back; a writer never needs them.
        self._tar.members.clear()  # type: ignore[attr-defined]
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

    def _open_or_skip(self, path: str) -> tuple[int, os.stat_result, str] | None:
        """``_open``, or None with the reason it could not be opened recorded in ``skipped``."""
        try:
            return self._open(path)
        except UnsafeFile as err:
            self.skipped.append((path, self._refused(path, err)))
        except OSError as err:
            self.skipped.append((path, os_error_reason(err)))
        return None

    def _refused(self, path: str, err: UnsafeFile) -> str:
        reason = err.strerror or os_error_reason(err)
        if err.errno == errno.ELOOP:
            return reason
        kind = self.tree.kind(path) if self.tree is not None else None
        return f"not a regular file ({kind})" if kind else reason

    def add_file(self, path: str, *, tail_bytes: int | None = None) -> EvidenceItem | None:
        """Copy one file (or its last ``tail_bytes``); on failure record it in ``skipped``."""
        path = os.path.abspath(path)
        opened = self._open_or_skip(path)
        if opened is None:
            return None
        fd, st, note = opened
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
        if is_sparse(st):
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
        executable = which(argv[0])
        if executable is None:
            return CommandCapture(argv, None, skip_reason=f"{argv[0]} is not installed")
        limit = (
            self.max_file_bytes
            if self.max_file_bytes is not None
            else DEFAULT_COMMAND_OUTPUT_BYTES
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
        opened = self._open_or_skip(path)
        if opened is None:
            return None
        fd, st, _ = opened
        with os.fdopen(fd, "rb", buffering=0) as fh:
            if not stat.S_ISREG(st.st_mode):
                return None
            if is_sparse(st):
                self.skipped.append((path, f"sparse: {st.st_size} bytes, "
                                           f"{st.st_blocks * 512} on disk; not hashed"))
                return None
            digest = hashlib.file_digest(fh, "sha256")
        return st, digest.hexdigest()


def is_sparse(st: os.stat_result) -> bool:
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
# Generated items both sides write the same way
# --------------------------------------------------------------------------------------------


def json_bytes(obj: object) -> bytes:
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
    entries: list[dict[str, object]] = []
    tree = archive.tree if archive.tree is not None and archive.tree.inside(root) else None
    plan: CollectionPlan | None = None
    if tree is not None:
        plan = agent_plan = CollectionPlan(tree=tree)
        walk: Iterator[str] = walk_agent_files(tree, root, agent_plan)
    else:
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
                entries.append({"path": path, "size": item.size, "mode": item.mode,
                                "mtime": item.mtime, "sha256": item.sha256,
                                "stored_path": item.stored_path})
            continue
        hashed = archive.hash_only(path)
        if hashed is None:
            entries.append({"path": path, "error": "not a readable regular file"})
            continue
        st, digest = hashed
        entries.append({"path": path, "size": st.st_size, "mode": stat.S_IMODE(st.st_mode),
                        "mtime": st.st_mtime, "sha256": digest, "stored_path": None})
    archive.skipped.extend(problems)
    if plan is not None:
        archive.skipped.extend(plan.missing)
    archive.add_generated(
        f"listings{root}.json",
        json_bytes({"root": root, "collected_at": utc_now(), "files": entries}),
        source=f"listing of {root}",
    )

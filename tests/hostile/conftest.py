"""The hostile home: clawback as root against an agent user who owns its files and changes them.

* ``agent_user`` (once per session): a user made with ``useradd`` for this session only and
  removed at the end, so no other process on the machine runs as it. Needs root.
* ``hostile``: a sample OpenClaw host (``clawback_demo.home``) in a fresh directory under
  ``/tmp`` (reachable by the agent), its home and temp dirs handed to the agent user, and
  **canaries** beside it: root-owned files and directories *outside* the agent's tree, holding
  copies of the agent's own files (so a write that followed a link there would visibly change
  them). ``hostile.assert_untouched()`` proves every canary, and everything else outside the
  agent's tree, is exactly as it was.
* ``Racer``: an inotify watcher run *as the agent* that swaps a file or directory for a link, a
  FIFO or a link to ``/dev/zero`` the moment clawback has read it: the swap lands between
  discovery and the action that uses what discovery found.

Nothing here touches a real system file: canaries are made for each test.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clawback_demo.home import SampleHome, build_sample_home
from tests.conftest import require, require_root

REPO = Path(__file__).resolve().parents[2]
# The agent runs the system's Python (standard library only): it cannot read root's venv.
AGENT_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


@dataclass(frozen=True)
class AgentUser:
    name: str
    uid: int
    gid: int

    def popen_args(self) -> dict[str, object]:
        """subprocess arguments that run a child as this user (no supplementary groups)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


@pytest.fixture(scope="session")
def agent_user() -> Iterator[AgentUser]:
    require_root()
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    userdel = shutil.which("userdel") or shutil.which("userdel", path="/usr/sbin:/sbin")
    require(useradd is not None and userdel is not None,
            "needs useradd (apt-get install -y passwd)")
    name = f"cbhostile{secrets.token_hex(3)}"
    subprocess.run(
        [str(useradd), "--no-create-home", "--home-dir", "/nonexistent", "--shell",
         "/usr/sbin/nologin", "--user-group", name],
        check=True, capture_output=True, timeout=60,
    )
    try:
        entry = pwd.getpwnam(name)
        yield AgentUser(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run([str(userdel), name], capture_output=True, timeout=60, check=False)
        # --user-group made a group of the same name; userdel removes it with the user.
        try:
            grp.getgrnam(name)
        except KeyError:
            pass
        else:
            groupdel = shutil.which("groupdel") or shutil.which("groupdel", path="/usr/sbin")
            if groupdel:
                subprocess.run([groupdel, name], capture_output=True, timeout=60, check=False)


def tree_state(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """Every entry under ``root`` (itself included): kind, mode, owner, size, content digest
    or link target. Any write, delete, chmod or chown shows."""
    out: dict[str, tuple[str, int, int, int, str]] = {}
    paths = [root, *sorted(root.rglob("*"))] if root.exists() or root.is_symlink() else []
    for path in paths:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            kind, content = "link", os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            kind, content = "file", hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISDIR(info.st_mode):
            kind, content = "dir", ""
        else:
            kind, content = "other", ""
        out[str(path)] = (kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_size, content)
    return out


@dataclass
class HostileHome:
    """A sample OpenClaw host owned by ``agent``, with canaries outside it (see module doc)."""

    box: Path
    sample: SampleHome
    agent: AgentUser
    outside: Path  # root-owned, outside every agent root: the canaries live here
    incidents: Path
    _baseline: dict[str, tuple[str, int, int, int, str]] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.sample.user_home

    @property
    def state(self) -> Path:
        return self.sample.state_dir

    @property
    def tmp(self) -> Path:
        return self.sample.tmp_dir

    def agent_settings(self) -> dict[str, object]:
        settings = dict(self.sample.agent_settings())
        settings["uid"] = self.agent.uid
        return settings

    def canary_copy(self, source: Path, name: str | None = None) -> Path:
        """A root-owned 0600 copy of the agent's ``source`` outside the tree (same content,
        so a write that followed a link to it would change it)."""
        target = self.outside / (name or f"canary-{source.name}")
        shutil.copyfile(source, target)
        os.chmod(target, 0o600)
        return target

    def canary_dir(self, source: Path, name: str | None = None) -> Path:
        target = self.outside / (name or f"canary-dir-{source.name}")
        shutil.copytree(source, target, symlinks=True)
        for path in [target, *target.rglob("*")]:
            os.lchown(path, 0, 0)
        return target

    def give_to_agent(self, *paths: Path) -> None:
        for top in paths:
            for path in [top, *(top.rglob("*") if top.is_dir() and not top.is_symlink()
                                else ())]:
                os.lchown(path, self.agent.uid, self.agent.gid)

    def seal_outside(self) -> None:
        """Take the baseline of everything outside the agent's tree (call after planting)."""
        self._baseline = self._outside_state()

    def _outside_state(self) -> dict[str, tuple[str, int, int, int, str]]:
        state = tree_state(self.outside)
        # The box itself and the temp dir's own entry (not the agent's dirs inside it).
        for path in (self.box, self.sample.root, self.sample.root / "home", self.tmp):
            info = os.lstat(path)
            state[str(path)] = ("dir", stat.S_IMODE(info.st_mode), info.st_uid, 0, "")
        return state

    def assert_untouched(self) -> None:
        """No canary, and nothing else outside the agent's tree, was written or deleted."""
        assert self._baseline, "seal_outside() was not called"
        now = self._outside_state()
        changed = {p: (self._baseline.get(p), now.get(p))
                   for p in set(self._baseline) | set(now)
                   if self._baseline.get(p) != now.get(p)}
        assert not changed, f"outside the agent's tree, changed: {changed}"

    def run_as_agent(self, argv: Sequence[str], **kwargs: object
                     ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), text=True, capture_output=True, timeout=60,
                              **self.agent.popen_args(), **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def hostile(agent_user: AgentUser) -> Iterator[HostileHome]:
    # pytest's tmp_path sits under a 0700 directory the agent cannot cross.
    box = Path(tempfile.mkdtemp(prefix="clawback-hostile-", dir="/tmp"))
    try:
        os.chmod(box, 0o755)
        sample = build_sample_home(box / "host", era="file", seed=11)
        for path in [sample.root, sample.root / "home"]:
            os.chmod(path, 0o755)
        os.chmod(sample.tmp_dir, 0o1777)  # /tmp of that host: shared, sticky
        lock_dir = sample.tmp_dir / f"openclaw-{sample.uid}"
        agent_lock_dir = sample.tmp_dir / f"openclaw-{agent_user.uid}"
        if lock_dir.exists() and lock_dir != agent_lock_dir:
            lock_dir.rename(agent_lock_dir)
        outside = box / "outside"
        outside.mkdir()
        os.chmod(outside, 0o755)  # whatever the umask: the agent may look, not touch
        incidents = box / "incidents"
        incidents.mkdir(mode=0o700)
        home = HostileHome(box=box, sample=sample, agent=agent_user, outside=outside,
                           incidents=incidents)
        home.give_to_agent(sample.user_home)
        for entry in sample.tmp_dir.iterdir():
            home.give_to_agent(entry)
        yield home
    finally:
        shutil.rmtree(box, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The racer: swaps an entry the moment clawback has read it
# --------------------------------------------------------------------------------------------

RACER = textwrap.dedent(r'''
    import ctypes, os, struct, sys
    directory, name, replacement, kind, after, swapped_name = sys.argv[1:7]
    after = int(after)
    IN_OPEN, IN_CLOSE_NOWRITE = 0x20, 0x10
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    if fd < 0 or libc.inotify_add_watch(fd, directory.encode(), IN_OPEN | IN_CLOSE_NOWRITE) < 0:
        print("inotify failed", ctypes.get_errno(), flush=True)
        sys.exit(2)
    print("ready", flush=True)
    seen = 0
    while True:
        data = os.read(fd, 65536)
        offset = 0
        hit = False
        while offset < len(data):
            wd, mask, cookie, length = struct.unpack_from("iIII", data, offset)
            entry = data[offset + 16: offset + 16 + length].rstrip(b"\0").decode(
                "utf-8", "surrogateescape")
            offset += 16 + length
            # A directory's own open (listing it) reports an empty name.
            if entry == name or (name == "." and not entry):
                if mask & IN_CLOSE_NOWRITE:
                    seen += 1
                    hit = seen >= after
        if hit:
            break
    target = os.path.join(directory, swapped_name or name)
    staged = target + ".racer"
    if kind == "link":
        os.symlink(replacement, staged)
    elif kind == "fifo":
        os.mkfifo(staged)
    if kind == "dirlink":
        os.rename(target, target + ".moved")
        os.symlink(replacement, target)
    else:
        os.rename(staged, target)
    print("swapped", flush=True)
''')


class Racer:
    """Runs as the agent: after clawback's ``after``-th read of ``directory/name`` (``"."``:
    a listing of ``directory``), replaces ``directory/swap`` (default: the same ``name``):
    ``kind`` link: with a link to ``replacement``; fifo: with a FIFO; dirlink: a directory
    moved aside and a link to ``replacement`` put in its place."""

    def __init__(self, home: HostileHome, directory: Path, name: str, kind: str,
                 replacement: str = "", after: int = 1, swap: str = "") -> None:
        self.proc = subprocess.Popen(
            [AGENT_PYTHON, "-I", "-S", "-c", RACER, str(directory), name, replacement, kind,
             str(after), swap],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            **home.agent.popen_args(),  # type: ignore[arg-type]
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert first == "ready", f"the racer did not start: {first} {self.proc.stderr.read()}"

    def swapped(self, timeout: float = 30) -> bool:
        """Whether the racer swapped the entry (it ends once it has)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        assert self.proc.stdout is not None
        return "swapped" in self.proc.stdout.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def racers() -> Iterator[list[Racer]]:
    started: list[Racer] = []
    yield started
    for racer in started:
        racer.stop()


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False

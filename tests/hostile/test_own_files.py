"""clawback's own files under a hostile umask or planted by the agent.

Under umask 000 everything clawback creates (incident, evidence, the plaintext keyring's
directory and file) is still private; a keyring directory someone else could write to, or a
keyring file someone else owns or could read, is never used: no signing key or rotated token
goes in, and the panic button goes on in degraded mode (the incident signed by a key file of
its own, the problem on the operator's list).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import HostileHome

PLAYBOOK = ("name: snap\nsteps:\n  - id: volatile\n    uses: host.snapshot\n"
            "    with: {volatile: true}\n")


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="clawback-own-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def contain(hostile: HostileHome, workdir: Path, *, umask: int = 0o022
            ) -> subprocess.CompletedProcess[str]:
    config = workdir / "clawback.toml"
    agent = hostile.agent_settings()
    config.write_text(
        "[agent]\n"
        f'user_home = "{agent["user_home"]}"\n'
        f'state_dirs = ["{hostile.state}"]\n'
        f'tmp_dirs = ["{hostile.tmp}"]\n'
        f"uid = {hostile.agent.uid}\n"
    )
    playbook = workdir / "playbook.yaml"
    playbook.write_text(PLAYBOOK)
    for path in (config, playbook):
        os.chmod(path, 0o600)
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(workdir / "data")}
    code = (f"import os, sys; os.umask({umask}); sys.argv = ['clawback'] + sys.argv[1:]; "
            "from clawback.cli import main; main()")
    return subprocess.run(
        [sys.executable, "-c", code, "contain", "--config", str(config), "--playbook",
         str(playbook), "--incidents-dir", str(workdir / "incidents"), "--yes"],
        capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL,
    )


def modes(root: Path) -> dict[str, int]:
    return {str(p): stat.S_IMODE(os.lstat(p).st_mode) for p in [root, *root.rglob("*")]}


def test_under_umask_000_everything_clawback_creates_is_private(
    hostile: HostileHome, workdir: Path
) -> None:
    run = contain(hostile, workdir, umask=0)
    assert run.returncode in (0, 3), run.stderr
    for root in (workdir / "data" / "python_keyring", workdir / "incidents"):
        found = modes(root)
        assert found, root
        loose = {p: oct(m) for p, m in found.items() if m & 0o077}
        assert not loose, f"readable or writable by others: {loose}"


def _refused_and_degraded(run: subprocess.CompletedProcess[str], planted: Path,
                          before: bytes, workdir: Path, says: str) -> None:
    assert run.returncode == 3, run.stdout + run.stderr
    assert says in " ".join(run.stderr.split()), run.stderr
    assert planted.read_bytes() == before, "clawback wrote into a keyring it must not trust"
    (incident,) = (workdir / "incidents").iterdir()
    key_file = incident / "signing-key.private"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_a_keyring_directory_others_can_write_is_never_used(
    hostile: HostileHome, workdir: Path
) -> None:
    keyring_dir = workdir / "data" / "python_keyring"
    keyring_dir.mkdir(parents=True)
    os.chmod(keyring_dir, 0o777)  # as keyrings.alt leaves it under umask 000
    planted = keyring_dir / "keyring_pass.cfg"
    planted.write_text("[clawback]\n")  # the agent's own keyring, waiting for our key
    os.chown(planted, hostile.agent.uid, hostile.agent.gid)
    before = planted.read_bytes()
    run = contain(hostile, workdir)
    _refused_and_degraded(run, planted, before, workdir, f"chmod 700 {keyring_dir}")


@pytest.mark.parametrize("problem", ["owned by the agent", "readable by others"])
def test_a_keyring_file_someone_else_owns_or_reads_is_never_used(
    hostile: HostileHome, workdir: Path, problem: str
) -> None:
    keyring_dir = workdir / "data" / "python_keyring"
    keyring_dir.mkdir(parents=True, mode=0o700)
    planted = keyring_dir / "keyring_pass.cfg"
    planted.write_text("[clawback]\n")
    if problem == "owned by the agent":
        os.chown(planted, hostile.agent.uid, hostile.agent.gid)
        os.chmod(planted, 0o600)
        says = f"the keyring file {planted} is owned by {hostile.agent.name}"
    else:
        os.chmod(planted, 0o644)
        says = f"the keyring file {planted} is open to group or others"
    before = planted.read_bytes()
    run = contain(hostile, workdir)
    _refused_and_degraded(run, planted, before, workdir, says)

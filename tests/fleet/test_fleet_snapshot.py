"""``host.snapshot`` on a fleet host over real SSH keeps the local snapshot's budgets.

The agent's home is hostile: a multi-GB sparse log costs a fleet host's snapshot what it
costs a local one (``SPARSE_KEPT_BYTES``), and the volatile pass, which the stop waits for,
stores at most ``VOLATILE_TOTAL_BYTES`` however big the files it is pointed at. Both come from
the one archive writer (``responders.hostprobes.archive``) the fleet agent carries.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawback.fleet import load_private_key
from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.standins import free_port
from responders.host.snapshot import SnapshotParams
from responders.hostprobes.archive import SPARSE_KEPT_BYTES, SPARSE_MIN_BYTES, VOLATILE_TOTAL_BYTES
from responders.interface import Collected, EvidenceItem, Planned, ResponderContext
from responders.remote.session import RemoteHost, SshTarget
from responders.remote.snapshot import RemoteSnapshotAction

from .conftest import ClientKey, Sshd, start_sshd

MiB = 1024 * 1024
SPARSE_SIZE = 4 * SPARSE_MIN_BYTES  # holes, but for a line at the end
OVERSIZE = VOLATILE_TOTAL_BYTES + 32 * MiB  # every block allocated: not sparse


@dataclass
class SshHost:
    home: SampleHome
    sshd: Sshd
    remote: RemoteHost
    root: Path


@pytest.fixture
def ssh_host(tmp_path: Path, client_key: ClientKey) -> Iterator[SshHost]:
    home = build_sample_home(tmp_path / "host", seed=11, gateway_port=free_port())
    sshd = start_sshd(tmp_path / "sshd", client_key)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line + "\n")
    remote = RemoteHost("web-1", SshTarget.parse(f"root@127.0.0.1:{sshd.port}"),
                        known_hosts=known,
                        private_key=load_private_key(client_key.private_text, "test"))
    try:
        remote.open()
        yield SshHost(home, sshd, remote, tmp_path)
    finally:
        remote.close()
        sshd.stop()


def plant_sparse_log(home: SampleHome) -> Path:
    path = home.tmp_dir / "openclaw" / "openclaw-2099-01-01.log"
    with open(path, "wb") as out:
        out.truncate(SPARSE_SIZE)
        out.seek(SPARSE_SIZE - 16)
        out.write(b"tail of the log\n")
    assert os.stat(path).st_blocks * 512 < SPARSE_MIN_BYTES
    return path


def plant_oversize_file(root: Path) -> Path:
    """Allocated, not written: it reads as zeros and is no sparse file, at no cost in I/O."""
    path = root / "oversize.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, OVERSIZE)
    finally:
        os.close(fd)
    assert os.stat(path).st_blocks * 512 >= OVERSIZE
    return path


def snapshot(host: SshHost, params: SnapshotParams, name: str) -> tuple[Planned, Collected]:
    incident = host.root / "incidents" / f"2026-12-06T2300Z-{name}"
    incident.mkdir(parents=True, mode=0o700)
    action = RemoteSnapshotAction(
        ResponderContext(incident_id=incident.name, incident_dir=incident,
                         settings={"agent": host.home.agent_settings()},
                         host=host.remote, host_name="web-1"),
        params,
    )
    planned = action.plan("web-1")
    outcome = action.execute("web-1")
    assert isinstance(planned, Planned) and isinstance(outcome, Collected), outcome
    return planned, outcome


def item_for(outcome: Collected, path: Path) -> EvidenceItem:
    [item] = [i for i in outcome.items if i.source == f"web-1:{path}"]
    return item


def test_a_fleet_hosts_volatile_pass_keeps_the_total_budget_and_the_sparse_cap(
    ssh_host: SshHost,
) -> None:
    sparse = plant_sparse_log(ssh_host.home)
    oversize = plant_oversize_file(ssh_host.root)
    planned, outcome = snapshot(
        ssh_host,
        SnapshotParams(volatile=True, system_artifacts=False, extra_paths=[str(oversize)]),
        "volatile",
    )
    # The controller plans and sends the budget the local snapshot has.
    assert planned.facts["max_total_bytes"] == VOLATILE_TOTAL_BYTES
    assert outcome.facts["stored_bytes"] <= VOLATILE_TOTAL_BYTES
    log = item_for(outcome, sparse)
    assert log.size <= SPARSE_KEPT_BYTES and log.truncated
    assert f"sparse: {SPARSE_SIZE} bytes" in log.note
    big = item_for(outcome, oversize)
    assert big.truncated and big.original_size == OVERSIZE
    assert big.size < OVERSIZE and "capped: first" in big.note
    # What the items say was stored is what the archive that came back holds.
    with tarfile.open(outcome.archive) as tar:
        sizes = {m.name: m.size for m in tar.getmembers()}
    assert sizes[big.stored_path] == big.size
    assert sum(sizes.values()) == outcome.facts["stored_bytes"]


def test_a_fleet_hosts_full_pass_stores_only_the_start_of_a_sparse_file(
    ssh_host: SshHost,
) -> None:
    sparse = plant_sparse_log(ssh_host.home)
    _, outcome = snapshot(ssh_host, SnapshotParams(system_artifacts=False), "full")
    log = item_for(outcome, sparse)
    assert log.size == SPARSE_KEPT_BYTES and log.truncated
    assert log.original_size == SPARSE_SIZE
    assert f"only the first {SPARSE_KEPT_BYTES} kept" in log.note

"""Evidence collection as root over a hostile home.

Links (planted, or swapped in after the snapshot listed the directory) are recorded with their
target and never followed, so no root-only file lands in the archive; FIFOs, ``/dev/zero`` and
sockets are skipped at once; sparse multi-GB logs cost the volatile pass (which the stop waits
for) only its budget; names that are not UTF-8 are sealed under their exact bytes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tarfile
import threading
from pathlib import Path
from typing import Any

from responders.host.snapshot import (
    SPARSE_KEPT_BYTES,
    VOLATILE_TOTAL_BYTES,
    SnapshotAction,
    SnapshotParams,
)
from responders.interface import Collected, ResponderContext
from responders.openclaw.keeper import OpenClawKeeper
from tests.hostile.conftest import HostileHome, Racer

BOUND_S = 120.0
ROOT_ONLY = b"root-only evidence that must never be collected: 5f1c2d\n"


def snapshot(hostile: HostileHome, *, volatile: bool, name: str = "i") -> Collected:
    incident = hostile.incidents / f"2026-11-21T0203Z-{name}"
    incident.mkdir(mode=0o700, exist_ok=True)
    action = SnapshotAction(
        ResponderContext(incident_id=incident.name, incident_dir=incident,
                         settings={"agent": hostile.agent_settings()},
                         agent_keeper=OpenClawKeeper),
        SnapshotParams(volatile=volatile, system_artifacts=False),
    )
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(action.execute("localhost")),
                              daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert box, f"the snapshot did not finish within {BOUND_S} s"
    assert isinstance(box[0], Collected), box[0]
    return box[0]


def archive_bytes(outcome: Collected) -> list[bytes]:
    with tarfile.open(outcome.archive) as tar:
        return [tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                if m.isreg()]


def plant_root_file(hostile: HostileHome) -> Path:
    path = hostile.outside / "root-only.log"
    path.write_bytes(ROOT_ONLY)
    os.chmod(path, 0o600)
    return path


def test_links_are_recorded_and_never_followed(hostile: HostileHome) -> None:
    secret = plant_root_file(hostile)
    logs = hostile.state / "logs"
    (logs / "linked.log").symlink_to(secret)
    (hostile.tmp / "openclaw" / "openclaw-2099-01-01.log").symlink_to(secret)
    (hostile.state / "agents" / "evil").symlink_to(hostile.outside)
    hostile.give_to_agent(hostile.home)
    hostile.seal_outside()
    for volatile in (True, False):
        outcome = snapshot(hostile, volatile=volatile, name=f"v{int(volatile)}")
        assert not any(ROOT_ONLY in data for data in archive_bytes(outcome))
        skipped = dict(outcome.skipped)
        link = str(hostile.tmp / "openclaw" / "openclaw-2099-01-01.log")
        assert skipped[link] == f"symbolic link to {secret}: not followed"
    full = dict(outcome.skipped)
    assert full[str(logs / "linked.log")] == f"symbolic link to {secret}: not followed"
    hostile.assert_untouched()


def test_fifos_devices_and_sockets_do_not_block(hostile: HostileHome) -> None:
    logs = hostile.state / "logs"
    os.mkfifo(logs / "gateway.fifo.log")
    os.mkfifo(hostile.tmp / "openclaw" / "openclaw-2099-01-02.log")
    (logs / "gateway.zero.log").symlink_to("/dev/zero")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(logs / "gateway.sock.log"))
    server.close()
    hostile.give_to_agent(hostile.home)
    for volatile in (True, False):
        outcome = snapshot(hostile, volatile=volatile, name=f"f{int(volatile)}")
        skipped = dict(outcome.skipped)
        assert skipped[str(hostile.tmp / "openclaw" / "openclaw-2099-01-02.log")] == \
            "not a regular file (fifo)"
    assert skipped[str(logs / "gateway.zero.log")] == "symbolic link to /dev/zero: not followed"
    assert skipped[str(logs / "gateway.sock.log")] == "not a regular file (socket)"


def test_sparse_multi_gigabyte_logs_cost_only_the_budget(hostile: HostileHome) -> None:
    tmp_logs = hostile.tmp / "openclaw"
    for day in range(1, 21):  # 20 × 4 GiB of holes, each ending in a little data
        path = tmp_logs / f"openclaw-2099-01-{day:02d}.log"
        with open(path, "wb") as out:
            out.truncate(4 << 30)
            out.seek((4 << 30) - 16)
            out.write(b"tail of the log\n")
    hostile.give_to_agent(tmp_logs)
    volatile = snapshot(hostile, volatile=True, name="sparse-v")
    assert volatile.facts["stored_bytes"] <= VOLATILE_TOTAL_BYTES
    notes = [i.note for i in volatile.items if "sparse" in i.note]
    assert notes, "the sparse logs were not recognised"
    full = snapshot(hostile, volatile=False, name="sparse-f")
    sparse = [i for i in full.items if "sparse" in i.note]
    assert len(sparse) == 20
    assert all(i.size <= SPARSE_KEPT_BYTES and i.truncated for i in sparse)


def test_a_log_swapped_for_a_link_after_listing_is_not_collected(
    hostile: HostileHome, racers: list[Racer]
) -> None:
    secret = plant_root_file(hostile)
    logs = hostile.state / "logs"
    victim = logs / "gateway.log"
    hostile.seal_outside()
    racer = Racer(hostile, logs, ".", "link", str(secret), swap=victim.name)
    racers.append(racer)
    outcome = snapshot(hostile, volatile=False, name="race")
    assert racer.swapped()
    assert not any(ROOT_ONLY in data for data in archive_bytes(outcome))
    hostile.assert_untouched()


def test_names_that_are_not_utf8_are_sealed_exactly(hostile: HostileHome) -> None:
    raw = os.fsencode(hostile.tmp / "openclaw") + b"/openclaw-\xff\xfe\x1b[31m.log"
    with open(raw, "wb") as out:
        out.write(b"log line\n")
    os.chown(raw, hostile.agent.uid, hostile.agent.gid)
    outcome = snapshot(hostile, volatile=True, name="utf8")
    (item,) = [i for i in outcome.items if os.fsencode(i.source) == raw]
    with tarfile.open(outcome.archive) as tar:
        member = tar.getmember(item.stored_path)
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert hashlib.sha256(data).hexdigest() == item.sha256


def test_a_workspace_the_agent_points_elsewhere_is_not_collected(hostile: HostileHome) -> None:
    """The agent's config names its workspace: pointed at root's directory, or made a link,
    nothing of root's is read into the evidence."""
    import json as json_module

    import pyjson5

    secret = plant_root_file(hostile)
    config = hostile.state / "openclaw.json"
    data = pyjson5.decode(config.read_text())
    data.setdefault("agents", {}).setdefault("defaults", {})["workspace"] = str(hostile.outside)
    config.write_text(json_module.dumps(data))
    default = hostile.state / "workspace"
    if default.exists():
        os.rename(default, hostile.state / "workspace.moved")
    default.symlink_to(hostile.outside)
    hostile.give_to_agent(hostile.home)
    hostile.seal_outside()
    outcome = snapshot(hostile, volatile=False, name="workspace")
    assert not any(ROOT_ONLY in data for data in archive_bytes(outcome))
    skipped = dict(outcome.skipped)
    assert skipped[str(hostile.outside)] == "workspace outside the agent's files: not collected"
    assert skipped[str(default)] == f"symbolic link to {hostile.outside}: not followed"
    assert secret.exists()
    hostile.assert_untouched()

"""host.snapshot against a fake OpenClaw host: what it collects, how, and what it never shows."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pydantic
import pyjson5
import pytest
from evidence_fakehost import INCIDENT_ID, FakeHost, sha256_of, tree_state

from clawback.checked_inputs import validate_params
from clawback.evidence import Manifest, write_manifest
from responders.host.snapshot import EvidenceArchive, SnapshotAction, SnapshotParams
from responders.interface import Collected, ResponderContext, ResponderError
from tests.conftest import require_binary

MAX_COMMAND_OUTPUT = 1024 * 1024


def extract(archive: str | Path, into: Path) -> Path:
    tar = require_binary("tar")
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run([tar, "xzf", str(archive), "-C", str(into)], check=True)
    return into


def by_source(outcome: Collected) -> dict[str, object]:
    return {item.source: item for item in outcome.items}


def test_full_snapshot_extracts_with_tar_and_every_member_matches(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    # The cap keeps this host's journal export small; every planted file is far below it.
    outcome = fake_host.snapshot(system_artifacts=True, max_file_bytes=MAX_COMMAND_OUTPUT)
    out = extract(outcome.archive, tmp_path / "x")

    assert outcome.archive_sha256 == sha256_of(Path(outcome.archive))
    assert Path(outcome.archive).name == f"{INCIDENT_ID}-full.tar.gz"
    for item in outcome.items:
        member = out / item.stored_path
        assert member.is_file(), item.stored_path
        assert member.stat().st_size == item.size
        assert sha256_of(member) == item.sha256, item.stored_path
        if item.kind == "file" and not item.truncated:
            assert member.read_bytes() == Path(item.source).read_bytes()
            assert item.mode == stat.S_IMODE(os.stat(item.source).st_mode)
            assert item.mtime == os.stat(item.source).st_mtime

    state, home, tmp, sysroot = fake_host.state, fake_host.home, fake_host.tmp, fake_host.sysroot
    expected = [
        tmp / "openclaw" / "openclaw-2026-11-21.log",
        tmp / "openclaw" / "openclaw-work-2026-11-21.log",
        tmp / "openclaw-1000" / "gateway.1a2b3c4d.lock",
        state / "logs" / "gateway.log",
        state / "logs" / "config-audit.jsonl",
        state / "agents" / "main" / "sessions" / "sessions.json",
        state / "agents" / "main" / "sessions" / "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.jsonl",
        state / "agents" / "main" / "agent" / "openclaw-agent.sqlite",
        state / "agents" / "main" / "agent" / "openclaw-agent.sqlite-wal",
        state / "agents" / "main" / "agent" / "openclaw-agent.sqlite-shm",
        state / "state" / "openclaw.sqlite",
        state / "state" / "openclaw.sqlite-wal",
        state / "memory" / "main.sqlite",
        state / "openclaw.json",
        state / "openclaw.json.bak",
        state / "openclaw.json.bak.1",
        state / "cron" / "jobs.json",
        state / "cron" / "runs" / "j1.jsonl",
        state / "devices" / "paired.json",
        state / "nodes" / "paired.json",
        state / "exec-approvals.json",
        state / "credentials" / "telegram-allowFrom.json",
        state / "credentials" / "telegram-pairing.json",
        state / "extensions" / "evil-plugin" / "package.json",
        state / "skills" / "weather" / "SKILL.md",
        state / "workspace" / "AGENTS.md",
        state / "workspace" / "SOUL.md",
        state / "workspace" / "BOOTSTRAP.md",
        state / "workspace" / "memory" / "2026-11-21.md",
        state / "identity" / "device.json",
        state / "identity" / "device-auth.json",
        home / ".config" / "systemd" / "user" / "openclaw-gateway.service",
        home / ".config" / "systemd" / "user" / "openclaw-gateway.service.bak",
        home / "Library" / "LaunchAgents" / "ai.openclaw.gateway.plist",
        home / ".bash_history",
        home / ".ssh" / "authorized_keys",
        sysroot / "etc" / "crontab",
        sysroot / "etc" / "cron.d" / "openclaw",
        sysroot / "var" / "spool" / "cron" / "crontabs" / "agent",
        sysroot / "var" / "log" / "auth.log",
    ]
    collected = by_source(outcome)
    missing = [str(p) for p in expected if str(p) not in collected]
    assert missing == []
    # Secret stores that are not evidence stay out.
    assert str(state / ".env") not in collected
    assert str(state / "workspace" / ".env") not in collected
    assert str(state / "credentials" / "oauth.json") not in collected
    # Big and node_modules files of extensions are hashed into the listing, not stored.
    bundle = state / "extensions" / "evil-plugin" / "bundle.js"
    assert str(bundle) not in collected
    listing_item = collected[f"listing of {state / 'extensions'}"]
    listing = json.loads((out / listing_item.stored_path).read_text())  # type: ignore[attr-defined]
    entries = {e["path"]: e for e in listing["files"]}
    assert entries[str(bundle)]["sha256"] == sha256_of(bundle)
    assert entries[str(bundle)]["stored_path"] is None
    assert entries[str(state / "extensions" / "evil-plugin" / "index.js")]["stored_path"]

    kinds = {item.kind for item in outcome.items}
    assert {"file", "generated", "command"} <= kinds
    processes = json.loads((out / collected["psutil:processes"].stored_path).read_text())  # type: ignore[attr-defined]
    assert os.getpid() in {p["pid"] for p in processes["processes"]}


def test_command_items_record_argv_and_exit_code(fake_host: FakeHost, tmp_path: Path) -> None:
    import psutil

    sh = require_binary("sh")
    marker = f"clawback-evidence-sleeper-{os.getpid()}-{time.monotonic_ns()}"
    spawns_a_sleeper = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', {marker!r}])\n"
        "print('x', flush=True)\n"
        "time.sleep(30)\n"
    )
    path = tmp_path / "evidence" / "cmd.tar.gz"
    path.parent.mkdir()
    with EvidenceArchive(path, member_prefix="p", id_prefix="t", max_file_bytes=8) as archive:
        ok = archive.add_command("fails", ("sh", "-c", "printf 'out'; exit 3"), timeout=5)
        big = archive.add_command("big", ("sh", "-c", "printf '0123456789abcdef'"), timeout=5)
        started = time.monotonic()
        # The sleeper is a grandchild: the timeout must kill it as well, not just its parent.
        slow = archive.add_command("slow", (sys.executable, "-c", spawns_a_sleeper), timeout=0.3)
        elapsed = time.monotonic() - started
        absent = archive.add_command("nope", ("clawback-no-such-binary", "-x"), timeout=5)
    assert ok is not None and big is not None and slow is not None and absent is None
    # The binary that ran, found in the system path, never the caller's PATH (RFC 3227 §4.3).
    assert ok.argv == (os.path.realpath(sh), "-c", "printf 'out'; exit 3")
    assert ok.exit_code == 3 and ok.kind == "command"
    assert ok.sha256 == hashlib.sha256(b"out").hexdigest()
    assert big.truncated and big.size == 8 and "capped" in big.note
    assert slow.exit_code is not None and slow.exit_code < 0 and "timed out" in slow.note
    # Well under the sleepers' 30 s: the timeout ended them rather than waiting (the margin is for
    # a loaded machine, not a speed claim).
    assert elapsed < 25
    # SIGKILL is delivered asynchronously: a killed grandchild may still be in the table for a
    # moment. Wait for it to go, bounded far below the 30 s it would live if never killed.
    deadline = time.monotonic() + 20
    while True:
        lingering = [
            p for p in psutil.process_iter(["cmdline", "status"])
            if marker in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not lingering or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lingering == []
    assert ("clawback-no-such-binary -x", "clawback-no-such-binary is not installed") in (
        archive.skipped
    )
    out = extract(path, tmp_path / "x")
    assert (out / big.stored_path).read_bytes() == b"01234567"


def test_evidence_files_are_private(fake_host: FakeHost) -> None:
    manifest, _ = fake_host.sealed_incident()
    evidence = fake_host.incident_dir / "evidence"
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o700
    files = list(evidence.iterdir())
    assert {f.name for f in files} == {
        f"{INCIDENT_ID}-volatile.tar.gz", f"{INCIDENT_ID}-full.tar.gz", "manifest.json"
    }
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert len(manifest.archives) == 2


def test_no_planted_secret_in_manifest_outcome_or_plan(fake_host: FakeHost, tmp_path: Path) -> None:
    action = fake_host.action(system_artifacts=True, max_file_bytes=MAX_COMMAND_OUTPUT)
    planned = action.plan("localhost")
    outcome = action.execute("localhost")
    manifest = Manifest(INCIDENT_ID)
    manifest.add("evidence", outcome)
    write_manifest(fake_host.incident_dir, manifest)
    manifest_text = (fake_host.incident_dir / "evidence" / "manifest.json").read_text()

    shown = [
        manifest_text,
        outcome.detail,
        json.dumps(dict(outcome.facts)),
        repr(outcome.items),
        repr(outcome.skipped),
        planned.detail,
        json.dumps(dict(planned.facts)),
        repr(planned.commands),
    ]
    out = extract(outcome.archive, tmp_path / "x")
    archived = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for name, secret in fake_host.secrets.items():
        # The archive keeps originals (that is what evidence is), so the search below is real.
        assert secret.encode() in archived, name
        for text in shown:
            assert secret not in text, name


def test_plan_writes_nothing_and_lists_sources(fake_host: FakeHost) -> None:
    before = tree_state(fake_host.root)
    for volatile in (False, True):
        planned = fake_host.action(system_artifacts=True, volatile=volatile).plan("localhost")
        assert planned.status == "planned"
        assert planned.action == "host.snapshot"
    assert tree_state(fake_host.root) == before
    assert not fake_host.incident_dir.exists()

    full = fake_host.action(system_artifacts=True).plan("localhost")
    assert str(fake_host.state / "openclaw.json") in full.facts["files"]
    assert str(fake_host.state / "extensions") in full.facts["listings"]
    assert any(c.startswith("journalctl ") for c in full.commands)
    assert full.facts["archive"].endswith(f"{INCIDENT_ID}-full.tar.gz")
    assert full.facts["estimated_bytes"] > 0


def test_caps_truncate_and_record(fake_host: FakeHost, tmp_path: Path) -> None:
    # The step's cap (64) overrides the config's (10).
    outcome = fake_host.snapshot(evidence={"max_file_bytes": 10}, max_file_bytes=64)
    out = extract(outcome.archive, tmp_path / "x")
    files = [i for i in outcome.items if i.kind == "file"]
    big = [i for i in files if os.stat(i.source).st_size > 64]
    assert big, "the fake host has files over the cap"
    for item in big:
        assert item.truncated and item.size == 64
        assert item.original_size == os.stat(item.source).st_size
        assert "capped" in item.note
        assert (out / item.stored_path).read_bytes() == Path(item.source).read_bytes()[:64]
    assert all(not i.truncated for i in files if i not in big)

    total = fake_host.snapshot(max_total_bytes=300)
    stored = sum(i.size for i in total.items if i.kind == "file")
    assert stored <= 300
    assert any(i.truncated for i in total.items)
    over = [r for _, r in total.skipped if r.startswith("max_total_bytes (300) reached")]
    assert over


def test_missing_and_odd_sources_are_skipped_with_reason(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    fifo = fake_host.state / "logs" / "pipe.log"
    os.mkfifo(fifo)
    linked = tmp_path / "elsewhere.log"
    linked.write_text("kept via link\n")
    link = fake_host.state / "logs" / "linked.log"
    link.symlink_to(linked)
    gone = tmp_path / "no-such-dir"
    (fake_host.state / "credentials" / "telegram-pairing.json").unlink()
    for f in (fake_host.state / "nodes").iterdir():
        f.unlink()
    (fake_host.state / "nodes").rmdir()
    context = fake_host.context()
    settings = dict(context.settings)
    settings["agent"] = {**settings["agent"], "state_dirs": [str(fake_host.state), str(gone)]}
    action = SnapshotAction(
        ResponderContext(
            incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir, settings=settings
        ),
        SnapshotParams(system_artifacts=False, extra_paths=[str(tmp_path / "absent.txt")]),
    )
    outcome = action.execute("localhost")  # a FIFO without a writer must not hang it
    assert isinstance(outcome, Collected)
    skipped = dict(outcome.skipped)
    assert skipped[str(gone)] == "state dir does not exist"
    assert skipped[str(tmp_path / "absent.txt")] == "does not exist"
    assert skipped[str(fifo)] == "not a regular file (fifo)"
    assert skipped[str(fake_host.state / "credentials" / "*-pairing.json")] == "nothing matched"
    assert skipped[str(fake_host.state / "nodes")] == "does not exist"
    # A link in the agent's files leaving its tree is recorded with its target, not followed.
    assert str(link) not in by_source(outcome)
    assert skipped[str(link)] == f"symbolic link to {linked}: not followed"
    assert f"{len(outcome.skipped)} skipped" in outcome.detail


def test_unreadable_file_is_skipped_as_permission_denied(fake_host: FakeHost) -> None:
    """Root reads everything, so as root the snapshot runs in a child without DAC override."""
    private = fake_host.state / "logs" / "private.log"
    private.write_text("not for us\n")
    private.chmod(0o600)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from responders.interface import ResponderContext\n"
        "from responders.host.snapshot import SnapshotAction, SnapshotParams\n"
        "ctx = ResponderContext(incident_id='2026-11-21T0203Z-perm',\n"
        "    incident_dir=Path(sys.argv[1]), settings=json.loads(sys.argv[2]))\n"
        "out = SnapshotAction(ctx, SnapshotParams(system_artifacts=False)).execute('x')\n"
        "print(json.dumps({'skipped': out.skipped, 'items': [i.source for i in out.items]}))\n"
    )
    argv = [sys.executable, "-c", script, str(fake_host.incident_dir),
            json.dumps(fake_host.settings())]
    if os.geteuid() == 0:
        setpriv = require_binary("setpriv", "util-linux")
        os.chown(private, 65534, 65534)
        argv = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", *argv]
    else:
        private.chmod(0)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [str(private), "permission denied"] in result["skipped"]
    assert str(fake_host.state / "logs" / "gateway.log") in result["items"]


def test_volatile_snapshot_keeps_log_tails_locks_processes_and_sockets(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    big_log = fake_host.tmp / "openclaw" / "openclaw-2026-11-20.log"
    big_log.write_bytes(b"".join(b"line %07d\n" % i for i in range(300_000)))  # ~3.6 MB
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        context = fake_host.context()
        settings = dict(context.settings)
        settings["agent"] = {**settings["agent"], "gateway_port": port}
        action = SnapshotAction(
            ResponderContext(
                incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir, settings=settings
            ),
            SnapshotParams(volatile=True, log_tail_bytes=1024 * 1024, system_artifacts=False),
        )
        outcome = action.execute("localhost")
    finally:
        listener.close()
    assert isinstance(outcome, Collected)
    assert Path(outcome.archive).name == f"{INCIDENT_ID}-volatile.tar.gz"
    out = extract(outcome.archive, tmp_path / "x")
    items = by_source(outcome)
    tail = items[str(big_log)]
    assert tail.truncated and tail.size == 1024 * 1024  # type: ignore[attr-defined]
    assert tail.original_size == big_log.stat().st_size  # type: ignore[attr-defined]
    assert (out / tail.stored_path).read_bytes() == big_log.read_bytes()[-1024 * 1024 :]  # type: ignore[attr-defined]
    assert str(fake_host.tmp / "openclaw-1000" / "gateway.1a2b3c4d.lock") in items
    assert str(fake_host.state / "logs" / "gateway.log") in items
    # Volatile means volatile: no config, transcripts or listings.
    assert str(fake_host.state / "openclaw.json") not in items
    assert not any(s.startswith("listing of") for s in items)
    sockets = json.loads((out / items["psutil:sockets"].stored_path).read_text())  # type: ignore[attr-defined]
    assert os.getpid() in sockets["gateway_listener_pids"]
    assert sockets["gateway_port"] == port


def test_the_supervisors_logs_of_the_gateway_are_evidence(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    from clawback_demo.supervisor import start_supervisord

    program = [sys.executable, "-c", "print('gateway says hello', flush=True); "
               "import time; time.sleep(300)"]
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": program}) as supervisor:
        out_log = supervisor.workdir / "openclaw-gateway.out.log"
        deadline = time.monotonic() + 30
        while b"hello" not in out_log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        service = {"kind": "supervisord", "name": "openclaw-gateway",
                   "socket": str(supervisor.socket_path),
                   "supervisor_config": str(supervisor.config_path)}
        settings = fake_host.settings()
        settings["agent"]["services"] = [service]
        context = ResponderContext(incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir,
                                   settings=settings)
        live = SnapshotAction(context, SnapshotParams(volatile=True, system_artifacts=False))
        volatile = live.execute("localhost")
        # Removed from the running supervisord (as a stop does): its config still says where.
        supervisor.rpc().supervisor.stopProcessGroup("openclaw-gateway", True)
        supervisor.rpc().supervisor.removeProcessGroup("openclaw-gateway")
        full = SnapshotAction(context, SnapshotParams(system_artifacts=False)).execute("localhost")

    assert isinstance(full, Collected) and isinstance(volatile, Collected)
    collected = by_source(full)
    assert str(out_log) in collected
    assert str(supervisor.workdir / "openclaw-gateway.err.log") in collected
    # Not on the panic path: the volatile pass before the stop does not look them up.
    assert str(out_log) not in by_source(volatile)


def test_supervisor_logs_are_found_without_configured_services(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    """No [[agent.services]]: a running supervisord whose config has the gateway's program
    (by name or command) is found, even after the stop removed the program from it."""
    from clawback_demo.supervisor import start_supervisord

    program = [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(300)"]
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": program}) as supervisor:
        supervisor.rpc().supervisor.stopProcessGroup("openclaw-gateway", True)
        supervisor.rpc().supervisor.removeProcessGroup("openclaw-gateway")
        settings = fake_host.settings()
        settings["agent"].pop("uid")  # whoever runs it
        context = ResponderContext(incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir,
                                   settings=settings)
        full = SnapshotAction(context, SnapshotParams(system_artifacts=False)).execute("x")
        assert isinstance(full, Collected), full
        assert str(supervisor.workdir / "openclaw-gateway.out.log") in by_source(full)
        settings["agent"]["uid"] = 4242  # an agent the program does not run as
        other = SnapshotAction(context, SnapshotParams(system_artifacts=False)).execute("x")
        assert str(supervisor.workdir / "openclaw-gateway.out.log") not in by_source(other)


def test_file_that_shrinks_or_grows_while_read(fake_host: FakeHost, tmp_path: Path) -> None:
    shrinking = tmp_path / "rotated.log"
    shrinking.write_bytes(b"A" * 5000)
    growing = tmp_path / "live.log"
    growing.write_bytes(b"B" * 3000)
    path = tmp_path / "ev" / "a.tar.gz"
    path.parent.mkdir()
    with EvidenceArchive(path, member_prefix="p", id_prefix="t") as archive:
        with open(shrinking, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            os.truncate(shrinking, 1200)  # copytruncate-style rotation mid-collection
            shrunk = archive.add_open_file(fh, st, str(shrinking))
        with open(growing, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            with open(growing, "ab") as writer:
                writer.write(b"C" * 4000)
            grown = archive.add_open_file(fh, st, str(growing))
    assert shrunk is not None and grown is not None
    out = extract(path, tmp_path / "x")
    assert (out / shrunk.stored_path).read_bytes() == b"A" * 1200 + bytes(3800)
    assert shrunk.size == 5000 and "shrank during collection: read 1200 of 5000" in shrunk.note
    assert shrunk.sha256 == hashlib.sha256(b"A" * 1200 + bytes(3800)).hexdigest()
    assert (out / grown.stored_path).read_bytes() == b"B" * 3000
    assert grown.size == 3000 and "grew during collection to 7000 bytes" in grown.note
    # The archive stays well-formed after both: a later member still reads back.
    with tarfile.open(path) as tar:
        assert len(tar.getmembers()) == 2


def test_log_appended_to_during_snapshot_stays_consistent(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    from clawback.evidence import check_evidence

    log = fake_host.tmp / "openclaw" / "openclaw-2026-11-21.log"
    log.write_bytes(b"x" * (8 * 1024 * 1024))
    stop = threading.Event()

    def append() -> None:
        with open(log, "ab", buffering=0) as fh:
            while not stop.is_set():
                fh.write(b'{"msg":"still running"}\n')

    writer = threading.Thread(target=append)
    writer.start()
    try:
        manifest, sha = fake_host.sealed_incident()
    finally:
        stop.set()
        writer.join()
    item = next(i for i in manifest.items if i.source == str(log) and not i.truncated)
    assert item.size >= 8 * 1024 * 1024
    out = extract(fake_host.incident_dir / "evidence" / item.archive, tmp_path / "x")
    assert (out / item.stored_path).read_bytes() == log.read_bytes()[: item.size]
    assert [v.code for v in check_evidence(fake_host.incident_dir, sha)] == ["EVIDENCE_OK"]


def test_second_snapshot_never_overwrites_the_first(fake_host: FakeHost) -> None:
    first = fake_host.snapshot()
    second = fake_host.snapshot()
    assert Path(first.archive).name == f"{INCIDENT_ID}-full.tar.gz"
    assert Path(second.archive).name == f"{INCIDENT_ID}-full-2.tar.gz"
    assert sha256_of(Path(first.archive)) == first.archive_sha256


def test_params_and_settings_are_validated(fake_host: FakeHost) -> None:
    # As the engine validates a step's with: (a plain dataclass, through pydantic) ...
    with pytest.raises(pydantic.ValidationError):
        validate_params(SnapshotParams, {"volatile": True, "volatle": True})
    with pytest.raises(pydantic.ValidationError):
        validate_params(SnapshotParams, {"max_file_bytes": -1})
    # ... and as a caller builds it directly.
    with pytest.raises(ValueError, match="max_file_bytes"):
        SnapshotParams(max_file_bytes=-1)
    no_agent = SnapshotAction(
        ResponderContext(incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir),
        SnapshotParams(),
    )
    with pytest.raises(ResponderError, match=r"agent\.state_dirs"):
        no_agent.plan("localhost")
    # A dry run plans before any incident exists; collecting needs one.
    no_incident = SnapshotAction(ResponderContext(settings=fake_host.settings()), SnapshotParams())
    assert no_incident.plan("localhost").facts["archive"] == "evidence/<incident>-full.tar.gz"
    with pytest.raises(ResponderError, match="incident"):
        no_incident.execute("localhost")


def test_state_dirs_default_to_every_openclaw_dir_in_home(fake_host: FakeHost) -> None:
    profile = fake_host.home / ".openclaw-work"
    (profile / "logs").mkdir(parents=True)
    (profile / "openclaw.json").write_text("{}")
    legacy = fake_host.home / ".clawdbot"
    legacy.mkdir()
    (legacy / "clawdbot.json").write_text("{}")
    settings = fake_host.settings()
    settings["agent"] = {**settings["agent"], "state_dirs": []}
    action = SnapshotAction(
        ResponderContext(
            incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir, settings=settings
        ),
        SnapshotParams(system_artifacts=False),
    )
    files = action.plan("localhost").facts["files"]
    for path in (
        fake_host.state / "openclaw.json",
        profile / "openclaw.json",
        legacy / "clawdbot.json",
    ):
        assert str(path) in files


def test_snapshot_module_imports_nothing_heavy() -> None:
    """The contain path imports these modules; tarfile/isal/psutil load only when they run.

    snapshot.py is loaded by path so the package's other actions (which may import psutil
    themselves) don't blur what this module costs at import time.
    """
    import responders.host.snapshot as snapshot

    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('probe', {snapshot.__file__!r})\n"
        "module = sys.modules['probe'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "import clawback.evidence\n"
        "heavy = ('isal', 'psutil', 'tarfile', 'rfc8785', 'sqlite3')\n"
        "print(sorted(m for m in heavy if m in sys.modules), hasattr(module, 'SnapshotAction'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "[] True"


def test_archive_is_gzip_readable_by_python_and_members_are_regular(fake_host: FakeHost) -> None:
    outcome = fake_host.snapshot()
    with tarfile.open(outcome.archive, "r:gz") as tar:
        members = tar.getmembers()
    assert {m.name for m in members} == {i.stored_path for i in outcome.items}
    assert all(m.isreg() and not m.name.startswith("/") and ".." not in m.name for m in members)
    assert all(m.name.startswith(f"{INCIDENT_ID}-full/") for m in members)
    raw = io.BytesIO(Path(outcome.archive).read_bytes())
    assert raw.read(2) == b"\x1f\x8b"


def test_the_workspaces_the_agents_config_names_are_asked_of_the_agent(
    fake_host: FakeHost,
) -> None:
    """Host code does not read OpenClaw's config: the agent the engine hands it
    (``ResponderContext.agent_keeper``) names the workspaces; without one (a bare call) only
    the default ``<state>/workspace`` is collected."""
    elsewhere = fake_host.home / "projects" / "bot"
    elsewhere.mkdir(parents=True)
    (elsewhere / "AGENTS.md").write_text("# Agents\nRead the mail.\n")
    config = fake_host.state / "openclaw.json"
    data = pyjson5.decode(config.read_text())
    data.setdefault("agents", {}).setdefault("defaults", {})["workspace"] = str(elsewhere)
    config.write_text(json.dumps(data))

    with_agent = fake_host.action().plan("localhost").facts["files"]
    assert str(elsewhere / "AGENTS.md") in with_agent

    bare = SnapshotAction(
        ResponderContext(incident_id=INCIDENT_ID, incident_dir=fake_host.incident_dir,
                         settings=fake_host.settings()),
        SnapshotParams(system_artifacts=False),
    ).plan("localhost").facts["files"]
    assert str(elsewhere / "AGENTS.md") not in bare
    assert str(fake_host.state / "workspace" / "AGENTS.md") in bare

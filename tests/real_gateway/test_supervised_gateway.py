"""``clawback contain`` against the real OpenClaw gateway under supervisord with autorestart, on
a host where ``openclaw gateway install`` left a user unit and no systemd runs.

One gateway for the module, in the order an incident goes: the audit sees it running, contain
stops and rotates, the stop survives ``supervisorctl update`` and a supervisord restart, and
then the owner starts it again and checks what changed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawback.audit import HostSystem, run_audit
from clawback_demo.supervisor import SupervisorHandle, start_supervisord
from tests.real_gateway.conftest import (
    ClawbackRun,
    Operator,
    manifest_sources,
    owner_checks_after_start,
    owner_checks_before_start,
    results,
    supervisorctl,
    which_files_hold,
)
from tests.real_gateway.world import NODE, OPENCLAW_CLI, READY_TIMEOUT_S, OpenClawWorld

PROGRAM = "openclaw-gateway"


@dataclass
class Supervised:
    operator: Operator
    world: OpenClawWorld
    supervisor: SupervisorHandle
    ready_after_s: float


@pytest.fixture(scope="module")
def supervised(operator: Operator) -> Iterator[Supervised]:
    world = operator.world
    supervisor = start_supervisord(
        operator.root / "sv",
        {PROGRAM: world.gateway_argv()},
        autorestart=True,
        timeout=READY_TIMEOUT_S,
        program_options={PROGRAM: {
            "user": world.user.pw_name,
            "directory": str(world.home),
            "environment": world.supervisord_environment(),
        }},
    )
    try:
        ready = world.wait_ready(
            world.gateway_token, lambda: supervisor.process_info(PROGRAM)["statename"] in
            ("RUNNING", "STARTING"))
        yield Supervised(operator, world, supervisor, ready)
    finally:
        supervisor.stop()


@pytest.fixture(scope="module")
def contained(supervised: Supervised) -> ClawbackRun:
    run = supervised.operator.contain()
    (supervised.operator.root / "contain.json").write_text(run.stdout + run.stderr)
    return run


def _gateway_pid(supervised: Supervised) -> int:
    return int(supervised.supervisor.process_info(PROGRAM)["pid"])


def test_the_real_gateway_runs_as_the_agent_and_answers_only_its_token(
    supervised: Supervised,
) -> None:
    world = supervised.world
    import psutil

    gateway = psutil.Process(_gateway_pid(supervised))
    assert gateway.uids().real == world.user.pw_uid != 0
    # OpenClaw rewrites its command line to its title: no "dist/index.js gateway" to match.
    assert gateway.name().startswith("openclaw-gatewa")
    assert gateway.cmdline()[0] == "openclaw-gateway"
    listening = {(c.laddr.ip, c.laddr.port) for c in gateway.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", world.port), ("::1", world.port)}
    assert world.invoke(world.gateway_token).status == 200
    assert world.invoke("not-" + world.gateway_token).status == 401
    lock = json.loads(next(world.lock_dir.glob("gateway.*.lock")).read_text())
    assert lock["pid"] == gateway.pid and lock["configPath"] == str(world.config)
    # No JSON health endpoint: GET /health is the Control UI's HTML.
    import httpx

    with httpx.Client(trust_env=False, timeout=10) as client:
        health = client.get(f"http://127.0.0.1:{world.port}/health")
    assert health.status_code == 200 and health.headers["content-type"].startswith("text/html")
    rss_mb = gateway.memory_info().rss / 2**20
    print(f"real gateway ready after {supervised.ready_after_s:.1f} s, RSS {rss_mb:.0f} MB")


def test_audit_before_contain_reads_the_live_gateway_right(supervised: Supervised) -> None:
    world = supervised.world
    report = run_audit(
        user_home=world.home,
        settings={"agent": {"user_home": str(world.home), "uid": world.user.pw_uid,
                            "tmp_dirs": [str(world.tmp)], "gateway_port": world.port}},
        host=HostSystem(live=True),
        openclaw=(str(NODE), str(OPENCLAW_CLI)),
    )
    assert report.openclaw_audit_ran, report.by_id("openclaw.audit_failed")
    ids = report.ids()
    # supervisord runs it: contain can stop it for good, whatever unit files say.
    assert "contain.no_stop_path" not in ids
    # The config says lan; the live listener is loopback (started with --bind loopback).
    (bind,) = report.by_id("gateway.bind_exposed")
    assert any("loopback" in line and "running gateway" in line for line in bind.evidence)
    assert "gateway.listener_exposed" not in ids
    # OpenClaw's own critical findings stay critical, folded into ours or listed as theirs.
    raw = world.openclaw("security", "audit", "--json")
    theirs = json.loads(raw.stdout[raw.stdout.find("{"):])["findings"]
    critical = {f["checkId"] for f in theirs if f["severity"] == "critical"}
    assert critical, "this install should give OpenClaw something critical to say"
    for finding in report:
        if critical & set(finding.openclaw_ids):
            assert finding.severity.value == "critical", finding
    reported = {i for f in report for i in f.openclaw_ids}
    assert critical <= reported


def test_contain_stops_it_for_good_and_rotates_everything(
    supervised: Supervised, contained: ClawbackRun
) -> None:
    world = supervised.world
    document = contained.document
    failed = [r for r in document["results"] if r["outcome"] in ("Failed", "Refused")]
    assert failed == [], json.dumps(failed, indent=1)[:4000]
    stop = {r["target"]: r for r in results(document, "stop")
            if r["action"] == "host.stop_service"}
    rechecked = {r["target"]: r for r in results(document, "stop")
                 if r["action"] == "host.stop_service.recheck"}
    assert rechecked[f"supervisord:{PROGRAM}"]["outcome"] == "Done"
    supervised_stop = stop[f"supervisord:{PROGRAM}"]
    assert supervised_stop["outcome"] == "Done", supervised_stop
    finality = supervised_stop["facts"]["persistence"]
    assert finality["autostart"] == "false" and finality["file"] == str(
        supervised.supervisor.config_path)
    # The unit OpenClaw wrote is reported for what it is: nothing runs it here.
    unit = stop[f"systemd-user:{world.user.pw_name}/openclaw-gateway.service"]
    assert unit["outcome"] == "Skipped" and "no systemd" in unit["summary"], unit
    # Everything left to a human is a provider key with no API here, never the gateway.
    remaining = {r["target"] for r in document["remaining"]}
    assert all(not t.startswith(("supervisord:", "systemd")) for t in remaining), remaining


def test_the_old_secrets_are_nowhere_in_the_install(
    supervised: Supervised, contained: ClawbackRun
) -> None:
    world = supervised.world
    for name, old in (("gateway token", world.gateway_token), ("hooks token", world.hooks_token)):
        assert which_files_hold(world.home, old) == [], name
        assert which_files_hold(world.tmp, old) == [], name
    mode = stat.S_IMODE(os.stat(world.unit).st_mode)
    assert mode == 0o600, oct(mode)


def test_the_evidence_holds_workspace_identity_and_supervisor_logs(
    supervised: Supervised, contained: ClawbackRun
) -> None:
    world = supervised.world
    sources = manifest_sources(Path(contained.document["incident_dir"]))
    workspace = world.state / "workspace"
    for name in ("AGENTS.md", "SOUL.md", "BOOTSTRAP.md"):
        assert str(workspace / name) in sources, name
    assert str(world.state / "identity" / "device.json") in sources
    assert str(world.state / "logs" / "config-audit.jsonl") in sources
    out_log = supervised.supervisor.workdir / f"{PROGRAM}.out.log"
    assert str(out_log) in sources


def test_it_stays_down_after_supervisorctl_update_and_a_supervisord_restart(
    supervised: Supervised, contained: ClawbackRun
) -> None:
    world, supervisor = supervised.world, supervised.supervisor
    update = supervisorctl(supervisor.config_path, "update")
    assert update.returncode == 0, update.stderr
    for _ in range(2):  # two answers: supervisord has run its start-up pass since the update
        info = supervisor.process_info(PROGRAM)
    assert info["statename"] == "STOPPED" and info["pid"] == 0
    supervisor.restart(timeout=READY_TIMEOUT_S)
    for _ in range(2):
        info = supervisor.process_info(PROGRAM)
    assert info["statename"] == "STOPPED" and info["pid"] == 0
    assert [p for p in world.agent_processes() if p.is_running()] == []
    assert not list(world.lock_dir.glob("gateway.*.lock"))


def test_the_owner_starts_it_again_with_the_new_tokens_only(
    supervised: Supervised, contained: ClawbackRun
) -> None:
    supervisor = supervised.supervisor
    new_gateway = owner_checks_before_start(supervised.operator, contained.document)

    start = supervisorctl(supervisor.config_path, "start", PROGRAM)
    assert start.returncode == 0, start.stdout + start.stderr

    owner_checks_after_start(
        supervised.operator, contained.document, new_gateway,
        lambda: supervisor.process_info(PROGRAM)["statename"] == "RUNNING",
    )

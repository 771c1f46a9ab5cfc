"""The stop proves itself at once and lets the playbook go on; the respawn re-check runs beside
the next steps, lands as its own signed entry before the incident closes, and fails the run when
the agent came back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from conftest import AgentHost, gateway_argv, port_open, wait_until

from clawback.incident import create_incident_dir
from clawback.playbook import load_playbook
from clawback.registry import load_registry
from clawback.runner import WHEN_VARIABLES, Runner, RunOptions, known_actions
from clawback.signing import Signer
from clawback.timeline import Timeline, read_entries
from clawback.verify import verify_incident
from responders.host import HostResponder

INCIDENT = "2026-11-21T0203Z-rchk"

# A respawner no supervisor-detection knows: it starts the gateway again a while after it dies,
# as a wrapper loop or a cron job would.
RESPAWNER = textwrap.dedent("""
    import subprocess, sys, time
    delay, argv = float(sys.argv[1]), sys.argv[2:]
    while True:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(delay)
""")


def _run_contain(tmp_path: Path, settings: dict[str, Any], recheck_seconds: float) -> Any:
    playbook = tmp_path / "stop.yaml"
    playbook.write_text(
        "name: stop-then-more\nsteps:\n"
        f"  - id: stop\n    uses: host.stop_service\n"
        f"    with: {{recheck_seconds: {recheck_seconds}, term_timeout: 3, kill_timeout: 2}}\n"
        "  - id: after\n    uses: host.snapshot\n    with: {volatile: true}\n"
    )
    os.chmod(playbook, 0o600)
    home = Path(settings["agent"]["homes"][0])
    home.mkdir(exist_ok=True)
    settings = {**settings, "agent": {**settings["agent"], "user_home": str(home)}}
    registry = load_registry([HostResponder])
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    incident_dir = create_incident_dir(tmp_path / "incidents", INCIDENT)
    timeline = Timeline.create(incident_dir, INCIDENT, Signer.generate("t"), header={})
    runner = Runner(
        registry=registry, playbook=loaded, settings=settings, provider_config=lambda n: {},
        credentials=[], secrets=None, options=RunOptions(yes=True), timeline=timeline,
        incident_id=INCIDENT, incident_dir=incident_dir,
    )
    return runner.run(), incident_dir


def test_a_gateway_that_comes_back_after_a_delay_fails_the_stop_before_close(
    agent_host: AgentHost, tmp_path: Path
) -> None:
    argv = gateway_argv(agent_host.port, agent_host.lock_dir, uid=agent_host.uid)
    respawner = subprocess.Popen(
        [sys.executable, "-c", RESPAWNER, "0.7", *argv],
        start_new_session=True, stdin=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: port_open(agent_host.port))
        settings = agent_host.settings([{"kind": "process", "name": "openclaw-gateway"}])
        # A long window: the re-check ends as soon as it sees the gateway back, so the test
        # waits only for the respawn itself, however slow the machine is.
        result, incident_dir = _run_contain(tmp_path, settings, recheck_seconds=60)
    finally:
        os.killpg(respawner.pid, signal.SIGKILL)
        respawner.wait()

    entries = read_entries(incident_dir / "timeline.jsonl")
    results = [(e.action, e.fields["outcome"]) for e in entries if e.phase == "result"]
    # The stop was proven at once and the playbook went on; the re-check caught the respawn.
    assert ("host.stop_service", "Done") in results
    assert ("host.snapshot", "Collected") in results
    assert ("host.stop_service.recheck", "Failed") in results
    recheck = next(e for e in entries if e.action == "host.stop_service.recheck")
    assert "came back" in recheck.fields["detail"] and "is not down" in recheck.fields["detail"]
    assert recheck.seq < entries[-1].seq and entries[-1].action == "close"
    # It fails the run: a human must act.
    assert result.exit_code == 3
    assert any(r.action == "host.stop_service.recheck" for r in result.remaining)
    assert verify_incident(incident_dir).intact


def test_a_gateway_that_stays_down_is_rechecked_and_the_run_succeeds(
    agent_host: AgentHost, tmp_path: Path
) -> None:
    agent_host.start_gateway()
    settings = agent_host.settings([{"kind": "process", "name": "openclaw-gateway"}])

    result, incident_dir = _run_contain(tmp_path, settings, recheck_seconds=0.5)

    entries = read_entries(incident_dir / "timeline.jsonl")
    recheck = [e for e in entries if e.action == "host.stop_service.recheck"]
    assert [e.fields["outcome"] for e in recheck] == ["Done"]
    assert "stayed down" in recheck[0].fields["detail"]
    assert recheck[0].fields["extra"]["facts"]["proof"]["pids_after"] == []
    assert result.exit_code == 0, [(r.action, r.outcome) for r in result.remaining]
    assert not port_open(agent_host.port)
    assert verify_incident(incident_dir).intact

"""What the panic button loads before it acts, and how its progress reaches the screen.

The first-action figure itself is measured by ``bench/first_action.py``; these tests keep the
path honest: the real ``clawback contain`` (no ``--json``, as a user types it) is run against a
gateway stand-in with a pid file, and an audit hook records ``sys.modules`` at the instant the
SIGTERM goes out. Modules only needed later must not be there yet.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawback import checked_inputs, entry_point_index
from clawback.console import RichReporter
from clawback.contain import ContainRequest, prepare
from clawback.runner import TargetResult
from clawback_demo.home import build_sample_home
from responders.interface import Done

# Needed only after the stop (or never by contain): importing them first delays the signal.
LATER = (
    "rich",  # progress is rendered once the first action is out
    "invoke",  # the fast path parses contain's options itself
    # The rotation ledger is built at the first rotation.
    "clawback.drill",
    # A config and playbook checked before (clawback.checked_inputs) are not validated again:
    # their models, PyYAML, the secret-shape scan and the lockdown step's responder wait.
    "clawback.config", "clawback.playbook", "yaml", "responders.kit.secret_patterns",
    "responders.openclaw.responder", "tomllib",
    "clawback.when",  # the only when: (the network cut's) is compiled when its step comes
    # The snapshot's and the stop's parameters are plain dataclasses (responders.kit.
    # plain_params): pydantic waits for the first step after the stop, and so does the network
    # cut's module.
    "pydantic", "pydantic_core", "annotated_types", "responders.host.network",
    "importlib.metadata",  # entry points come from clawback's index (entry_point_index)
    "responders.openclaw.discovery",  # discovery runs after the stop, and its roles:
    "responders.openclaw.inventory", "responders.openclaw.config_load",
    "responders.openclaw.hinters", "responders.openclaw.agent_paths",
    "responders.openclaw.scan_base", "responders.openclaw.scan_config",
    "responders.openclaw.scan_env", "responders.openclaw.scan_services",
    "responders.openclaw.scan_text", "responders.openclaw.scan_resolve",
    "responders.openclaw.scan_driver",
    # The responder's roles and the lockdown's file editing: the keys and lockdown steps.
    "responders.openclaw.own_secrets", "responders.openclaw.whatsapp",
    "responders.openclaw.switching", "responders.openclaw.secret_edits",
    "responders.openclaw.json5_edit",
    "cryptography.hazmat.primitives.serialization",  # bcrypt and every cipher
    "boto3", "botocore", "httpx", "github", "stripe", "jinja2", "json5",
    "tenacity",  # only a retry, which waits anyway, imports it
    "shtab",  # shell completion
)

STAND_IN = r"""
import os, signal, socket, sys, time
port, pidfile = int(sys.argv[1]), sys.argv[2]
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port)); listener.listen()
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
open(pidfile + ".tmp", "w").write(str(os.getpid())); os.replace(pidfile + ".tmp", pidfile)
while True:
    time.sleep(1)
"""

PROBE = r"""
import json, signal, sys
seen = {}
def hook(event, args):
    if event == "os.kill" and args[1] == signal.SIGTERM and "modules" not in seen:
        seen["modules"] = sorted(sys.modules)
sys.addaudithook(hook)
sys.argv = ["clawback", *sys.argv[2:]]
# Progress is rendered once the first action has its result, or after RENDER_DEADLINE_S.
# On a loaded machine the stop can come after that deadline, and the renderer's thread then
# rightly imports rich: what is measured here is what the path to the stop itself loads.
import clawback.console
clawback.console.RENDER_DEADLINE_S = 3600.0
from clawback import cli
try:
    cli.main()
except SystemExit:
    pass
with open(OUT, "w") as out:
    json.dump(seen.get("modules"), out)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pidfile_agent(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A sample home whose gateway is a real process known by its pid file; yields the config
    and the incidents directory."""
    home = build_sample_home(tmp_path / "host")
    port = _free_port()
    pidfile = tmp_path / "gateway.pid"
    gateway = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), str(pidfile)])
    try:
        deadline = time.monotonic() + 15
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        settings = dict(home.agent_settings())
        settings["gateway_port"] = port
        lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        lines += ["[[agent.services]]", 'kind = "pidfile"', 'name = "openclaw-gateway"',
                  f"pidfile = {json.dumps(str(pidfile))}"]
        config = tmp_path / "clawback.toml"
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        yield config, tmp_path / "incidents"
    finally:
        gateway.kill()
        gateway.wait(timeout=10)


def test_nothing_heavy_is_loaded_before_the_stop_signal(pidfile_agent: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    config, incidents = pidfile_agent
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "data")}
    # As after a preflight, a drill or an earlier run: this config and playbook passed (and
    # are recorded in this test's own state directory, which the child process shares).
    prepare(ContainRequest(config=config))
    assert checked_inputs.record_path().is_file()
    # ... and the entry-point index, written by a process that sees what the probe will see.
    subprocess.run([sys.executable, "-c", "from clawback.registry import load_registry\n"
                    "from clawback.entry_point_index import remember\n"
                    "load_registry(); remember()"], env=env, check=True, timeout=120)
    assert entry_point_index.index_path().is_file()
    run = subprocess.run(
        [sys.executable, "-c", PROBE.replace("OUT", repr(str(out))), "clawback", "contain",
         "--config", str(config), "--yes", "--incidents-dir", str(incidents)],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in run.stderr, run.stderr
    modules = json.loads(out.read_text())
    assert modules is not None, f"contain never sent SIGTERM: {run.stderr[-2000:]}"
    # The probe is real: the modules the volatile snapshot and the stop need are there.
    assert {"clawback.runner", "responders.host.service", "psutil"} <= set(modules)
    early = sorted(m for m in modules if m.split(".")[0] in LATER or m in LATER
                   or any(m.startswith(f"{name}.") for name in LATER))
    assert early == [], f"loaded before the stop signal: {early}"
    # ... and the progress lines kept back until then were all printed, in order: one line
    # per step, starting with its outcome symbol.
    steps = [line.split()[1] for line in run.stderr.splitlines()
             if line[:1] in "✔✋✘–→⛔" and len(line.split()) > 1]
    assert steps[:3] == ["volatile", "stop", "revoke"], run.stderr


def _reporter() -> tuple[RichReporter, io.StringIO]:
    stream = io.StringIO()
    return RichReporter(stream=stream, defer_until_action=True), stream


def _step(reporter: RichReporter, step_id: str, detail: str) -> None:
    """A one-target step from start to end (its line is due when the next step starts)."""
    reporter.step_started(step_id, "test.record", "")
    reporter.target_finished(TargetResult(step_id, "test.record", "localhost",
                                          Done(detail=detail)))


def test_deferred_reporter_keeps_lines_until_the_first_action(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No deadline within the test: a loaded machine must not print the lines early.
    monkeypatch.setattr("clawback.console.RENDER_DEADLINE_S", 3600.0)
    reporter, stream = _reporter()
    _step(reporter, "volatile", "sealed [bracketed] things")
    reporter.step_started("stop", "host.stop_service", "")
    reporter.note("a [bracketed] note")
    assert stream.getvalue() == ""
    reporter.action_issued()  # the stop's intent: its signal is not out yet
    assert stream.getvalue() == ""
    reporter.target_finished(TargetResult("stop", "host.stop_service", "x", Done(detail="down")))
    deadline = time.monotonic() + 10
    while "bracketed] note" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    text = stream.getvalue()
    # One line for the step, its outside text shown as it is (no markup swallowed).
    assert text.index("✔ volatile      sealed [bracketed] things") < text.index(
        "a [bracketed] note")
    reporter.step_started("revoke", "keys.revoke_all", "")
    assert "✔ stop" in stream.getvalue(), "after the first action, lines are printed at once"


def test_deferred_reporter_prints_everything_before_a_question() -> None:
    reporter, stream = _reporter()
    _step(reporter, "volatile", "sealed")
    reporter.step_started("isolate", "host.cut_network", "cut the network")
    seen_when_asked: list[str] = []

    def ask(question: str) -> bool:
        seen_when_asked.append(stream.getvalue())
        return True

    asked = reporter.prompting(ask)
    assert asked is not None and asked("cut now?") is True
    assert "✔ volatile" in seen_when_asked[0]
    assert reporter.prompting(None) is None


def test_a_step_over_a_second_says_how_long_it_took() -> None:
    reporter, stream = _reporter()
    reporter.action_issued()
    _step(reporter, "stop", "stopped it")
    assert reporter._step is not None
    reporter._step.started -= 2.5  # as if it had begun 2.5 s ago
    _step(reporter, "quick", "done at once")
    reporter.finish()
    deadline = time.monotonic() + 10
    while "quick" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"✔ stop +stopped it \(2\.\d s\)", lines[0]), lines
    assert lines[1].rstrip().endswith("done at once"), lines


def test_deferred_reporter_renders_by_the_deadline_without_any_action() -> None:
    reporter, stream = _reporter()
    _step(reporter, "plan", "planned")
    reporter.step_started("next", "host.snapshot", "")
    deadline = time.monotonic() + 10
    while "✔ plan" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "✔ plan" in stream.getvalue()


def test_stop_signal_probe_sees_sigterm() -> None:
    """The audit event the panic-path test relies on exists on this interpreter."""
    code = (
        "import os, signal, subprocess, sys\n"
        "events = []\n"
        "sys.addaudithook(lambda e, a: events.append(a) if e == 'os.kill' else None)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "os.kill(child.pid, signal.SIGTERM); child.wait(timeout=10)\n"
        "print((child.pid, int(signal.SIGTERM)) in [(p, int(s)) for p, s in events])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.stdout.strip() == "True", run.stderr


def test_the_first_action_bench_configures_every_api_provider() -> None:
    """bench/first_action.py's figure claims "every provider configured": its config must hold
    a table for each registered responder that talks to a provider's API, and each table must
    pass that responder's own check."""
    import importlib.util
    import tomllib

    from clawback.audit.checks.readiness import needs_admin_credential
    from clawback.registry import load_registry

    path = Path(__file__).resolve().parents[2] / "bench" / "first_action.py"
    spec = importlib.util.spec_from_file_location("first_action_bench", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tables = tomllib.loads(bench.provider_tables(9))["providers"]
    registry = load_registry()
    api = {cls.name: cls for cls in registry.responders.values() if needs_admin_credential(cls)}
    assert api and set(tables) == set(api)
    for name, cls in api.items():
        cls.check_config(tables[name])  # raises (ResponderError) on a table it would refuse

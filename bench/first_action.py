"""Panic-button latency: process start → the stop signal reaching the agent.

Starts a gateway stand-in (a real process with a pid file and a loopback listener) that notes
the CLOCK_MONOTONIC time at which SIGTERM arrives, then runs the real ``clawback contain``
(packaged playbook: volatile snapshot, then stop) as a fresh process, N times; once the signal
has landed the run is ended (what follows is not timed here). CLOCK_MONOTONIC is shared by every
process on the machine, so the difference is the true latency.

Four set-ups, interleaved so they see the same machine load:

* as a person types it (live progress) with every API provider configured: one
  ``[providers.*]`` table per API responder, 16 (tests/engine/test_panic_path.py checks that
  none is missing; the endpoints are closed loopback ports; nothing is reached before the
  stop), in a config and playbook an earlier run (the warm-up) has validated, so neither is
  validated again (``clawback.checked_inputs``; the gateway's port and pid file are the same in
  every run, so the config's bytes are too);
* the same, but a config clawback has never seen (its own state directory is new each run):
  config and playbook validated in full, each table checked by its responder, whose module is
  imported for it, before anything runs;
* the first set-up with ``--json``;
* live progress with no provider table (the least a config can hold).

Also prints when the incident was opened (the volatile snapshot, the first action, starts
then) and the bare interpreter start-up measured the same way. Python's bytecode cache is
written if missing (PYTHONDONTWRITEBYTECODE is cleared for the runs): an installed clawback
has it. Goal (design section 9): median
<= 0.25 s to the first containment action.

``--baseline DIR`` runs another revision's code (a checkout or ``git archive`` of it in DIR,
put first on PYTHONPATH) interleaved with this one's, in the same run, and prints the ratio:
how a change moved the figure, whatever the machine's load.

    .venv/bin/python bench/first_action.py [--runs 20] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

STAND_IN = r"""
import os, signal, socket, sys, time
port, pidfile, stampfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port)); listener.listen()
def on_term(signum, frame):
    open(stampfile, "w").write(repr(time.monotonic()))
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
open(pidfile, "w").write(str(os.getpid()))
while True:
    time.sleep(1)
"""

# What a full config references; the values are placeholders (nothing is called before the
# stop, and each run is ended once the stop signal has landed).
ADMIN_REFERENCES = {
    "CLAWBACK_BENCH_AWS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "CLAWBACK_BENCH_AWS_SECRET": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "CLAWBACK_BENCH_GITHUB_APP_SECRET": "placeholder-app-secret",
    "CLAWBACK_BENCH_OPENAI_ADMIN": "placeholder-openai-admin",
    "CLAWBACK_BENCH_ANTHROPIC_ADMIN": "placeholder-anthropic-admin",
    "CLAWBACK_BENCH_CLOUDFLARE_TOKEN": "placeholder-cloudflare-token",
    "CLAWBACK_BENCH_STRIPE_KEY": "placeholder-stripe-key",
    "CLAWBACK_BENCH_STRIPE_WHSEC": "placeholder-webhook-secret",
    "CLAWBACK_BENCH_SENDGRID_KEY": "placeholder-sendgrid-key",
    "CLAWBACK_BENCH_MATRIX_PASSWORD": "placeholder-matrix-password",
    "CLAWBACK_BENCH_OPENROUTER_KEY": "placeholder-openrouter-key",
    "CLAWBACK_BENCH_GOOGLE_TOKEN": "placeholder-google-token",
    "CLAWBACK_BENCH_XAI_KEY": "placeholder-xai-key",
    "CLAWBACK_BENCH_TWILIO_SECRET": "placeholder-twilio-secret",
    "CLAWBACK_BENCH_AZURE_TOKEN": "placeholder-azure-token",
    "CLAWBACK_BENCH_ELEVENLABS_ADMIN": "placeholder-elevenlabs-admin",
}


def provider_tables(closed_port: int) -> str:
    url = f"http://127.0.0.1:{closed_port}"
    return f"""
[providers.aws]
endpoint_url = "{url}"
region = "us-east-1"
admin_access_key_id = "env:CLAWBACK_BENCH_AWS_KEY_ID"
admin_secret_access_key = "env:CLAWBACK_BENCH_AWS_SECRET"
users = ["openclaw-agent"]

[providers.github]
base_url = "{url}"
oauth_apps = [{{ client_id = "Iv1.8a61f9b3a7aba766", client_secret = "env:CLAWBACK_BENCH_GITHUB_APP_SECRET" }}]

[providers.openai]
base_url = "{url}"
admin_key = "env:CLAWBACK_BENCH_OPENAI_ADMIN"

[providers.anthropic]
base_url = "{url}"
admin_key = "env:CLAWBACK_BENCH_ANTHROPIC_ADMIN"

[providers.slack]
base_url = "{url}"

[providers.cloudflare]
base_url = "{url}"
token = "env:CLAWBACK_BENCH_CLOUDFLARE_TOKEN"

[providers.stripe]
api_base = "{url}"
api_key = "env:CLAWBACK_BENCH_STRIPE_KEY"
webhook_endpoints = [{{ id = "we_b8c780698d8378d0c22701ac", secret = "env:CLAWBACK_BENCH_STRIPE_WHSEC" }}]

[providers.gitlab]
base_url = "{url}"

[providers.sendgrid]
base_url = "{url}"
api_key = "env:CLAWBACK_BENCH_SENDGRID_KEY"

[providers.matrix]
homeserver = "{url}"
user = "@clawback-admin:example.org"
password = "env:CLAWBACK_BENCH_MATRIX_PASSWORD"

[providers.openrouter]
base_url = "{url}"
management_key = "env:CLAWBACK_BENCH_OPENROUTER_KEY"

[providers.google]
base_url = "{url}"
access_token = "env:CLAWBACK_BENCH_GOOGLE_TOKEN"
projects = ["clawback-bench"]

[providers.xai]
base_url = "{url}"
api_url = "{url}"
management_key = "env:CLAWBACK_BENCH_XAI_KEY"

[providers.twilio]
base_url = "{url}"
accounts_url = "{url}"
account_sid = "AC00000000000000000000000000000000"
admin_key_id = "SK00000000000000000000000000000000"
admin_secret = "env:CLAWBACK_BENCH_TWILIO_SECRET"

[providers.azure_openai]
management_url = "{url}"
token = "env:CLAWBACK_BENCH_AZURE_TOKEN"
accounts = [{{ subscription_id = "00000000-0000-0000-0000-000000000000", resource_group = "agents", name = "clawback-bench" }}]

[providers.elevenlabs]
base_url = "{url}"
admin_key = "env:CLAWBACK_BENCH_ELEVENLABS_ADMIN"
"""  # noqa: E501


# ``python -m clawback`` with an audit hook that notes the process's CPU time (every thread) when
# SIGTERM goes out: the work done before the stop, which the machine's load inflates far less
# than the wall time (a busy shared machine makes the wall figure mostly waiting for a core).
CPU_PROBE = r"""
import os, runpy, signal, sys, time
stamp = sys.argv.pop(1)
def on_event(event, args):
    if event == "os.kill" and args[1] == signal.SIGTERM and not os.path.exists(stamp):
        with open(stamp, "w") as out:
            out.write(repr(time.process_time()))
sys.addaudithook(on_event)
sys.argv[0] = "clawback"
runpy.run_module("clawback", run_name="__main__", alter_sys=True)
"""


@functools.cache
def closed_provider_port() -> int:
    return free_port()


@functools.cache
def gateway_port() -> int:
    return free_port()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_run(root: Path, home: object, run: int, *, json_output: bool = False,
            providers: bool = True, code: Path | None = None,
            first_sight: bool = False) -> tuple[float, float]:
    """(start -> SIGTERM at the agent, start -> incident opened, CPU seconds clawback spent
    before sending it) of one cold run."""
    # The same port and pid file every run: the config's bytes stay the same from run to run,
    # as a real config does (a set-up's runs are one after another: one gateway at a time).
    port = gateway_port()
    pidfile, stamp = root / "gateway.pid", root / f"gw{run}.term"
    pidfile.unlink(missing_ok=True)
    gateway = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), str(pidfile),
                                str(stamp)])
    while not pidfile.exists():
        time.sleep(0.01)
    settings = dict(home.agent_settings())  # type: ignore[attr-defined]
    settings["gateway_port"] = port
    config = root / f"clawback-{'providers' if providers else 'bare'}.toml"
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[[agent.services]]", 'kind = "pidfile"', 'name = "openclaw-gateway"',
              f"pidfile = {json.dumps(str(pidfile))}"]
    # One closed port for the whole bench: the tables are then the same config from run to run
    # (a new port each run made every table "never seen" and the record never used).
    config.write_text("\n".join(lines) + "\n" + (provider_tables(closed_provider_port())
                                                 if providers else ""))
    os.chmod(config, 0o600)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           **ADMIN_REFERENCES,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(root / "data"),
           # clawback's state: the record of provider tables already checked lives there; a
           # fresh one per run is a config clawback has never seen (every table checked).
           "XDG_STATE_HOME": str(root / (f"state{run}" if first_sight else "state"))}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    incidents = root / f"incidents{run}"
    started, started_wall = time.monotonic(), time.time()
    cpu_stamp = root / f"gw{run}.cpu"
    contain = subprocess.Popen(
        [sys.executable, "-c", CPU_PROBE, str(cpu_stamp), "contain", "--config", str(config),
         "--yes",
         "--incidents-dir", str(incidents), *(["--json"] if json_output else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Not the checkout: ``python -c`` puts the working directory first on sys.path, ahead
        # of PYTHONPATH, so a baseline run from the checkout ran this tree's code.
        cwd=root,
    )
    try:
        gateway.wait(timeout=30)
    finally:
        contain.kill()
        contain.wait()
        if gateway.poll() is None:  # contain never stopped it: leave nothing running
            gateway.kill()
            gateway.wait()
    if not stamp.exists():
        raise SystemExit("the stand-in never received SIGTERM: contain did not stop it")
    return (float(stamp.read_text()) - started, opened_at(incidents) - started_wall,
            float(cpu_stamp.read_text()))


def opened_at(incidents: Path) -> float:
    """Wall-clock time of the run's entry 0: the incident is open and the volatile snapshot,
    the playbook's first action, starts (it writes no intent: it changes nothing)."""
    (incident,) = incidents.iterdir()
    with (incident / "timeline.jsonl").open() as timeline:
        entry = json.loads(timeline.readline())
    return datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()


def interpreter_start(root: Path) -> float:
    stamp = root / "bare.stamp"
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import time; open({str(stamp)!r}, 'w')"
                    ".write(repr(time.monotonic()))"], check=True)
    return float(stamp.read_text()) - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another revision's tree, to compare")
    args = parser.parse_args(argv)

    from clawback_demo.home import build_sample_home

    tables = provider_tables(1).count("[providers.")
    forms: dict[str, dict[str, object]] = {
        f"live progress, {tables} provider tables": {},
        f"live progress, {tables} provider tables never checked before": {"first_sight": True},
        f"--json, {tables} provider tables": {"json_output": True},
        "live progress, no provider table": {"providers": False},
    }
    if args.baseline is not None:
        baseline = args.baseline.resolve()
        forms.update({f"{label} [baseline]": {**options, "code": baseline}
                      for label, options in list(forms.items())})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = build_sample_home(root / "host")
        # Warm the page cache and create the signing key (once per tree).
        for warm, options in enumerate(forms.values(), start=1):
            one_run(root, home, -warm, code=options.get("code"))  # type: ignore[arg-type]
        runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in forms}
        number = 0
        for _ in range(args.runs):
            for label, options in forms.items():
                runs[label].append(one_run(root, home, number, **options))  # type: ignore[arg-type]
                number += 1
        bare = statistics.median(interpreter_start(root) for _ in range(5))
    print(f"{args.runs} cold starts of each set-up of clawback contain --yes (volatile snapshot "
          "first, then stop); goal: median <= 0.25 s to the first containment action")
    for label, series in runs.items():
        stops, opened, cpu = [r[0] for r in series], [r[1] for r in series], [r[2] for r in series]
        print(f"  {label}:")
        print(f"    start -> SIGTERM at the agent: median {statistics.median(stops):.3f} s, "
              f"min {min(stops):.3f} s, max {max(stops):.3f} s")
        print(f"    start -> incident opened, volatile snapshot starting: median "
              f"{statistics.median(opened):.3f} s")
        print(f"    CPU time clawback spent before the stop signal: median "
              f"{statistics.median(cpu):.3f} s")
    if args.baseline is not None:
        print(f"this tree against the baseline ({args.baseline}), medians of the same run:")
        for label in [lab for lab in runs if not lab.endswith("[baseline]")]:
            now = statistics.median(r[0] for r in runs[label])
            then = statistics.median(r[0] for r in runs[f"{label} [baseline]"])
            cpu_now = statistics.median(r[2] for r in runs[label])
            cpu_then = statistics.median(r[2] for r in runs[f"{label} [baseline]"])
            print(f"  {label}: stop signal {now:.3f} s vs {then:.3f} s = {now / then:.2f}×; "
                  f"CPU before it {cpu_now:.3f} s vs {cpu_then:.3f} s = {cpu_now / cpu_then:.2f}×")
    print(f"bare Python start-up on this machine, same method: {bare:.3f} s")


if __name__ == "__main__":
    main()

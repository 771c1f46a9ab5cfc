"""``clawback demo`` end to end: every provider with an API is contained for real against its
stand-in, only the steps no API can do are left to a human, and nothing secret or running is
left behind."""

from __future__ import annotations

import configparser
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from clawback_demo.home import build_sample_home
from clawback_demo.standins import find_prism, github_spec
from clawback_demo.summary import print_demo_ending
from responders.interface import fingerprint
from tests.conftest import require
from tests.demo.conftest import DEMO_SEED, DemoRun

# Planted kinds some provider API can kill: each must be revoked (or disabled) and then proven
# dead by asking the provider's stand-in with the old value.
KILLED_BY_API = frozenset(
    {
        "aws:access_key",
        "github:pat",
        "github:fine_grained_pat",
        "github:oauth",
        "github:user_to_server",
        "github:installation",
        "openai:project_key",
        "openai:admin_key",
        "anthropic:api_key",
        "slack:bot_token",
        "slack:user_token",
        "cloudflare:api_token",
        "stripe:webhook_secret",
    }
)
# Planted kinds the demo's stand-ins cannot let clawback prove dead: the Slack user token's app
# restricts token use to the agent's host (an IP allow-list), so Slack answers clawback
# invalid_auth whether the token lives or not. Never counted dead; shown apart, with a check.
UNPROVEN_IN_THE_DEMO = frozenset({"slack:user_token"})
# Planted kinds whose replacement an API creates: each must end Rotated.
REPLACED_BY_API = frozenset(
    {"aws:access_key", "openai:admin_key", "cloudflare:api_token", "stripe:webhook_secret"}
)
# The only steps a human may be left with, by kind and action, and why no API does them.
NO_API = {
    "aws:session": {"revoke"},  # STS session credentials cannot be revoked one by one
    "aws:session_token": {"revoke"},
    "github:copilot_token": {"revoke"},
    "github:pat": {"rotate"},  # no API creates personal access tokens
    "github:fine_grained_pat": {"rotate"},
    "github:oauth": {"rotate"},  # a revoked OAuth token: the user authorizes the app again
    "github:user_to_server": {"rotate"},
    "openai:project_key": {"rotate"},  # no API creates a user's key (service accounts: rotated)
    "openai:oauth_access": {"revoke"},
    "openai:oauth_refresh": {"revoke"},
    "anthropic:api_key": {"rotate"},  # the Admin API cannot create keys
    "anthropic:admin_key": {"revoke"},
    "anthropic:oauth_token": {"revoke"},
    "anthropic:oauth_refresh": {"revoke"},
    "slack:bot_token": {"rotate"},  # classic tokens: only reinstalling the app re-issues them
    "slack:user_token": {"rotate"},
    "slack:app_token": {"revoke"},
    "slack:signing_secret": {"revoke"},
    "stripe:secret_key": {"revoke"},  # keys are rolled in the Dashboard only
    "stripe:restricted_key": {"revoke"},
    "telegram:bot_token": {"revoke"},
    "discord:bot_token": {"revoke"},
    "huggingface:token": {"revoke"},
    "openrouter:api_key": {"revoke"},
    "brave:api_key": {"revoke"},
    "elevenlabs:api_key": {"revoke"},
    "unknown:secret": {"revoke"},
    "openclaw:device_private_key": {"revoke"},
    "openclaw:auth_profile_secret_key": {"revoke"},
    "whatsapp:session": {"revoke"},
}
STAND_INS = {"github", "openai", "anthropic", "slack", "cloudflare", "stripe"}


def _kinds(run: DemoRun) -> dict[str, str]:
    return {p["target"]: p["kind"] for p in run.sandbox_json("planted.json")}


def _outcomes(run: DemoRun, target: str, action: str) -> list[str]:
    return [
        r["outcome"]
        for r in run.document["results"]
        if r["target"] == target and r["action"] == action
    ]


def test_demo_contains_the_sandbox_and_exits_zero(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    assert demo_run.demo["gateway_stopped"] is True
    assert demo_run.demo["verify_exit"] == 0
    # How fast the demo runs is bench/demo.py's question, not a test's (it took 79 s at load 24).


def test_the_owners_restart_proves_the_gateway_rotation(demo_run: DemoRun) -> None:
    """After contain the gateway stays down through `supervisorctl update`; started again on
    purpose it refuses the old gateway and hooks tokens and takes the new ones."""
    restart = demo_run.demo["restart"]
    assert restart["after_update"] == "STOPPED"
    assert {p["kind"]: (p["old"], p["new"]) for p in restart["probes"]} == {
        "openclaw:gateway_token": (401, 200),
        "openclaw:hooks_token": (401, 200),
    }


def test_no_outcome_failed(demo_run: DemoRun) -> None:
    failed = [
        f"{r['action']} {r['target']}: {r['summary']}"
        for r in demo_run.document["results"]
        if r["outcome"] in ("Failed", "Refused")
    ]
    assert failed == []
    # contain itself ends partial (the no-API steps are left); the demo, which showed what it
    # should, exits 0, and its document's exit code is the command's.
    assert demo_run.document["contain_exit_code"] == demo_run.demo["contain_exit"] == 3
    assert demo_run.document["exit_code"] == demo_run.returncode == 0


def test_every_key_an_api_can_kill_is_revoked_and_proven_dead(demo_run: DemoRun) -> None:
    kinds = _kinds(demo_run)
    killable = {t: k for t, k in kinds.items()
                if k in KILLED_BY_API and k not in UNPROVEN_IN_THE_DEMO}
    assert {k for k in killable.values()} == KILLED_BY_API - UNPROVEN_IN_THE_DEMO
    for target, kind in killable.items():
        revoked = _outcomes(demo_run, target, "revoke")
        assert revoked and set(revoked) <= {"Revoked", "Disabled"}, (kind, target, revoked)
        assert _outcomes(demo_run, target, "verify_revoked") == ["VerifiedDead"], (kind, target)
        if kind in REPLACED_BY_API:
            assert _outcomes(demo_run, target, "rotate") == ["Rotated"], (kind, target)
    # The stand-ins agree: none of them still takes one of those values.
    still = {s["kind"] for s in demo_run.sandbox_json("demo.json")["still_accepted"]}
    assert still.isdisjoint(KILLED_BY_API - UNPROVEN_IN_THE_DEMO)
    assert still <= set(NO_API)


def test_a_key_that_cannot_be_proven_dead_is_shown_apart_with_what_to_check(
    demo_run: DemoRun,
) -> None:
    kinds = _kinds(demo_run)
    doubtful = {t for t, k in kinds.items() if k in UNPROVEN_IN_THE_DEMO}
    assert doubtful
    for target in doubtful:
        assert _outcomes(demo_run, target, "revoke") == ["Unproven"], target
        assert not _outcomes(demo_run, target, "verify_revoked")  # never "dead"
    document = demo_run.document
    assert {u["target"] for u in document["unproven"]} == doubtful
    assert all("allow-list" in u["reason"] and u["check"] for u in document["unproven"])
    section = demo_run.sandbox_json("demo.json")
    assert [u["what"].split()[0] for u in section["unproven"]] == ["user_token"]
    slack = section["providers"]["slack"]
    assert slack["not proven dead"] == 1
    from rich.console import Console

    console = Console(record=True, width=100, soft_wrap=True, file=io.StringIO())
    print_demo_ending(section, console)
    shown = console.export_text()
    assert "not proven dead: slack user_token" in shown
    assert "Restrict API Token Usage" in shown.split("not proven dead:")[1]
    report = next(Path(p) for p in section["report"].values() if p.endswith("report.md"))
    assert "Revoked, not proven dead (1)" in report.read_text()


def test_only_steps_without_an_api_are_left_to_a_human(demo_run: DemoRun) -> None:
    kinds = _kinds(demo_run)
    unexpected = [
        f"{r['action']} {r['target']} ({kinds.get(r['target'], 'not planted')})"
        for r in demo_run.document["results"]
        if r["outcome"] == "ManualRequired"
        and r["action"] not in NO_API.get(kinds.get(r["target"], ""), set())
    ]
    assert unexpected == []
    manual = {r["target"] for r in demo_run.document["remaining"]}
    assert {kinds[t] for t in manual} <= set(NO_API)
    # Every provider with a stand-in was configured: none is left as "configure [providers.X]".
    # (A planted key of a provider the demo has no stand-in for, OpenRouter's, is rightly left
    # as "clawback can revoke this itself once [providers.openrouter] is configured".)
    assert not any(f"[providers.{name}]" in r["what_to_do"] and "itself once" in r["what_to_do"]
                   for r in demo_run.document["remaining"] for name in STAND_INS)


def test_the_stand_ins_saw_no_contract_violation(demo_run: DemoRun) -> None:
    checks = {c["provider"]: c for c in demo_run.sandbox_json("demo.json")["contract_checks"]}
    assert set(checks) == STAND_INS
    for provider, check in checks.items():
        assert check["violations"] == [], provider
        assert check["requests"] > 0, provider
        assert check["checked_by"] != "nothing", provider
    require(find_prism() is not None and github_spec() is not None,
            "needs Prism: npm install --prefix .tools @stoplight/prism-cli")
    assert checks["github"]["checked_by"].startswith("Prism proxy")


def test_report_written_and_verify_passes_from_the_command_line(demo_run: DemoRun) -> None:
    incident = demo_run.incident_dir
    for name in ("report.md", "report.html", "timesketch.jsonl"):
        assert (incident / name).stat().st_size > 0, name
    assert demo_run.demo["notes"][-1] == f"report: {incident / 'report.html'}"
    html = (incident / "report.html").read_text()
    assert "intact" in html.lower()
    verified = subprocess.run(
        [sys.executable, "-m", "clawback", "verify", str(incident), "--checkpoint",
         str(demo_run.sandbox / "checkpoint-kept-off-host.txt")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_ending_a_person_reads(demo_run: DemoRun) -> None:
    from clawback.display import Display

    section = demo_run.sandbox_json("demo.json")
    # As the CLI prints it, on a terminal of 80 columns (tests/demo/test_demo_screen.py reads
    # the real screen).
    console = Display().console(io.StringIO())
    console.width = 80
    console.record = True
    print_demo_ending(section, console)
    text = console.export_text()
    lines = text.splitlines()
    # The grouped list names every provider a human still has to visit, once.
    listing = text.split("Provider stand-ins:")[0]
    for provider in section["manual_steps"]:
        assert sum(line.startswith(f"  {provider} ") for line in listing.splitlines()) == 1
    assert {"telegram", "discord", "stripe", "anthropic"} <= set(section["manual_steps"])
    words = " ".join(text.split())  # lines are wrapped at 80 columns
    assert "Gateway: stopped for good" in words
    assert "clawback verify: INTACT" in words and "anchored to the final checkpoint" in words
    assert "no violation" in words
    assert "What the agent did (clawback investigate, from the sealed evidence only)" in words
    assert "first malicious event" in words and "collect.exfil-drop.net" in words
    assert lines[-4:] == ["Incident:", f"  {demo_run.incident_dir}", "Report:",
                          f"  {demo_run.incident_dir / 'report.html'}"]


def test_the_investigation_recovers_the_attack_story(demo_run: DemoRun) -> None:
    """contain investigated its sealed evidence at its end: the keys the agent sent, the
    attacker's domain, the first malicious event (the injected page), the time to contain."""
    from clawback_demo.attack_story import ATTACKER_DOMAIN, ATTACKER_LOGIN_IP

    found = demo_run.demo["investigation"]
    assert found["ran"] and found["recovered"], found
    sent = {(c["provider"], c["kind"]) for c in found["exposed"] if c["sent"]}
    assert sent == {("openai", "openai:project_key"), ("github", "github:pat")}
    assert ATTACKER_DOMAIN in found["suspect_destinations"]
    assert found["first_suspicious"]["kind"] == "tool.result"
    assert "ignore-previous-instructions" in found["first_suspicious"]["flags"]
    assert found["seconds_to_contain"] is not None and found["seconds_to_detect"] > 3600
    doc = json.loads((demo_run.incident_dir / "evidence" / "investigation.json").read_text())
    logins = [i for i in doc["indicators"] if i["relation"] == "logged in from"]
    assert [i["value"] for i in logins if i["severity"] == "medium"] == [ATTACKER_LOGIN_IP]


def _planted_values(run: DemoRun, workdir: Path) -> list[str]:
    """The planted values, regenerated from the seed (the demo never writes one down) and
    checked against the fingerprints the demo recorded; the agent's AWS key comes from moto,
    so it is read from the sample home's credentials file instead."""
    recorded = run.sandbox_json("planted.json")
    replica = build_sample_home(
        workdir / "replica", seed=DEMO_SEED, gateway_port=1,
        aws_keys=[("AKIAREPLICA000000000", "replaced-by-the-credentials-file")],
    )
    assert [(p.provider, p.kind) for p in replica.planted] == [
        (p["provider"], p["kind"]) for p in recorded
    ]
    credentials = configparser.ConfigParser()
    credentials.read(run.sandbox / "host/home/agent/.aws/credentials")
    values = []
    for planted, record in zip(replica.planted, recorded, strict=True):
        value = planted.value
        if planted.kind == "aws:access_key":
            value = credentials["default"]["aws_secret_access_key"]
        assert fingerprint(value) == record["fingerprint"], record["target"]
        values.append(value)
    return values


def test_no_planted_secret_in_any_output(demo_run: DemoRun, tmp_path: Path) -> None:
    values = _planted_values(demo_run, tmp_path)
    forms = {v for value in values for v in (value, json.dumps(value)[1:-1])}
    sandbox = demo_run.sandbox
    incident = demo_run.incident_dir
    # The sample home is the input (it holds the secrets by design); backups and the sealed
    # evidence archives are copies of the agent's files. Everything else clawback, the
    # stand-ins, Prism and supervisord wrote is searched, with what was printed.
    skipped = [sandbox / "host", incident / "backups"]
    outputs = {"stdout": demo_run.stdout.encode(), "stderr": demo_run.stderr.encode()}
    for path in sorted(sandbox.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skipped):
            continue
        if path.parent == incident / "evidence" and path.name.endswith(".tar.gz"):
            continue
        outputs[str(path.relative_to(sandbox))] = path.read_bytes()
    assert "planted.json" in outputs and f"{incident.relative_to(sandbox)}/report.html" in outputs
    # The search can see them: the agent's own .env still holds its OpenAI and Anthropic keys.
    agent_env = (sandbox / "host/home/agent/.openclaw/.env").read_bytes()
    assert sum(form.encode() in agent_env for form in forms) >= 2
    leaks = [
        f"{name}: {fingerprint(form)}"
        for name, data in outputs.items()
        for form in forms
        if form.encode() in data
    ]
    assert leaks == []


def test_no_process_left_behind(demo_run: DemoRun) -> None:
    assert demo_run.left_behind == []


def test_without_the_demo_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """The base install lacks moto, supervisor and the rest: the demo says so and does
    nothing (no sandbox), instead of an internal error."""
    import importlib.util

    from clawback import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("moto", "supervisor") else real(name, *a))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    code = cli.demo()
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install 'clawback[demo]'" in err and "moto, supervisor" in err
    assert "internal error" not in err
    assert list(scratch.iterdir()) == []

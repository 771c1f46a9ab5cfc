"""`clawback runbook` on the sample home: what contain does by itself, each manual step with
its instructions and link, what to fix, what to have at hand; Markdown and HTML, no secret."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from clawback import cli
from clawback.contain import ContainRequest, prepare
from clawback.preflight import run_preflight
from clawback_demo.home import build_sample_home
from tests.conftest import MemoryKeyring

TOKEN = "tk_runbook_SECRET_55aa"


def _config(tmp_path: Path, home: object) -> Path:
    settings = home.agent_settings()  # type: ignore[attr-defined]
    config = tmp_path / "clawback.toml"
    config.write_text(
        "[agent]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
        + "[network]\nadmin_sources = [\"203.0.113.7/32\"]\n"
        + "[notify]\nurls = [\"env:RUNBOOK_NOTIFY\"]\n"
        + "[providers.openai]\nadmin_key = \"keyring:clawback/openai-admin\"\n"
        + "[providers.slack]\n")
    os.chmod(config, 0o600)
    return config


def test_runbook_says_what_is_automatic_what_is_manual_and_what_to_have(
    tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    config = _config(tmp_path, home)
    monkeypatch.setenv("RUNBOOK_NOTIFY", f"ntfys://ntfy.example.org/{TOKEN}")
    assert cli.runbook(config=str(config)) == 0
    markdown = capsys.readouterr().out
    sections = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert [s.split(" (")[0] for s in sections] == [
        "When it happens", "Have at hand", "What contain will do by itself here",
        "What you will do by hand", "Fix now, and contain does more by itself"]
    report = run_preflight(prepare(ContainRequest(config=config)))
    # every step the dry run leaves to a human is there, numbered, with its link
    manual = markdown.split("## What you will do by hand", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^\d+\. \[ \] ", manual, flags=re.M)
    assert len(items) == len(report.left_to_you) > 0
    assert "<https://t.me/BotFather>" in manual
    assert "Open @BotFather" in manual
    # what is automatic: the snapshot, the Slack keys by API, the gateway's own tokens
    auto = markdown.split("## What contain will do by itself here", 1)[1].split("\n## ", 1)[0]
    assert "**volatile**" in auto and "rotate the gateway_token" in auto
    api = sum(k.mode == "api" for k in report.coverage)
    assert f"{api} key(s) by API" in auto
    # what to fix: the OpenAI admin key that is not stored yet, with the command to store it
    fix = markdown.split("## Fix now", 1)[1]
    assert "openai" in fix and "keyring set clawback openai-admin" in fix
    # ... with what that credential must be allowed to do and where it is made (openai's own
    # Responder.setup), said once
    assert fix.count("platform.openai.com/settings/organization/admin-keys") == 1
    # a provider whose keys are manual only for want of its table (OpenRouter, one of the new
    # ones) is a fix too, with its management key's console, from its Responder.setup
    fix_lines = [line for line in fix.splitlines() if line.startswith("- [ ] ")]
    openrouter = [line for line in fix_lines if line.startswith("- [ ] openrouter:")]
    assert len(openrouter) == 1
    assert "add [providers.openrouter]" in openrouter[0]
    assert "openrouter.ai/settings/management-keys" in openrouter[0]
    unconfigured = {k.handled_by for k in report.coverage if k.mode == "unconfigured"}
    assert "openrouter" in unconfigured
    for name in unconfigured:
        assert sum(line.startswith(f"- [ ] {name}: add [providers.{name}]")
                   for line in fix_lines) == 1, name
    at_hand = markdown.split("## Have at hand", 1)[1].split("\n## ", 1)[0]
    assert "203.0.113.7/32" in at_hand
    assert "ntfys://ntfy.example.org" in at_hand and TOKEN not in markdown
    assert "a logged-in session at https://t.me/BotFather" in at_hand
    assert f"--home {home.user_home}" in markdown
    for planted in home.planted:
        assert planted.value not in markdown

    output = tmp_path / "runbook.html"
    assert cli.runbook(config=str(config), format="html", output=str(output)) == 0
    html = output.read_text()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "<script" not in html
    assert html.count('<li><b>') >= len(report.left_to_you)
    assert 'href="https://t.me/BotFather"' in html
    assert TOKEN not in html
    for planted in home.planted:
        assert planted.value not in html


def test_runbook_refuses_an_unknown_format(tmp_path: Path) -> None:
    assert cli.runbook(format="pdf") == 2


def test_the_command_line_writes_the_page_and_says_when_it_describes_nothing(
    tmp_path: Path,
) -> None:
    """The installed command, as an operator runs it: the page to a 0600 file, its name on
    stdout; and on a home with no install, the page still (it says so) but exit 3, as for
    discover: nothing found is not all clear."""
    import subprocess
    import sys

    home = build_sample_home(tmp_path / "sample", era="both")
    config = _config(tmp_path, home)
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "xdg"), "RUNBOOK_NOTIFY": "json://127.0.0.1:9/x"}
    output = tmp_path / "out" / "runbook.html"

    def clawback(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "clawback", "runbook", *args], env=env,
                              capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)

    done = clawback("--config", str(config), "--format", "html", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(output)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "What you will do by hand" in output.read_text()

    empty = tmp_path / "empty-home"
    empty.mkdir()
    nothing = clawback("--home", str(empty))
    assert nothing.returncode == 3
    assert "no OpenClaw install was found there" in nothing.stdout
    assert "Nothing found is not all clear" in nothing.stderr
    assert clawback("--format", "pdf").returncode == 2

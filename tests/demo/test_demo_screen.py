"""What a person sees of ``clawback demo`` in an 80-column terminal, captured from tmux.

The installed console script runs in a tmux pane 80 columns wide, as someone would type it,
spinner and all; the pane's history is then read back as the terminal shows it. Before this
screen was reworked, the same capture held 435 lines (measured 2026-12-06 on commit 73708ea,
from "sandbox in" to the last line of the demo), 274 of them filling all 80 columns because
the terminal had wrapped them: the report path split in two, class names such as
"ManualRequired" on every key, and the same advice three times per key. Now:

* fewer than half of those lines;
* no path or URL split across two lines (every path and URL the demo names appears whole on
  one screen line, and no line ends a path or URL at the last column to go on in the next);
* no class name of an outcome type;
* the demo's exit code is 0 (the demo worked), as its JSON says.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from responders import interface
from tests.conftest import clawback_script, require_binary
from tests.demo.conftest import DEAD_PROXY, DEMO_SEED, MARK_VARIABLE, marked_processes

LINES_BEFORE = 435
COLUMNS = 80
# A path or a URL, as a word on a line.
PATHLIKE = re.compile(r"(?:https?://|/)[^\s,;()]+")


@dataclass
class Screen:
    lines: list[str]  # the pane's history as shown, one entry per screen row
    exit_code: int
    sandbox: Path

    @property
    def demo_lines(self) -> list[str]:
        """The demo's own rows: from its first line to the shell's EXIT marker, blanks out."""
        start = next(i for i, line in enumerate(self.lines) if line.startswith("sandbox in "))
        end = next(i for i, line in enumerate(self.lines) if line.startswith("EXIT="))
        return [line for line in self.lines[start:end] if line.strip()]


def _tmux(socket: Path, *args: str, env: dict[str, str]) -> str:
    tmux = require_binary("tmux")
    done = subprocess.run([tmux, "-S", str(socket), *args], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def screen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Screen]:
    require_binary("tmux")
    workdir = tmp_path_factory.mktemp("screen")
    socket = workdir / "tmux.sock"
    conf = workdir / "tmux.conf"
    conf.write_text("set -g history-limit 20000\n")
    mark = "screen-" + os.urandom(6).hex()
    # The sandbox goes where a user's would: /tmp, the system's own. Under pytest's tmp dir its
    # paths would be longer than a line, which no wrapping can keep whole.
    env = {
        **os.environ, "TMPDIR": "/tmp", "CLAWBACK_DEMO_SEED": str(DEMO_SEED),
        MARK_VARIABLE: mark, "XDG_DATA_HOME": str(workdir / "xdg-data"),
        "XDG_STATE_HOME": str(workdir / "xdg-state"),
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"), "TERM": "xterm-256color",
        "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
        **{v: DEAD_PROXY for v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                   "https_proxy")},
    }
    env.pop("NO_COLOR", None)
    command = f"cd {workdir} && {clawback_script()} demo; echo EXIT=$?; sleep 600"
    _tmux(socket, "-f", str(conf), "new-session", "-d", "-s", "demo", "-x", str(COLUMNS),
          "-y", "40", command, env=env)
    sandbox: Path | None = None
    try:
        deadline = time.monotonic() + 240
        shown = ""
        while time.monotonic() < deadline:
            shown = _tmux(socket, "capture-pane", "-p", "-t", "demo", "-S", "-", env=env)
            if re.search(r"^EXIT=\d+", shown, re.MULTILINE):
                break
            time.sleep(0.5)
        lines = shown.splitlines()
        code = next((int(line[5:]) for line in lines if re.fullmatch(r"EXIT=\d+", line)), -1)
        assert code != -1, f"the demo did not end within the time given:\n{shown[-3000:]}"
        sandbox = next(Path(line.split(" ", 2)[2]) for line in lines
                       if line.startswith("sandbox in "))
        yield Screen(lines, code, sandbox)
    finally:
        subprocess.run([shutil.which("tmux") or "tmux", "-S", str(socket), "kill-server"],
                       capture_output=True, timeout=60)
        for process in marked_processes(mark):
            process.kill()
        if sandbox is not None and sandbox.name.startswith("clawback-demo-"):
            shutil.rmtree(sandbox, ignore_errors=True)


def test_the_demo_worked_and_says_so_with_its_exit_code(screen: Screen) -> None:
    assert screen.exit_code == 0, "\n".join(screen.lines[-60:])


def test_fewer_than_half_of_the_lines_of_before(screen: Screen) -> None:
    assert len(screen.demo_lines) < LINES_BEFORE / 2, "\n".join(screen.demo_lines)


def test_every_line_fits_and_no_path_or_url_is_split(screen: Screen) -> None:
    from rich.cells import cell_len

    rows = screen.demo_lines
    assert all(cell_len(row) <= COLUMNS for row in rows)
    # The sandbox, the incident, the report and every URL of the to-do list are each whole on
    # one row.
    summary = json.loads((screen.sandbox / "demo.json").read_text())
    named = {summary["sandbox"], summary["incident_dir"], summary["report"]["report.html"]}
    named |= {step["url"] for steps in summary["manual_steps"].values() for step in steps
              if step["url"]}
    assert len(named) > 10
    for path in named:
        assert any(path in row.split() for row in rows), f"{path} is not whole on any line"
    # A terminal-wrapped word: a row filled to the last column ending in a path or URL, and
    # the next row going on with no indent.
    for row, after in itertools.pairwise(rows):
        words = row.split()
        if (cell_len(row) == COLUMNS and words and PATHLIKE.fullmatch(words[-1])
                and after[:1].strip()):
            pytest.fail(f"split across two lines:\n{row}\n{after}")


def test_one_line_per_step(screen: Screen) -> None:
    rows = screen.demo_lines
    steps = [r[2:15].strip() for r in rows if r[:1] in "✔✋✘–"]
    # The stop's respawn re-check runs beside the next steps and is proven at the end.
    assert steps == ["volatile", "stop", "revoke", "evidence", "agent-secrets", "lockdown",
                     "isolate", "stop re-check"]
    (recheck,) = [r for r in rows if r.startswith("✔ stop re-check")]
    assert "stayed down" in recheck


def test_no_class_name_reaches_the_screen(screen: Screen) -> None:
    names = {cls.__name__ for cls in vars(interface).values()
             if isinstance(cls, type) and issubclass(cls, interface.Outcome)}
    assert {"ManualRequired", "VerifiedDead", "Collected"} <= names
    text = "\n".join(screen.demo_lines)
    shown = sorted(name for name in names if re.search(rf"\b{name}\b", text))
    assert shown == [], shown


def test_one_line_per_key_and_the_long_advice_only_at_the_end(screen: Screen) -> None:
    rows = screen.demo_lines
    planted = {p["fingerprint"]: p["provider"]
               for p in json.loads((screen.sandbox / "planted.json").read_text())}
    # Each key row names its provider and fingerprint, and each planted key has one row.
    key_rows = [r for r in rows if re.match(r"^  . \S+ +…\S+ sha256:[0-9a-f]{8} ", r)]
    shown = {" ".join(r.split()[2:4]): r.split()[1] for r in key_rows}
    assert len(shown) == len(key_rows)
    assert shown == planted
    # The instructions (BotFather's /revoke) are not repeated on the key rows.
    assert not any("/revoke" in r for r in key_rows)

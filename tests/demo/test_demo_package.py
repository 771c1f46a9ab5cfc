"""The demo is its own package: the engine reaches it only when ``demo`` runs, and says what to
install when it is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_without_the_demo_package_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    import importlib.util

    from clawback import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "clawback_demo" else real(name, *a))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    code = cli.demo()
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install 'clawback[demo]'" in err and "clawback_demo" in err
    assert "internal error" not in err
    assert list(scratch.iterdir()) == []


def test_the_engine_does_not_import_the_demo_until_demo_runs() -> None:
    """The CLI, the commands and the panic path load no part of the demo package."""
    probe = (
        "import sys\n"
        "import clawback.cli, clawback.command_line, clawback.commands, clawback.contain\n"
        "import clawback.drill, clawback.report\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'clawback_demo'))\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip() == "[]"

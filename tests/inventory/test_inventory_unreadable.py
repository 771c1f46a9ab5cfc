"""Discovery on a home it can only partly read reports what it can and never crashes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from clawback_demo.home import build_sample_home
from tests.conftest import require, require_root


def test_a_closed_directory_does_not_stop_discovery() -> None:
    require_root()
    setpriv = shutil.which("setpriv")
    require(setpriv is not None, "needs setpriv (util-linux)")
    # pytest's tmp_path sits under a 0700 directory the unprivileged reader cannot cross.
    tmp_path = Path(tempfile.mkdtemp(prefix="clawback-unreadable-"))
    try:
        _check(tmp_path, str(setpriv))
    finally:
        shutil.rmtree(tmp_path)


def _check(tmp_path: Path, setpriv: str) -> None:
    home = build_sample_home(tmp_path / "box")
    # Readable for everyone except one closed directory, as on a shared host.
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir():
            os.chmod(path, 0o755)
        elif path.is_file():
            os.chmod(path, 0o644)
    closed = home.user_home / ".config"
    os.chmod(closed, 0o700)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from responders.openclaw.discovery import discover\n"
        f"inv = discover(user_home=Path({str(home.user_home)!r}))\n"
        "print(json.dumps(len(inv.credentials)))\n"
    )
    run = subprocess.run(
        [str(setpriv), "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd=str(Path(__file__).parents[2]),
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) > 10

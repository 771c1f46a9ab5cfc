"""The panic button's fast parser and the invoke task accept exactly the same options, and the
fast path really does leave invoke unimported."""

from __future__ import annotations

import os
import subprocess
import sys

from clawback import cli, commands

from .conftest import Workspace


def test_fast_parser_and_invoke_task_have_the_same_options() -> None:
    invoke_args = {arg.name.replace("_", "-"): arg.kind is not bool
                   for arg in commands.contain.get_arguments()}
    fast_args = {name: takes_value for name, (takes_value, _) in cli.CONTAIN_OPTIONS.items()}
    assert invoke_args == fast_args


def test_contain_does_not_import_invoke(workspace: Workspace) -> None:
    code = (
        "import sys\n"
        "from clawback import cli\n"
        f"sys.argv = ['clawback', 'contain', '--dry-run', '--json', '--config', "
        f"{str(workspace.config)!r}, '--playbook', {str(workspace.playbook(PLAYBOOK))!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('invoke' in sys.modules, code, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.stderr.strip().splitlines()[-1] == "False 0", run.stderr


def test_unknown_options_fall_back_to_invoke_and_its_advice(workspace: Workspace) -> None:
    run = subprocess.run([sys.executable, "-m", "clawback", "contain", "--no-such-flag"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "no-such-flag" in run.stderr + run.stdout


PLAYBOOK = "name: s\nsteps:\n  - id: evidence\n    uses: host.snapshot\n"

"""The ``clawback`` command line, through the installed console script (``.venv/bin/clawback``).

Only clawback's own options exist: every command answers ``--help`` and ``help COMMAND``, a
typo is refused with a suggestion and exit 2, and ``contain --dry`` / ``-R`` (a task runner's
"echo, don't run" flag that was once accepted and ignored) is refused with nothing done, while
a live agent keeps running. The per-command parser ``parse`` builds (the panic button's path)
and the full parser (help, completion) accept and refuse the same command lines; the ``inv``
tasks have the same options, and ``inv contain --dry`` is refused too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawback import command_line, commands
from clawback.command_line import COMMANDS, command_parser, full_parser, parse
from tests.conftest import clawback_script, require_binary

from .conftest import Workspace
from .test_panic_path import STAND_IN, _free_port


def run_clawback(*args: str, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    environment.pop("CLAWBACK_DEBUG", None)
    return subprocess.run([str(clawback_script()), *args], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL)


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help_both_ways(command: str) -> None:
    flag = run_clawback(command, "--help")
    assert flag.returncode == 0, flag.stderr
    assert flag.stdout.startswith(f"usage: clawback {command}")
    for arg in COMMANDS[command].args:
        assert (arg.metavar if arg.positional else f"--{arg.name}") in flag.stdout, arg.name
    assert "--quiet" in flag.stdout and "--color" in flag.stdout
    # No option of a task runner leaks in.
    for foreign in ("--prompt-for-sudo-password", "--pty", "--warn-only", "--echo", "--dry "):
        assert foreign not in flag.stdout
    asked = run_clawback("help", command)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout == flag.stdout


def test_top_level_help_lists_every_command_and_only_our_options() -> None:
    shown = run_clawback("--help")
    assert shown.returncode == 0
    for name in COMMANDS:
        assert f"  {name} " in shown.stdout
    assert "exit codes:" in shown.stdout
    assert run_clawback("help").stdout == shown.stdout
    for foreign in ("--prompt-for-sudo-password", "-f, --config", "--pty", "--warn-only",
                    "--dry "):
        assert foreign not in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())
    assert run_clawback("--version").stdout.startswith("clawback ")


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["contian"], "did you mean 'contain'?"),
        (["verify"], "the following arguments are required: INCIDENT"),
        (["report"], "the following arguments are required: INCIDENT"),
        (["restore-network"], "the following arguments are required: INCIDENT"),
        (["verify", "x", "--chekpoint", "y"], "did you mean --checkpoint?"),
        (["contain", "--jsn"], "did you mean --json?"),
        (["audit", "--format", "xml"], "invalid choice: 'xml'"),
        (["-f", "clawback.toml", "discover"], "clawback's is --config FILE"),
        (["contain", "-q", "-v"], "exclude each other"),
        (["--color", "sometimes", "discover"], "invalid choice: 'sometimes'"),
        (["completion", "fish"], "invalid choice: 'fish'"),
        ([], "no command given"),
    ],
)
def test_usage_errors_exit_2_with_advice(argv: list[str], says: str, tmp_path: Path) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    refused = run_clawback(*argv, cwd=workdir)
    assert refused.returncode == 2, refused.stderr
    assert says in refused.stderr
    assert "Traceback" not in refused.stderr and "This is a bug" not in refused.stderr
    assert list(workdir.iterdir()) == []


@pytest.fixture
def live_agent(workspace: Workspace,
               tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """The workspace's config, pointing at a real gateway stand-in known by its pid file."""
    port = _free_port()
    pidfile = tmp_path / "gateway.pid"
    gateway = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), str(pidfile)])
    try:
        deadline = time.monotonic() + 15
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        config = workspace.config
        config.write_text(config.read_text().replace(
            "gateway_port = ", f"gateway_port = {port} # was ") + "\n[[agent.services]]\n"
            f'kind = "pidfile"\nname = "openclaw-gateway"\npidfile = {json.dumps(str(pidfile))}\n')
        yield config, gateway
    finally:
        gateway.kill()
        gateway.wait(timeout=10)


@pytest.mark.parametrize("flag", [["--dry"], ["-R"], ["--dry", "--yes"], ["-R", "--dry-run"]])
def test_contain_dry_and_R_are_refused_and_nothing_is_done(
    live_agent: tuple[Path, subprocess.Popen[bytes]], workspace: Workspace, flag: list[str],
) -> None:
    config, gateway = live_agent
    before = sorted(p for p in workspace.home.root.rglob("*"))
    refused = run_clawback("contain", "--config", str(config), "--incidents-dir",
                           str(workspace.incidents), "--yes", *flag,
                           env={"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"})
    assert refused.returncode == 2, refused.stderr
    assert "--dry-run" in refused.stderr  # the advice names the real dry run
    assert refused.stdout == ""
    assert gateway.poll() is None, "the agent was stopped"
    assert workspace.incident_dirs() == []
    assert sorted(p for p in workspace.home.root.rglob("*")) == before
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "python_keyring").exists()


@pytest.mark.parametrize("flag", ["--dry", "-R"])
def test_inv_contain_dry_is_refused_too(live_agent: tuple[Path, subprocess.Popen[bytes]],
                                        workspace: Workspace, tmp_path: Path, flag: str) -> None:
    config, gateway = live_agent
    inv = Path(sys.executable).with_name("inv")
    assert inv.exists(), "invoke's inv is installed with clawback"
    shutil.copy(Path(__file__).parents[2] / "tasks.py", tmp_path / "tasks.py")
    refused = subprocess.run(
        [str(inv), "contain", flag, "--config", str(config), "--incidents-dir",
         str(workspace.incidents), "--yes"], capture_output=True, text=True, cwd=tmp_path,
        timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--dry-run" in refused.stderr
    assert gateway.poll() is None
    assert workspace.incident_dirs() == []


# -- one option table, one set of parsers -------------------------------------------------------


def test_inv_tasks_have_the_options_of_the_table() -> None:
    for name, task in commands.namespace.tasks.items():
        invoke_args = {arg.name.replace("_", "-"): arg.kind is not bool
                       for arg in task.get_arguments()}
        table = {arg.name: arg.metavar is not None for arg in COMMANDS[name].args}
        assert invoke_args == table, name


# Command lines the panic path (one command's parser) and the full parser must judge alike.
LINES = [
    ["contain"], ["contain", "--dry-run"], ["contain", "--dry"], ["contain", "-R"],
    ["contain", "--dry-r"], ["contain", "--yes", "--json", "--config", "x.toml"],
    ["contain", "--config"], ["contain", "--resume", "2026-01-01T0000Z-abcd", "--confirm-manual"],
    ["contain", "--hosts", "@all", "--cut-network"], ["contain", "extra"],
    ["-q", "contain", "--json"], ["contain", "-v"], ["contain", "--color", "never"],
    ["--color=always", "contain"], ["contain", "--home", "/home/agent"], ["contain", "-y"],
    ["verify", "id"], ["verify"], ["verify", "id", "--json", "--checkpoint", "c"],
    ["report", "id", "--format", "md"], ["restore-network", "id", "--confirm"],
    ["drill", "--preflight", "--json"], ["audit", "--fail-on", "high"],
    ["audit", "--fail-on", "severe"], ["discover", "--home", "/h"], ["demo", "--json"],
    ["help", "contain"], ["help"], ["completion", "zsh"], ["contian"],
]


def _full(argv: list[str]) -> tuple[str, dict[str, object]] | int:
    try:
        parsed = vars(full_parser().parse_args(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    display = {k: parsed.pop(k, None) for k in ("quiet", "verbose", "color")}
    if display["quiet"] and display["verbose"]:
        return 2
    return str(parsed.pop("command")), parsed


def _fast(argv: list[str]) -> tuple[str, dict[str, object]] | int:
    try:
        invocation = parse(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return invocation.command, invocation.options


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_the_panic_path_parser_and_the_full_parser_agree(
    argv: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    assert _fast(argv) == _full(argv)
    capsys.readouterr()


def test_global_options_are_read_on_either_side_of_the_command() -> None:
    assert parse(["-q", "contain"]).display.quiet
    assert parse(["contain", "-q"]).display.quiet
    assert parse(["--color", "never", "verify", "x"]).display.color == "never"
    assert parse(["verify", "x", "--color=always"]).display.color == "always"
    assert not parse(["verify", "x"]).display.verbose


def test_contain_does_not_import_invoke(workspace: Workspace) -> None:
    code = (
        "import sys\n"
        "from clawback import cli\n"
        f"sys.argv = ['clawback', 'contain', '--dry-run', '--json', '--config', "
        f"{str(workspace.config)!r}, '--playbook', {str(workspace.playbook(PLAYBOOK))!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('invoke' in sys.modules, 'rich' in sys.modules, code, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.stderr.strip().splitlines()[-1] == "False False 0", run.stderr


def test_each_command_parser_is_built_alone() -> None:
    """``parse`` builds one command's parser, not all of them: the panic button's budget."""
    built: list[str] = []
    real = command_line.command_parser

    def spy(name: str):  # type: ignore[no-untyped-def]
        built.append(name)
        return real(name)

    command_line.command_parser = spy  # type: ignore[assignment]
    try:
        parse(["contain", "--yes"])
    finally:
        command_line.command_parser = real  # type: ignore[assignment]
    assert built == ["contain"]
    assert command_parser("contain").prog == "clawback contain"


# -- output settings and completion -------------------------------------------------------------

# An SGR sequence that sets a colour (bold or dim alone are not colour).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        (["--color", "always"], {}, True),
        (["--color", "never"], {}, False),
        ([], {}, False),  # auto, and the output is a pipe
        ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # the flag wins over NO_COLOR
    ],
)
def test_color_follows_the_flag_and_no_color(workspace: Workspace, args: list[str],
                                             env: dict[str, str], coloured: bool) -> None:
    shown = run_clawback(*args, "discover", "--home", str(workspace.home.user_home),
                         env={"TERM": "xterm-256color", **env})
    assert shown.returncode == 0, shown.stderr
    assert "note:" in shown.stdout  # the sample home's notes are printed in yellow
    assert bool(COLOUR.search(shown.stdout)) is coloured


def test_quiet_and_verbose_discover(workspace: Workspace) -> None:
    home = str(workspace.home.user_home)
    normal = run_clawback("discover", "--home", home)
    quiet = run_clawback("-q", "discover", "--home", home)
    verbose = run_clawback("-v", "discover", "--home", home)
    assert quiet.returncode == normal.returncode == verbose.returncode == 0
    # -q: the count alone; the secrets and where they are only without it.
    assert normal.stdout.startswith(quiet.stdout)
    assert "secret(s)" in quiet.stdout and "openclaw.json" not in quiet.stdout
    assert "openclaw.json" in normal.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_scripts(shell: str, tmp_path: Path) -> None:
    printed = run_clawback("completion", shell)
    assert printed.returncode == 0, printed.stderr
    # shtab's tcsh script completes the commands only.
    words = ("contain", "restore-network") + (() if shell == "tcsh" else
                                              ("--dry-run", "--incidents-dir"))
    for word in words:
        assert word in printed.stdout
    assert "--dry " not in printed.stdout
    if shell == "bash":
        bash = require_binary("bash")
        script = tmp_path / "clawback.bash"
        script.write_text(printed.stdout)
        checked = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


PLAYBOOK = "name: s\nsteps:\n  - id: evidence\n    uses: host.snapshot\n"

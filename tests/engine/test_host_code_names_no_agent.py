"""Host code never names the agent: the local actions (responders/host), the actions over SSH
(responders/remote), the host probes (responders/hostprobes) and the fleet agent's own code
stop, snapshot and cut whatever agent runs there. How it shows on a host (titles, units, lock
dirs, config names) comes from its keeper (``AgentKeeper.footprint``, sent to fleet hosts in
the plan).

import-linter's "host-code-knows-no-agent" contract checks the imports; this checks the words:
no string in host code's code (docstrings and comments may explain with examples) holds a
name of the agent installed, in any case.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import responders
from responders.interface import AGENT_ENTRY_POINT_GROUP

ROOT = Path(responders.__file__).parent
HOST_CODE = ("host", "remote", "hostprobes", "fleet_agent/agent.py")
# The agent's earlier names, which its footprint keeps for the installs that still use them.
EARLIER_NAMES = {"clawdbot", "moltbot", "moldbot"}


def _agent_names() -> set[str]:
    names = set(EARLIER_NAMES)
    for point in entry_points(group=AGENT_ENTRY_POINT_GROUP):
        keeper = point.load()()
        names |= {keeper.name, keeper.footprint.command, *keeper.footprint.packages}
    assert "openclaw" in names  # the check has something to find
    return {n.lower() for n in names}


def _documentation(tree: ast.AST) -> set[int]:
    """The string statements: docstrings and the like, which explain and do nothing."""
    return {
        id(node.value) for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def agent_names_in(source: str, names: set[str], where: str = "<source>") -> Iterator[str]:
    tree = ast.parse(source, where)
    explained = _documentation(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in explained):
            text = node.value.lower()
            for name in sorted(names):
                if name in text:
                    yield f"{where}:{node.lineno}: {node.value!r} names {name!r}"


def _host_code() -> list[Path]:
    files: list[Path] = []
    for part in HOST_CODE:
        path = ROOT / part
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    assert len(files) > 10
    return files


def test_no_string_in_host_code_names_the_agent() -> None:
    names = _agent_names()
    found = [
        hit for path in _host_code()
        for hit in agent_names_in(path.read_text(), names, str(path.relative_to(ROOT)))
    ]
    assert not found, "host code names the agent:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    'TITLE = "OpenClaw-Gateway"\n',
    'def f(port):\n    return f"no OPENCLAW gateway on {port}"\n',
    'LEGACY = ("x", "com.clawdbot.gateway")\n',
    'def f():\n    """Docs."""\n    return {"unit": "moltbot.service"}\n',
])
def test_the_check_finds_a_name_in_code(source: str) -> None:
    assert list(agent_names_in(source, _agent_names()))


def test_the_check_lets_docstrings_explain() -> None:
    source = ('"""Stops the OpenClaw gateway."""\n'
              'def f():\n    """``openclaw gateway`` is two processes."""\n'
              '    return 1  # openclaw-gateway\n')
    assert not list(agent_names_in(source, _agent_names()))

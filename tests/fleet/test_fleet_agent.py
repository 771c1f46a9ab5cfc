"""The agent uploaded to fleet hosts, without SSH: it runs on a bare Python (no site-packages),
finds what local discovery finds, plans what the local snapshot plans, and its stand-ins for
pyjson5 and python-dotenv read files as those libraries do."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import dotenv
import pyjson5
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawback.fleet_agent import PACKED_MODULES, agent, agent_zip, formats
from clawback.sandbox.home import SampleHome, build_sample_home
from clawback.sandbox.supervisor import start_supervisord
from responders.host import service, snapshot
from responders.interface import Location, fingerprint
from responders.openclaw.discovery import discover
from tests.host.conftest import free_port, gateway_argv, port_open, wait_until

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> SampleHome:
    return build_sample_home(tmp_path_factory.mktemp("fleet-agent") / "host", seed=7)


def run_agent(tmp_path: Path, command: str, params: dict[str, Any]) -> dict[str, Any]:
    """The zip as a fleet host runs it: isolated mode, no site-packages at all (-S)."""
    zipped = tmp_path / "agent.pyz"
    if not zipped.exists():
        zipped.write_bytes(agent_zip())
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", str(zipped), command], input=json.dumps(params),
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_remote_discovery_finds_what_local_discovery_finds(home: SampleHome,
                                                           tmp_path: Path) -> None:
    answer = run_agent(tmp_path, "discover", {
        "user_home": str(home.user_home), "tmp_dirs": [str(home.tmp_dir)],
    })
    # Without site-packages the standard-library readers stood in, and lost nothing.
    assert answer["stood_in"] == ["pyjson5", "python-dotenv"]
    remote = sorted(
        (fingerprint(c["value"]), c["provider"], c["kind"], c["key_id"],
         tuple(sorted(str(Location(*loc)) for loc in c["locations"])))
        for c in answer["credentials"]
    )
    local = sorted(
        (c.fingerprint, c.provider, c.kind, c.key_id, tuple(sorted(map(str, c.locations))))
        for c in discover(user_home=home.user_home, tmp_dirs=[home.tmp_dir]).credentials
    )
    assert remote == local
    assert {p.fingerprint for p in home.planted} <= {r[0] for r in remote}


def test_agent_reports_errors_without_quoting_what_it_read(tmp_path: Path,
                                                           home: SampleHome) -> None:
    zipped = tmp_path / "agent.pyz"
    zipped.write_bytes(agent_zip())
    broken = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(zipped), "snapshot"],
                            input="{}", capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    error = json.loads(broken.stdout)["error"]
    assert error.startswith("the agent failed: KeyError at agent.py:")
    unknown = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(zipped), "format-disk"],
                             input="{}", capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "usage" in json.loads(unknown.stdout)["error"]


def test_a_retried_supervisord_stop_finds_it_already_removed_and_succeeds(
    tmp_path: Path,
) -> None:
    port, lock_dir = free_port(), tmp_path / "openclaw-lock"
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": gateway_argv(port, lock_dir)},
                           autorestart=True) as handle:
        assert wait_until(lambda: port_open(port))
        params = {
            "spec": {"kind": "supervisord", "name": "openclaw-gateway",
                     "options": {"socket": str(handle.socket_path)}},
            "agent": {"gateway_port": port, "tmp_dirs": [str(tmp_path)]},
            "port": port, "term_timeout": 3, "kill_timeout": 2, "recheck_seconds": 0,
        }
        first = run_agent(tmp_path, "stop", params)
        assert first["error"] is None and first["facts"]["proof"]["pids_before"]

        # The engine's retry after the first answer was lost: the same stop, once more.
        again = run_agent(tmp_path, "stop", params)

        assert again["error"] is None, again["error"]
        facts = again["facts"]
        assert facts["persistence"].startswith("already removed from supervisord")
        assert [(c["rpc"], c["result"], c["programs"]) for c in facts["commands"]] == [
            ("supervisor.getProcessInfo", "already removed", "none")
        ]
        assert facts["proof"]["pids_after"] == [] and not facts["proof"]["port_open_after"]
        assert facts["proof"]["supervisor_state_after"] == "removed"
        assert not port_open(port) and not list(lock_dir.glob("gateway.*.lock"))


def test_a_supervisord_program_gone_while_its_gateway_listens_still_fails(
    tmp_path: Path,
) -> None:
    port, lock_dir = free_port(), tmp_path / "openclaw-lock"
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": gateway_argv(port, lock_dir)},
                           autorestart=True) as handle:
        assert wait_until(lambda: port_open(port))
        answer = run_agent(tmp_path, "stop", {
            "spec": {"kind": "supervisord", "name": "openclaw",
                     "options": {"socket": str(handle.socket_path)}},
            "agent": {"gateway_port": port, "tmp_dirs": [str(tmp_path)]},
            "port": port, "term_timeout": 3, "kill_timeout": 2, "recheck_seconds": 0,
        })
        assert "no program 'openclaw' (it has: openclaw-gateway)" in answer["error"]
        assert "yet the gateway is up" in answer["error"]
        assert f"listening on port {port}" in answer["error"]
        assert "[[hosts.agent.services]]" in answer["error"]
        assert handle.process_info("openclaw-gateway")["statename"] == "RUNNING"


def test_zip_holds_only_standard_library_imports() -> None:
    import sys
    import zipfile

    allowed = set(sys.stdlib_module_names) | {"clawback", "responders", "pyjson5", "dotenv",
                                              "__future__"}
    with zipfile.ZipFile(io.BytesIO(agent_zip())) as archive:
        names = set(archive.namelist())
        assert names == {"__main__.py", *PACKED_MODULES}
        for name in PACKED_MODULES:
            text = archive.read(name).decode()
            for module in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", text, re.M):
                assert module in allowed, f"{name} imports {module}"


@pytest.mark.parametrize("volatile", [True, False])
def test_snapshot_plan_matches_the_local_snapshot(home: SampleHome, volatile: bool) -> None:
    layout = home.agent_settings()
    local = snapshot.build_plan(
        snapshot.AgentLayout.model_validate(layout), snapshot.EvidenceSettings(),
        snapshot.SnapshotParams(volatile=volatile),
    )
    remote = agent.build_plan(layout, volatile=volatile)
    assert [(f.path, f.tail) for f in local.files] == remote.files
    assert [(c.name, c.argv) for c in local.commands] == remote.commands
    assert local.listings == remote.listings
    assert local.generated == remote.generated
    assert [list(m) for m in local.missing] == remote.missing


def test_agent_recognises_gateways_as_the_local_responders_do() -> None:
    assert agent.GATEWAY_UNIT.pattern == service.GATEWAY_UNIT.pattern
    assert agent.GATEWAY_TITLES == service.GATEWAY_TITLES
    assert agent.CONFIG_NAMES == snapshot.CONFIG_NAMES
    assert agent.SERVICE_NAMES == snapshot.SERVICE_NAMES
    assert agent.LAUNCHD_LABELS == snapshot.LAUNCHD_LABELS
    assert agent.SHELL_HISTORIES == snapshot.SHELL_HISTORIES
    for name, argv in [("openclaw-gatewa", []), ("node", ["node", "/x/openclaw/dist/i.js",
                                                            "gateway"]), ("bash", ["bash"])]:
        assert agent.gateway_signature(name, argv) == service.gateway_signature(name, argv)


# -- the standard-library readers --------------------------------------------------------------

JSON5_CASES = [
    "{a:1,}",
    "// comment\n{a:'x', \"b\": [1, 2,],}",
    "{a: 0x1F, b: .5, c: +1, d: -Infinity, e: 5., f: 1e3, g: -0x10}",
    '{"a": "b\\\nc", s: \'it\\\'s\', t: "\\u0041\\x42\\t"}',
    "/* block\n comment */ [null, true, false, 'x'] // tail",
    "{$id: 1, _k: 2, 'quoted key': 3, nested: {deep: [{}, []]}}",
]
JSON5_BAD = ["{a: [1,,]}", "{a:1", '{"a" 1}', "[1] 2", "{a: tru}", "'open", "{/* x"]


@pytest.mark.parametrize("text", JSON5_CASES)
def test_json5_reader_agrees_with_pyjson5(text: str) -> None:
    assert formats.decode_json5(text) == pyjson5.decode(text)


@pytest.mark.parametrize("text", JSON5_BAD)
def test_json5_reader_rejects_what_pyjson5_rejects_naming_only_an_offset(text: str) -> None:
    with pytest.raises(pyjson5.Json5Exception):
        pyjson5.decode(text)
    with pytest.raises(formats.Json5Exception) as caught:
        formats.decode_json5(text)
    assert re.fullmatch(r"[a-z ',:}\]]+ near \d+", str(caught.value)), str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_json5_reader_reads_any_json(value: Any) -> None:
    text = json.dumps(value, indent=1)
    assert formats.decode_json5(text) == json.loads(text)


def test_readers_agree_with_the_libraries_on_every_sample_home_file(home: SampleHome) -> None:
    checked = 0
    for path in sorted(home.root.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if ".json" in path.name and not path.name.endswith(".jsonl"):
            try:
                expected = pyjson5.decode(text)
            except pyjson5.Json5Exception:
                with pytest.raises(formats.Json5Exception):
                    formats.decode_json5(text)
            else:
                assert formats.decode_json5(text) == expected, path
            checked += 1
        elif path.name.endswith(".env"):
            assert formats.dotenv_values(stream=io.StringIO(text)) == dotenv.dotenv_values(
                stream=io.StringIO(text), interpolate=False), path
            checked += 1
    assert checked >= 20


DOTENV = """\
# comment
export A=plain
B = spaced   # trailing comment
C='single # not a comment'
D="double \\"quoted\\" \\n newline"
E="multi
line"
F=
G
H=value#hash-kept
I='it\\'s'
"""


def test_dotenv_reader_agrees_with_python_dotenv() -> None:
    ours = formats.dotenv_values(stream=io.StringIO(DOTENV))
    theirs = dotenv.dotenv_values(stream=io.StringIO(DOTENV), interpolate=False)
    assert ours == theirs

"""The agent uploaded to fleet hosts, without SSH: it runs on a bare Python (no site-packages),
finds what local discovery finds, plans what the local snapshot plans, and its stand-ins for
pyjson5 and python-dotenv read files as those libraries do."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import dotenv
import pyjson5
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.supervisor import start_supervisord
from responders.fleet_agent import PACKED_MODULES, agent_zip, formats
from responders.host import snapshot
from responders.interface import Location, fingerprint
from responders.openclaw.discovery import discover
from responders.openclaw.keeper import OpenClawKeeper
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
        assert facts["already_removed"] and again["not_final"] is None
        # The first stop set autostart=false; the retry finds nothing left to edit.
        assert facts["persistence"]["autostart"] == "false"
        assert facts["persistence"]["edited"] == [] and again["backups"] == []
        assert [(c["rpc"], c["result"], c["programs"]) for c in facts["commands"]] == [
            ("supervisor.getProcessInfo", "already removed", "none")
        ]
        assert facts["proof"]["pids_after"] == [] and not facts["proof"]["port_open_after"]
        assert facts["proof"]["supervisor_state_after"] == "removed"
        assert not port_open(port) and not list(lock_dir.glob("gateway.*.lock"))


def test_the_agents_supervisord_stop_survives_supervisorctl_update_and_a_restart(
    tmp_path: Path,
) -> None:
    """As the local stop (issue 15): autostart=false in the config file, found from the socket
    alone, the file as it was handed back for the incident."""
    port, lock_dir = free_port(), tmp_path / "openclaw-lock"
    with start_supervisord(tmp_path / "sv", {"openclaw-gateway": gateway_argv(port, lock_dir)},
                           autorestart=True) as handle:
        assert wait_until(lambda: port_open(port))
        before = handle.config_path.read_bytes()
        answer = run_agent(tmp_path, "stop", {
            "spec": {"kind": "supervisord", "name": "openclaw-gateway",
                     "options": {"socket": str(handle.socket_path)}},
            "agent": {"gateway_port": port, "tmp_dirs": [str(tmp_path)]},
            "port": port, "term_timeout": 3, "kill_timeout": 2, "recheck_seconds": 0,
            "note": "clawback incident fleet-test: kept off",
        })
        assert answer["error"] is None and answer["not_final"] is None, answer
        persistence = answer["facts"]["persistence"]
        assert persistence["config"] == str(handle.config_path)
        assert persistence["autostart"] == "false"
        assert persistence["edited"] == [str(handle.config_path)]
        [backup] = answer["backups"]
        assert base64.b64decode(backup["data"]) == before
        assert backup["sha256"] == hashlib.sha256(before).hexdigest()
        changed = [line for line in handle.config_path.read_text().splitlines()
                   if line not in before.decode().splitlines()]
        assert changed == ["; clawback incident fleet-test: kept off", "autostart=false"]
        update = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(handle.config_path),
             "update"], capture_output=True, text=True, timeout=60, check=False,
        )
        assert update.returncode == 0, update.stderr
        # Each RPC answer comes after a pass of supervisord's loop, which starts autostart
        # programs: two answers after the update, it has had its chance.
        for _ in range(2):
            info = handle.process_info("openclaw-gateway")
        assert (info["statename"], info["pid"]) == ("STOPPED", 0)
        handle.restart()
        for _ in range(2):
            info = handle.process_info("openclaw-gateway")
        assert (info["statename"], info["pid"]) == ("STOPPED", 0)
        assert not port_open(port)


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


# Run inside the zip on a bare interpreter: import every packed module and report each module
# imported from anywhere but the zip or the standard library (a site-packages import would
# fail there anyway; this also names one that happens to be installed on the test machine).
AUDIT = """
import json, sys, zipimport
before = set(sys.modules)
packed = [m for m in json.loads(sys.argv[1])]
for name in packed:
    __import__(name)
foreign = sorted(
    name for name in set(sys.modules) - before
    if name.split(".")[0] not in sys.stdlib_module_names
    and not isinstance(getattr(sys.modules[name], "__loader__", None), zipimport.zipimporter)
)
print(json.dumps({"foreign": foreign, "site": "site" in sys.modules}))
"""


def test_the_zip_imports_only_the_standard_library_and_what_it_carries(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(agent_zip())) as archive:
        assert set(archive.namelist()) == {"__main__.py", *PACKED_MODULES}
    # Every host probe travels: the remote actions rely on the fleet agent having each one.
    probes = Path(__file__).resolve().parents[2] / "responders" / "hostprobes"
    assert {f"responders/hostprobes/{p.name}" for p in probes.glob("*.py")} <= set(PACKED_MODULES)
    zipped = tmp_path / "agent.pyz"
    zipped.write_bytes(agent_zip())
    modules = [m.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
               for m in PACKED_MODULES]
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-c", f"import sys; sys.path[:0] = [{str(zipped)!r}]\n"
         + AUDIT, json.dumps(modules)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    audit = json.loads(done.stdout)
    assert audit == {"foreign": [], "site": False}


@pytest.mark.parametrize("volatile", [True, False])
def test_the_agent_plans_from_a_layout_what_the_local_snapshot_plans(
        home: SampleHome, volatile: bool, tmp_path: Path) -> None:
    """One planner (hostprobes.collection) on both sides: this checks the agent's reading of
    the layout the controller sends, and that the zip's planner reads workspaces too."""
    layout = home.agent_settings()
    local = snapshot.build_plan(
        snapshot.AgentLayout.from_settings(layout), snapshot.EvidenceSettings(),
        snapshot.SnapshotParams(volatile=volatile), agent=OpenClawKeeper,
    )
    remote = run_agent(tmp_path, "snapshot", {"layout": layout, "volatile": volatile,
                                              "plan_only": True})
    assert remote["files"] == [f.path for f in local.files]
    assert remote["tails"] == [f.path for f in local.files if f.tail]
    assert remote["commands"] == [" ".join(c.argv) for c in local.commands]
    assert remote["listings"] == local.listings
    assert remote["generated"] == local.generated
    assert remote["missing"] == [list(m) for m in local.missing]
    if not volatile:
        assert any("/workspace/" in f.path for f in local.files)


# -- one archive writer ------------------------------------------------------------------------

# What the archive writer defines; neither snapshot module may define any of it again.
ARCHIVE_NAMES = {"EvidenceArchive", "CommandCapture", "_HashingReader", "_HashingSink",
                 "_CountingWriter", "_run_to_file", "_open_for_evidence", "is_sparse",
                 "collect_listing", "json_bytes", "_json_bytes", "_is_small_enough"}


def test_the_local_snapshot_and_the_fleet_agent_write_with_the_same_code() -> None:
    import ast
    import zipfile

    from responders.fleet_agent import agent
    from responders.hostprobes import archive

    assert agent.EvidenceArchive is archive.EvidenceArchive is snapshot.EvidenceArchive
    assert agent.collect_listing is archive.collect_listing is snapshot.collect_listing
    # The zip carries the writer's source as it is here, byte for byte.
    with zipfile.ZipFile(io.BytesIO(agent_zip())) as zipped:
        carried = zipped.read("responders/hostprobes/archive.py")
    assert carried == Path(archive.__file__).read_bytes()
    for module in (agent, snapshot):
        tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[arg-type]
        defined = {node.name for node in tree.body
                   if isinstance(node, ast.ClassDef | ast.FunctionDef)}
        assert not defined & ARCHIVE_NAMES, module.__name__


def hostile_tree(root: Path) -> dict[str, Any]:
    """A home whose logs hold a plain file, one over the per-file cap, a sparse one, a link
    out of the tree and a FIFO; returns the ``[agent]`` layout."""
    home, outside, tmp = root / "home", root / "outside", root / "tmp"
    logs = home / ".openclaw" / "logs"
    for directory in (logs, outside, tmp / "openclaw"):
        directory.mkdir(parents=True)
    (logs / "gateway.log").write_bytes(b'{"msg": "started"}\n' * 50)
    (logs / "gateway.big.log").write_bytes(bytes(range(256)) * 8 * 1024)  # 2 MiB
    with open(logs / "gateway.sparse.log", "wb") as out:
        out.truncate(4 * snapshot.SPARSE_MIN_BYTES)
        out.write(b"head of a sparse log\n")
    (outside / "root-only").write_bytes(b"not the agent's\n")
    (logs / "gateway.link.log").symlink_to(outside / "root-only")
    os.mkfifo(logs / "gateway.fifo.log")
    (tmp / "openclaw" / "openclaw-2099-01-01.log").write_bytes(b"tmp log\n")
    return {"user_home": str(home), "state_dirs": [str(home / ".openclaw")],
            "tmp_dirs": [str(tmp)], "gateway_port": free_port()}


@pytest.mark.parametrize("volatile", [True, False])
def test_the_agent_archives_a_hostile_tree_exactly_as_the_local_snapshot_does(
        tmp_path: Path, volatile: bool) -> None:
    from responders.interface import Collected, ResponderContext

    layout = hostile_tree(tmp_path / "host")
    cap = 1024 * 1024
    label = "volatile" if volatile else "full"
    incident = tmp_path / "incident"
    incident.mkdir(mode=0o700)
    local = snapshot.SnapshotAction(
        ResponderContext(incident_id="i", incident_dir=incident, settings={"agent": layout}),
        snapshot.SnapshotParams(volatile=volatile, system_artifacts=False, max_file_bytes=cap),
    ).execute("localhost")
    assert isinstance(local, Collected), local
    out = tmp_path / "remote"
    out.mkdir(mode=0o700)
    remote = run_agent(tmp_path, "snapshot", {
        "layout": layout, "volatile": volatile, "system_artifacts": False,
        "out_dir": str(out), "file_name": "remote.tar.gz", "member_prefix": f"i-{label}",
        "id_prefix": f"i-{label}", "max_file_bytes": cap,
    })

    # Only the tree: the local full pass also reads the logs of any supervisord on this
    # machine (service_logs), which the fleet's plan leaves to the host's own services.
    root = str(tmp_path / "host") + "/"

    def files(items: Any) -> list[tuple[Any, ...]]:
        return sorted(
            (i["source"], i["stored_path"], i["size"], i["sha256"], i["truncated"],
             i["original_size"], i["note"], i["mode"])
            for i in items if i["kind"] == "file" and i["source"].startswith(root)
        )

    def skips(skipped: Any) -> list[tuple[str, str]]:
        return sorted((str(p), str(r)) for p, r in skipped if str(p).startswith(root))

    local_items = [dataclasses.asdict(i) for i in local.items]
    assert files(remote["items"]) == files(local_items)
    assert len(files(local_items)) >= 4, "the tree was not collected"
    assert skips(remote["skipped"]) == skips(local.skipped)
    logs = Path(layout["state_dirs"][0]) / "logs"
    skipped = dict(local.skipped)
    assert skipped[str(logs / "gateway.fifo.log")] == "not a regular file (fifo)"
    assert "not followed" in skipped[str(logs / "gateway.link.log")]
    notes = {Path(i["source"]).name: i["note"] for i in local_items if i["kind"] == "file"}
    assert "sparse" in notes["gateway.sparse.log"]
    assert "capped: first 1048576 of 2097152 bytes" in notes["gateway.big.log"]
    # Run without a total, the agent's volatile pass still keeps the local one's budget.
    assert remote["max_total_bytes"] == (snapshot.VOLATILE_TOTAL_BYTES if volatile else None)


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

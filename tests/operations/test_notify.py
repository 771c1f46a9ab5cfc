"""[notify]: messages at the start, after each step with its checkpoint, and at the end, sent
through Apprise to receivers on loopback; no secret in any of them; a receiver that hangs or is
down never holds up the stop of the agent, which is proven by order, not by timing.

The run: a test action that waits until the hanging receiver holds the start message, then the
real stop of a gateway stand-in under supervisord. The stop's signed result is therefore
written while a notification is still unanswered.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from clawback.contain import ContainRequest, prepare, run
from clawback.display import Display
from clawback.shipping import read_shipments
from clawback.status import incident_status
from clawback.status_view import print_status
from clawback.timeline import read_entries
from clawback.verify import verify_incident
from clawback_demo.home import build_sample_home
from clawback_demo.supervisor import start_supervisord
from responders.interface import Action, Done, Failed, Outcome, Planned, Responder
from tests.conftest import MemoryKeyring
from tests.host.conftest import free_port, gateway_argv, port_open, wait_until

TOKEN = "tk_notify_SECRET_7f3a9c"  # part of a destination URL: never shown anywhere


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, int]:
    """An HTTP server on a free loopback port, in a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@dataclass
class Receiver:
    """An HTTP endpoint on loopback that takes Apprise's json:// POSTs."""

    hang: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    released_at: datetime | None = None
    port: int = 0

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.messages.append({"path": self.path, **json.loads(body)})
                receiver.arrived.set()
                if receiver.hang:
                    receiver.release.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server, self.port = _serve(Handler)
        return server


HANGING = Receiver(hang=True)


class AwaitParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AwaitHangingReceiver(Action):
    """Done once the hanging receiver holds a message: what comes after runs while it hangs."""

    name: ClassVar[str] = "notifytest.await_receiver"
    state_changing: ClassVar[bool] = True
    Params: ClassVar[type[Any]] = AwaitParams

    def plan(self, target: str) -> Outcome:
        return Planned(action="wait")

    def execute(self, target: str) -> Outcome:
        if HANGING.arrived.wait(60):
            return Done(detail="the hanging receiver holds the start message")
        return Failed(error="no notification reached the hanging receiver")


class NotifyTestHost(Responder):
    name: ClassVar[str] = "notifytest"
    actions: ClassVar[dict[str, type[Action]]] = {AwaitHangingReceiver.name: AwaitHangingReceiver}


PLAYBOOK = """
name: notify-test
steps:
  - id: wait
    uses: notifytest.await_receiver
  - id: stop
    uses: host.stop_service
  - id: revoke
    uses: keys.revoke_all
    with: {providers: [telegram]}
"""


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver, int]]:
    global HANGING
    HANGING = Receiver(hang=True)
    good = Receiver()
    servers = [good.serve(), HANGING.serve()]
    with socket.socket() as s:  # a port nobody listens on: a receiver that is down
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
    try:
        yield good, HANGING, down
    finally:
        HANGING.release.set()
        for server in servers:
            server.shutdown()


def _shipments_settled(incident: Path) -> bool:
    return any(s.final for s in read_shipments(incident))


def test_notifications_never_hold_up_the_stop_and_carry_no_secret(
    tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch,
    receivers: tuple[Receiver, Receiver, int],
) -> None:
    good, hanging, down = receivers
    home = build_sample_home(tmp_path / "sample", era="both")
    port = free_port()
    supervisor = start_supervisord(tmp_path / "sv",
                                   {"openclaw-gateway": gateway_argv(port, home.lock_dir)})
    try:
        assert wait_until(lambda: port_open(port))
        urls = {"NOTIFY_GOOD": f"json://127.0.0.1:{good.port}/{TOKEN}",
                "NOTIFY_HANGING": f"json://127.0.0.1:{hanging.port}/{TOKEN}",
                "NOTIFY_DOWN": f"json://127.0.0.1:{down}/{TOKEN}"}
        for name, url in urls.items():
            monkeypatch.setenv(name, url)
        agent = {**home.agent_settings(), "gateway_port": port}
        config = tmp_path / "clawback.toml"
        config.write_text(
            "[agent]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in agent.items())
            + "[[agent.services]]\nkind = \"supervisord\"\nname = \"openclaw-gateway\"\n"
            f"socket = {json.dumps(str(supervisor.socket_path))}\n"
            "[notify]\nurls = [\"env:NOTIFY_GOOD\", \"env:NOTIFY_HANGING\", \"env:NOTIFY_DOWN\"]\n"
            "timeout_seconds = 60\nflush_seconds = 1\n"
        )
        playbook = tmp_path / "notify.yaml"
        playbook.write_text(PLAYBOOK)
        for path in (config, playbook):
            os.chmod(path, 0o600)
        prepared = prepare(ContainRequest(playbook=playbook, config=config,
                                          incidents_dir=tmp_path / "incidents",
                                          extra_responders=(NotifyTestHost,)))
        result = run(prepared)
        # Apprise is imported by the notification process only, never by the one containing
        assert "apprise" not in sys.modules
        # The run is over, the agent stopped and the incident closed, while the hanging
        # receiver still holds the start message unanswered.
        assert not hanging.release.is_set()
        assert not port_open(port)
        incident = result.incident_dir
        assert incident is not None
        entries = read_entries(incident / "timeline.jsonl")
        stop = next(e for e in entries if e.action == "host.stop_service" and e.phase == "result")
        assert stop.fields["outcome"] == "Done"
        assert entries[-1].action == "close"
        assert any("still being sent" in w for w in result.warnings)
        hanging.released_at = datetime.now(UTC)
        hanging.release.set()
        assert datetime.fromisoformat(stop.fields["ts"]) < hanging.released_at
    finally:
        hanging.release.set()
        supervisor.stop()

    # Released, the worker sends the rest on its own and records what it shipped.
    assert wait_until(lambda: _shipments_settled(incident), timeout=90)
    titles = [m["title"] for m in good.messages]
    assert titles[0].startswith("clawback: containing")
    assert any("step stop done" in t for t in titles)
    assert titles[-1].startswith(f"clawback {result.incident_id}: ")
    final = good.messages[-1]["message"]
    assert "Agent: stopped" in final and "still live: telegram" in final
    assert result.final_checkpoint is not None
    assert result.final_checkpoint.strip() in final
    # every step's checkpoint went out, and the record says where (scheme and host only)
    shipped = read_shipments(incident)
    assert all(s.delivered for s in shipped)
    # each checkpoint the run made (one per step, and the close's) was shipped
    from clawback.checkpoint import parse_checkpoints
    from clawback.shipping import normalized_sha256
    from clawback.timeline import CHECKPOINT_FILE, CHECKPOINT_HISTORY_FILE

    made = {normalized_sha256(cp.text()) for name in (CHECKPOINT_HISTORY_FILE, CHECKPOINT_FILE)
            for cp in parse_checkpoints((incident / name).read_text())}
    assert {s.checkpoint_sha256 for s in shipped} == made
    assert len(made) >= 4  # wait, stop, revoke, close
    assert {s.destinations for s in shipped} == {
        (f"json://127.0.0.1:{good.port}", f"json://127.0.0.1:{hanging.port}")}
    # verify names the copy to anchor with; a record naming a checkpoint this log never had
    # is flagged
    codes = {v.code: v for v in verify_incident(incident).verdicts}
    assert codes["CHECKPOINT_SHIPPED"].severity == "ok"
    assert f"json://127.0.0.1:{good.port}" in codes["CHECKPOINT_SHIPPED"].message
    status = incident_status(incident)
    assert status.shipped is not None and status.shipped.final
    assert status.shipped.tree_size == len(read_entries(incident / "timeline.jsonl"))
    # ... and says so to the operator, on screen and in --json, naming no secret
    stream = io.StringIO()
    print_status(Display(color="never").console(stream), [status], root=str(incident.parent))
    shown = " ".join(stream.getvalue().split())
    assert (f"checkpoint: final checkpoint (size {status.tree_size} of {status.tree_size}) "
            "shipped off-host at") in shown
    assert f"json://127.0.0.1:{good.port}" in shown and TOKEN not in shown
    document = status.as_dict()["checkpoint_shipped"]
    assert document["final"] is True and document["tree_size"] == status.tree_size
    assert TOKEN not in json.dumps(status.as_dict())

    # no secret in any message, and no destination URL (it carries a token) in any file
    texts = [json.dumps(m) for m in good.messages + hanging.messages]
    for planted in home.planted:
        assert all(planted.value not in t for t in texts), planted.kind
    for path in incident.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert all(TOKEN not in w for w in result.warnings)

    record = incident / "shipped.jsonl"
    lines = record.read_text().splitlines()
    forged = json.loads(lines[-1]) | {"checkpoint_sha256": "0" * 64, "tree_size": 9999}
    record.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    codes = {v.code for v in verify_incident(incident).verdicts}
    assert "SHIPPED_CHECKPOINT_UNKNOWN" in codes and "CHECKPOINT_SHIPPED" not in codes


def test_no_usable_url_is_a_warning_not_a_failure(
    tmp_path: Path, memory_keyring: MemoryKeyring,
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    config = tmp_path / "clawback.toml"
    config.write_text(
        "[agent]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in home.agent_settings().items())
        + "[notify]\nurls = [\"env:NOTIFY_UNSET_IN_THIS_TEST\"]\nflush_seconds = 5\n")
    playbook = tmp_path / "p.yaml"
    playbook.write_text("name: p\nsteps:\n  - id: look\n    uses: host.snapshot\n"
                        "    with: {volatile: true, system_artifacts: false}\n")
    for path in (config, playbook):
        os.chmod(path, 0o600)
    result = run(prepare(ContainRequest(playbook=playbook, config=config,
                                        incidents_dir=tmp_path / "incidents")))
    assert result.exit_code == 0
    assert any("NOTIFY_UNSET_IN_THIS_TEST" in w and "cannot be used" in w
               for w in result.warnings)
    assert result.incident_dir is not None and not read_shipments(result.incident_dir)


def test_destinations_show_no_secret_part() -> None:
    from clawback.notify_worker import destination_label

    cases: Sequence[tuple[str, str]] = (
        ("json://127.0.0.1:8080/tk_secret", "json://127.0.0.1:8080"),
        ("ntfy://my-secret-topic", "ntfy"),
        ("ntfys://ntfy.example.org/secret-topic", "ntfys://ntfy.example.org"),
        ("slack://TA/TB/TC", "slack"),
        ("mailto://user:pass@mail.example.com", "mailto://mail.example.com"),
    )
    for url, shown in cases:
        assert destination_label(url) == shown


@dataclass
class NtfyReceiver:
    """An ntfy server's publish endpoint on loopback, as Apprise's ntfy:// talks to a self-
    hosted one: a JSON POST to / with topic, title and message; it answers the message back
    with an id, as ntfy does (https://docs.ntfy.sh/publish/#publish-as-json)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                receiver.messages.append({"path": self.path, **body})
                answer = json.dumps({"id": f"m{len(receiver.messages)}", "event": "message",
                                     "topic": body.get("topic"), "time": 0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        server, self.port = _serve(Handler)
        return server


def test_the_worker_ships_checkpoints_to_an_ntfy_server_and_records_them(
    tmp_path: Path,
) -> None:
    """The sending process on its own, with the real Apprise: each checkpoint reaches a
    self-hosted ntfy (the topic is the URL's secret part) and is recorded in shipped.jsonl;
    one to a receiver that is down is recorded as not delivered. Neither the topic nor the
    URL is written anywhere."""
    import subprocess

    topic = "clawback-alerts-SECRET-9b1e"
    ntfy = NtfyReceiver()
    server = ntfy.serve()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
    incident = tmp_path / "incident"
    incident.mkdir()
    checkpoint = "clawback/2026-11-21T0203Z-7f3a\n5\nq0Yf2c1d\n\n— clawback sig\n"
    final = "clawback/2026-11-21T0203Z-7f3a\n9\nb7e1aa\n\n— clawback sig\n"
    lines = [
        {"urls": [f"ntfy://127.0.0.1:{ntfy.port}/{topic}"], "timeout": 30,
         "incident_dir": str(incident)},
        {"title": "clawback x: step stop done", "body": f"Step stop.\n\n{checkpoint}",
         "checkpoint": checkpoint, "final": False},
        {"title": "clawback x: needs you", "body": f"The end.\n\n{final}",
         "checkpoint": final, "final": True},
    ]
    try:
        worker = subprocess.run(
            [sys.executable, "-m", "clawback.notify_worker"],
            input="".join(json.dumps(line) + "\n" for line in lines), text=True,
            capture_output=True, timeout=120, check=True)
        down_lines = [{**lines[0], "urls": [f"ntfy://127.0.0.1:{down}/{topic}"]}, lines[1]]
        refused = subprocess.run(
            [sys.executable, "-m", "clawback.notify_worker"],
            input="".join(json.dumps(line) + "\n" for line in down_lines), text=True,
            capture_output=True, timeout=120, check=True)
    finally:
        server.shutdown()

    assert [m["topic"] for m in ntfy.messages] == [topic, topic]
    assert [m["title"] for m in ntfy.messages] == [lines[1]["title"], lines[2]["title"]]
    assert checkpoint.strip() in ntfy.messages[0]["message"]
    assert final.strip() in ntfy.messages[1]["message"]
    shipped = read_shipments(incident)
    assert [(s.tree_size, s.delivered, s.final) for s in shipped] == [
        (5, True, False), (9, True, True), (5, False, False)]
    assert shipped[0].destinations == (f"ntfy://127.0.0.1:{ntfy.port}",)
    assert shipped[2].destinations == () and shipped[2].error
    assert "not delivered" in refused.stdout
    for text in (worker.stdout, worker.stderr, refused.stdout, refused.stderr,
                 (incident / "shipped.jsonl").read_text()):
        assert topic not in text


def test_messages_show_the_agents_text_escaped(tmp_path: Path) -> None:
    """The end message quotes the timeline (the stop's detail, a provider's answer): a
    terminal escape or bidi override from there is sent as its escape."""
    from clawback.notifier import end_message, start_message
    from clawback.runner import RunResult
    from clawback.signing import Signer
    from clawback.timeline import Timeline

    directory = tmp_path / "incident"
    timeline = Timeline.create(directory, "2026-11-21T0203Z-0e5c", Signer.generate("t/n"),
                               header={"operator": "alice@web-01"})
    service = {"target": "supervisord:gateway"}
    timeline.append(step="stop", action="host.stop_service", phase="intent", target=service)
    timeline.append(step="stop", action="host.stop_service", phase="result", target=service,
                    outcome="Done", detail="stopped\x1b]0;pwned\x07\u202e",
                    extra={"status": "ok"})
    timeline.close(manifest_sha256=None)
    result = RunResult("2026-11-21T0203Z-0e5c", directory, [], dry_run=False)
    title, body = end_message(result)
    start = start_message("2026-11-21T0203Z-0e5c", "root\x1b[2J@host", "contain.yaml")
    for text in (title, body, *start):
        assert not [c for c in text if not c.isprintable() and c != "\n"], text
    assert "Agent: stopped" in body
    assert "root\\x1b[2J@host" in start[1]

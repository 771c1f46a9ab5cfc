"""Every string in a transcript is the agent's to choose, ids and names included: a hostile
agent that hides a key in a session's id, a tool call's id, a tool's name or an action finds it
scrubbed from what investigate writes, like a key in a command."""

from __future__ import annotations

import importlib.util
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clawback.investigate import investigate_incident

REPO = Path(__file__).resolve().parents[2]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_investigate",
                                                  REPO / "bench" / "investigate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keys_hidden_in_ids_names_and_actions_are_not_written(tmp_path: Path) -> None:
    bench = _bench()
    values = bench.secrets(random.Random(9))
    github, openai = values["github"], values["openai"]
    # A key of a provider shape the incident does not name is scrubbed by its shape.
    stranger = "sk-ant-api03-" + "Q" * 20 + "x7Rk2mPz9LwV4nBt" + "A" * 60 + "-AA"
    at = datetime.now(UTC) - timedelta(hours=1)

    def entry(n: int, message: dict[str, object]) -> str:
        ts = (at + timedelta(seconds=n)).isoformat(timespec="milliseconds")
        return json.dumps({"type": "message", "id": f"{n:08x}", "parentId": None,
                           "timestamp": ts.replace("+00:00", "Z"), "message": message}) + "\n"

    lines = [json.dumps({"type": "session", "version": 3, "id": openai,
                         "timestamp": at.isoformat().replace("+00:00", "Z"),
                         "cwd": "/home/agent"}) + "\n",
             entry(1, {"role": "assistant", "content": [
                 {"type": "toolCall", "id": github, "name": "exec",
                  "arguments": {"command": "true"}}]}),
             entry(2, {"role": "toolResult", "toolCallId": github, "toolName": openai,
                       "isError": False, "content": [{"type": "text", "text": "ok"}]}),
             entry(3, {"role": "assistant", "content": [
                 {"type": "toolCall", "id": stranger, "name": "browser",
                  "arguments": {"action": openai}}]}),
             entry(4, {"role": "assistant", "content": [
                 {"type": "toolCall", "id": "c4", "name": "message",
                  "arguments": {"action": github, "channel": "x", "message": "hi"}}]}),
             entry(5, {"role": "assistant", "content": [
                 {"type": "toolCall", "id": "c5", "name": stranger, "arguments": {}}]})]
    home = tmp_path / "home"
    sessions = home / ".openclaw" / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "s-hostile.jsonl").write_text("".join(lines))
    incident = bench.seal_incident(tmp_path, home, values)

    result = investigate_incident(incident)
    assert result.sealed is not None
    written = (result.sealed.document.read_text() + result.sealed.activity.read_text()
               + (incident / "timeline.jsonl").read_text())
    for value in (github, openai, stranger):
        assert value not in written
    assert result.document["summary"]["events"] >= 5

"""A day of ordinary agent work raises no alarm: nothing above ``low`` (a listed fact), no first
suspicious event, every credential ``reachable only``. What ``low`` and ``info`` cover is the
rules file's documented heuristics (an unknown domain fetched, a LAN login, a listener)."""

from __future__ import annotations

import importlib.util
import json
import os
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


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _benign_home(home: Path, now: datetime) -> None:
    state = home / ".openclaw"
    t0 = now - timedelta(hours=5)
    lines: list[dict[str, object]] = [{"type": "session", "version": 3, "id": "s-benign",
                                       "timestamp": _iso(t0), "cwd": str(state / "workspace")}]

    def message(seconds: int, body: dict[str, object]) -> None:
        at = t0 + timedelta(seconds=seconds)
        lines.append({"type": "message", "id": f"{len(lines):08x}", "parentId": None,
                      "timestamp": _iso(at), "message": {**body,
                                                         "timestamp": int(at.timestamp() * 1000)}})

    def call(seconds: int, name: str, arguments: dict[str, object]) -> None:
        message(seconds, {"role": "assistant", "stopReason": "toolUse", "content": [
            {"type": "toolCall", "id": f"c{seconds}", "name": name, "arguments": arguments}]})

    def result(seconds: int, name: str, text: str) -> None:
        message(seconds, {"role": "toolResult", "toolCallId": f"c{seconds - 1}",
                          "toolName": name, "isError": False,
                          "content": [{"type": "text", "text": text}]})

    message(0, {"role": "user", "content": "What changed in the repo today? And summarise "
                                           "https://news.example.com/rust-2026 please."})
    call(2, "exec", {"command": "cd ~/projects/site && git log --since=midnight --oneline"})
    result(3, "exec", "a1b2c3d fix the footer\n9f8e7d6 add the pricing page\n")
    call(4, "web_fetch", {"url": "https://news.example.com/rust-2026"})
    result(5, "web_fetch", "Rust 2026 edition ships. The release notes list async closures, "
                           "a faster compiler and better error messages. Upgrade with rustup.")
    call(6, "read", {"path": str(state / "workspace" / "MEMORY.md")})
    result(7, "read", "The owner prefers short summaries.")
    call(8, "exec", {"command": "python3 -m pytest -q tests/"})
    result(9, "exec", "42 passed in 3.1s")
    message(10, {"role": "assistant", "stopReason": "stop", "content": [
        {"type": "text", "text": "Two commits today (footer fix, pricing page); tests pass. "
                                 "Rust 2026 adds async closures and a faster compiler."}]})
    call(11, "message", {"action": "send", "channel": "telegram", "target": "+15550001111",
                         "message": "Two commits today; tests pass."})
    sessions = state / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "s-benign.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    cron = state / "cron"
    cron.mkdir()
    (cron / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [{
        "id": "d1", "name": "morning-digest", "enabled": True,
        "createdAtMs": int((now - timedelta(days=40)).timestamp() * 1000),
        "schedule": {"kind": "cron", "expr": "0 7 * * *"},
        "payload": {"kind": "agentTurn", "message": "Summarise overnight email"}}]}))
    old = (now - timedelta(days=40)).timestamp()
    os.utime(cron / "jobs.json", (old, old))
    logs = state / "logs"
    logs.mkdir()
    (logs / "commands.log").write_text(json.dumps({
        "timestamp": _iso(t0 - timedelta(hours=1)), "action": "new",
        "sessionKey": "agent:main:main", "senderId": "+15550001111", "source": "telegram"}) + "\n")
    tmp_logs = home.parent / "tmp" / "openclaw"
    tmp_logs.mkdir(parents=True)
    (tmp_logs / f"openclaw-{now:%Y-%m-%d}.log").write_text("".join(
        json.dumps({"0": json.dumps({"subsystem": sub}), "1": text, "time": _iso(t0)}) + "\n"
        for sub, text in (("gateway", "listening on ws://127.0.0.1:18789"),
                          ("telegram", "polling started"),
                          ("agent", "run finished in 11.2s"))))


def test_an_ordinary_day_raises_no_alarm(tmp_path: Path) -> None:
    bench = _bench()
    now = datetime.now(UTC)
    home = tmp_path / "home"
    _benign_home(home, now)
    values = bench.secrets(random.Random(5))
    incident = bench.seal_incident(tmp_path, home, values)
    doc = investigate_incident(incident).document

    alarms = [i for i in doc["indicators"] if i["severity"] in ("medium", "high")]
    assert alarms == []
    assert doc["notable_events"] == [] and doc["summary"]["suspicious_events"] == 0
    assert doc["window"]["first_suspicious"] is None
    assert all(c["status"] == "reachable only" for c in doc["credentials"])
    # What was done is still all there, as facts.
    kinds = doc["activity"]["by_kind"]
    assert kinds["tool.exec"] == 2 and kinds["tool.web_fetch"] == 1 and kinds["message.sent"] == 1
    contacted = {(i["type"], i["value"], i["severity"]) for i in doc["indicators"]}
    assert ("domain", "news.example.com", "low") in contacted

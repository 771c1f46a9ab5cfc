"""OpenClaw session transcripts: ``<state>/agents/<id>/sessions/<session>.jsonl``.

The format is pi-coding-agent's session file, version 3, as OpenClaw 2026.2.26 writes it
(``@mariozechner/pi-coding-agent/docs/session.md`` in the npm package; the tests also let the
real gateway write one): a ``session`` header line, then entries with ``id``/``parentId``, of
which ``message`` entries carry an ``AgentMessage``:

* ``user``: what came in on a channel (``content``: a string or text/image blocks);
* ``assistant``: text, thinking and ``toolCall`` blocks (``name``, ``arguments``);
* ``toolResult``: ``toolName``, ``toolCallId``, ``content`` blocks, ``isError``;
* ``bashExecution`` (a ``!command`` typed by the user), ``custom``;

plus ``custom_message`` entries (extension text that enters the model's context) and
``compaction``/``branch_summary`` (summaries, not new content). Tool names and arguments are
OpenClaw's (docs/tools/index.md): ``exec {command}``, ``read``/``write``/``edit {path}``,
``web_fetch {url}``, ``browser {action, targetUrl|url}``, ``message {action, channel, target|to,
message}``, ``sessions_spawn {task, agentId, label}``, ``cron {action, job}``, ``gateway
{action}``, ``nodes {action, command}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

from clawback.investigate.clock import parse_epoch, parse_iso
from clawback.investigate.records import (
    COMMAND,
    INBOUND,
    LOGGED,
    OUTBOUND,
    WRITTEN,
    Event,
    MemberRef,
    as_mapping,
)
from clawback.investigate.sealed import lines
from clawback.investigate.sources import ParseContext

SOURCE = "openclaw-transcript"
_EXEC_TOOLS = frozenset({"exec", "bash", "shell", "process"})
_READ_TOOLS = frozenset({"read", "read_file", "ls", "find", "grep", "glob"})
_WRITE_TOOLS = frozenset({"write", "edit", "apply_patch", "write_file", "multi_edit"})
_PERSISTENT_PATH_PARTS = ("/skills/", "/hooks/", "/extensions/", "/cron/", "authorized_keys",
                          ".bashrc", ".profile", "crontab", "/systemd/", "AGENTS.md", "SOUL.md")


def preview(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` at a space: never inside a word, so a secret is
    either whole (and the scrubber replaces it by its fingerprint) or left out."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if flat[limit - 1] != " ":
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else ""
    return cut.rstrip() + "…"


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or the text of its text blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if isinstance(block, Mapping) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "\n".join(parts)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _arguments(block: Mapping[str, Any]) -> dict[str, Any]:
    args = block.get("arguments", block.get("input", block.get("args")))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return {"raw": args}
    return dict(args) if isinstance(args, Mapping) else {}


# Commands whose output may carry a value in another encoding: their results are decoded too.
_ENCODING_COMMAND = re.compile(r"\b(base64|basenc|openssl|xxd|od|hexdump|gzip|uuencode)\b")
_REMEMBERED_CALLS = 1024


def parse(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    session = ""
    encoded_calls: dict[str, None] = {}  # recent exec calls whose output may be encoded
    for offset, number, raw in lines(stream):
        if raw is None:
            ctx.long_line(member)
            continue
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            ctx.bad_line(member)
            continue
        if not isinstance(entry, Mapping):
            ctx.bad_line(member)
            continue
        ref = member.at(offset, number)
        kind = entry.get("type")
        ts = parse_iso(entry.get("timestamp"))
        if kind == "session":
            session = _str(entry.get("id"))
            yield Event(ts, SOURCE, "session.start", f"session {session} started in "
                        f"{_str(entry.get('cwd')) or '?'}", ref, session,
                        attrs={"cwd": _str(entry.get("cwd"))})
            continue
        if kind == "message" and isinstance(entry.get("message"), Mapping):
            for event in _message(entry["message"], ts, ref, session):
                _link_encodings(event, encoded_calls)
                yield event
        elif kind == "custom_message":
            text = content_text(entry.get("content"))
            if text:
                yield Event(ts, SOURCE, "message.injected",
                            f"{_str(entry.get('customType')) or 'extension'} text entered the "
                            f"context: {preview(text)}", ref, session, texts=[(INBOUND, text)])
        elif kind in ("compaction", "branch_summary"):
            summary = _str(entry.get("summary"))
            if summary:
                yield Event(ts, SOURCE, f"session.{kind}", f"{kind.replace('_', ' ')}: "
                            f"{preview(summary, 100)}", ref, session, texts=[(LOGGED, summary)])


def _link_encodings(event: Event, encoded_calls: dict[str, None]) -> None:
    """Mark the result of a command such as ``base64 .env``: its output is decoded before the
    credential search (every output is not: that would double the cost of a large set)."""
    call = event.attrs.get("call")
    if not call:
        return
    if event.kind == "tool.exec" and _ENCODING_COMMAND.search(event.attrs.get("command", "")):
        encoded_calls[call] = None
        if len(encoded_calls) > _REMEMBERED_CALLS:
            encoded_calls.pop(next(iter(encoded_calls)))
    elif event.kind == "tool.result" and call in encoded_calls:
        event.attrs["encoded_output"] = True


def _message(message: Mapping[str, Any], entry_ts: Any, ref: Any, session: str) -> Iterator[Event]:
    role = message.get("role")
    ts = entry_ts or parse_epoch(message.get("timestamp"))
    if role == "user":
        text = content_text(message.get("content"))
        yield Event(ts, SOURCE, "message.inbound", f"message in: {preview(text)}", ref, session,
                    texts=[(INBOUND, text)])
    elif role == "assistant":
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        said = content_text(content)
        if said.strip():
            yield Event(ts, SOURCE, "agent.reply", f"agent said: {preview(said)}", ref, session,
                        texts=[(OUTBOUND, said)])
        for block in blocks:
            if isinstance(block, Mapping) and block.get("type") in ("toolCall", "tool_use"):
                yield _tool_call(block, ts, ref, session)
        if message.get("stopReason") == "error" and message.get("errorMessage"):
            yield Event(ts, SOURCE, "agent.error",
                        f"model call failed: {preview(_str(message.get('errorMessage')))}",
                        ref, session)
    elif role == "toolResult":
        tool = _str(message.get("toolName")) or "tool"
        text = content_text(message.get("content"))
        failed = message.get("isError") is True
        yield Event(ts, SOURCE, "tool.result",
                    f"{tool} returned {len(text)} characters" + (" (error)" if failed else ""),
                    ref, session, attrs={"tool": tool, "call": _str(message.get("toolCallId")),
                                         "error": failed},
                    texts=[(INBOUND, text)])
    elif role == "bashExecution":
        command = _str(message.get("command"))
        yield Event(ts, SOURCE, "tool.exec", f"user ran: {preview(command)}", ref, session,
                    attrs={"command": command, "by": "user"},
                    texts=[(COMMAND, command), (INBOUND, _str(message.get("output")))])
    elif role == "custom":
        text = content_text(message.get("content"))
        if text:
            yield Event(ts, SOURCE, "message.injected", f"custom message: {preview(text)}", ref,
                        session, texts=[(INBOUND, text)])


def _tool_call(block: Mapping[str, Any], ts: Any, ref: Any, session: str) -> Event:
    name = _str(block.get("name")) or "tool"
    args = _arguments(block)
    call = _str(block.get("id"))
    base = {"tool": name, "call": call}

    def event(kind: str, summary: str, attrs: Mapping[str, Any],
              texts: list[tuple[str, str]]) -> Event:
        return Event(ts, SOURCE, kind, summary, ref, session, attrs={**base, **attrs},
                     texts=texts)

    if name in _EXEC_TOOLS:
        command = _str(args.get("command"))
        if isinstance(args.get("command"), list):
            command = " ".join(str(a) for a in args["command"])
        host = _str(args.get("host"))
        attrs: dict[str, Any] = {"command": command, **({"host": host} if host else {})}
        if args.get("elevated") is True:
            attrs["elevated"] = True
        return event("tool.exec", f"exec: {preview(command)}", attrs, [(COMMAND, command)])
    if name in _READ_TOOLS:
        path = _str(args.get("path") or args.get("file_path") or args.get("pattern"))
        return event("tool.read", f"{name}: {path}", {"path": path}, [])
    if name in _WRITE_TOOLS:
        path = _str(args.get("path") or args.get("file_path"))
        body = _str(args.get("content") or args.get("newText") or args.get("new_string")
                    or args.get("input") or args.get("patch"))
        persistent = any(part in path for part in _PERSISTENT_PATH_PARTS)
        return event("tool.write", f"{name}: {path}", {"path": path, "bytes": len(body),
                     **({"persistence_path": True} if persistent else {})}, [(WRITTEN, body)])
    if name == "web_fetch":
        url = _str(args.get("url"))
        return event("tool.web_fetch", f"fetched {url}", {"url": url}, [(OUTBOUND, url)])
    if name == "web_search":
        query = _str(args.get("query"))
        return event("tool.web_search", f"searched: {preview(query)}", {"query": query},
                     [(OUTBOUND, query)])
    if name == "browser":
        action = _str(args.get("action"))
        url = _str(args.get("targetUrl") or args.get("url"))
        request = as_mapping(args.get("request"))
        typed = _str(args.get("text") or request.get("text"))
        texts = [(OUTBOUND, url)] if url else []
        if typed:
            texts.append((OUTBOUND, typed))
        shown = f"browser {action} {url}".strip()
        return event("tool.browser", shown, {"action": action, **({"url": url} if url else {})},
                     texts)
    if name == "message":
        action = _str(args.get("action")) or "send"
        channel = _str(args.get("channel"))
        to = _str(args.get("target") or args.get("to") or args.get("channelId"))
        text = _str(args.get("message") or args.get("text") or args.get("content"))
        media = _str(args.get("media") or args.get("mediaUrl") or args.get("path"))
        texts = [(OUTBOUND, text)] + ([(OUTBOUND, media)] if media else [])
        kind = "message.sent" if action in ("send", "thread-reply", "reply", "edit") else (
            f"message.{action}")
        return event(kind, f"message {action} on {channel or '?'} to {to or '?'}: "
                     f"{preview(text, 100)}",
                     {"action": action, "channel": channel, "to": to,
                      **({"media": media} if media else {})}, texts)
    if name in ("sessions_spawn", "sessions_send"):
        task = _str(args.get("task") or args.get("message"))
        agent = _str(args.get("agentId") or args.get("sessionKey") or args.get("label"))
        kind = "agent.spawn" if name == "sessions_spawn" else "agent.send"
        return event(kind, f"{'spawned' if kind == 'agent.spawn' else 'sent to'} sub-agent "
                     f"{agent or '?'}: {preview(task, 100)}", {"agent": agent}, [(COMMAND, task)])
    if name == "cron":
        action = _str(args.get("action"))
        job = as_mapping(args.get("job"))
        payload = as_mapping(job.get("payload"))
        text = _str(payload.get("message") or payload.get("text"))
        jname = _str(job.get("name") or args.get("jobId") or args.get("id"))
        schedule = json.dumps(job.get("schedule"), sort_keys=True) if job.get("schedule") else ""
        return event(f"cron.{action or 'call'}", f"cron {action} {jname}: {preview(text, 100)}",
                     {"action": action, "job": jname,
                      **({"schedule": schedule} if schedule else {})}, [(COMMAND, text)])
    if name == "gateway":
        action = _str(args.get("action"))
        body = json.dumps(args, sort_keys=True)
        return event(f"gateway.{action or 'call'}", f"gateway {action}", {"action": action},
                     [(COMMAND, body)])
    if name == "nodes":
        action = _str(args.get("action"))
        argv = args.get("command")
        text = " ".join(str(a) for a in argv) if isinstance(argv, list) else _str(argv)
        return event("tool.nodes", f"nodes {action} {_str(args.get('node'))} {preview(text)}",
                     {"action": action, "node": _str(args.get("node")),
                      **({"command": text} if text else {})}, [(COMMAND, text)])
    body = json.dumps(args, sort_keys=True, ensure_ascii=False)
    return event(f"tool.{name}", f"{name}: {preview(body, 120)}", {}, [(OUTBOUND, body)])

"""OpenClaw's own logs: the gateway file log, the command-logger hook, the config-write audit.

* ``/tmp/openclaw/openclaw-YYYY-MM-DD.log``: JSONL from tslog: the logger name in ``"0"`` (a
  JSON string such as ``{"subsystem":"gateway"}``), the message in ``"1"`` (and further
  arguments in ``"2"``...), ``_meta.logLevelName`` and ``time``. ``<state>/logs/gateway.log``
  and ``gateway.err.log`` are the same messages as text on stdout/stderr (launchd,
  supervisord). Which lines are events is data (the rules' ``log_events``); every line is
  also scanned for credential values written down in clear.
* ``<state>/logs/commands.log``: the bundled ``command-logger`` hook: one JSON object per slash
  command (``/new``, ``/reset``, ``/stop``...) with ``timestamp``, ``action``, ``sessionKey``,
  ``senderId``, ``source``. It does not log shell commands.
* ``<state>/logs/config-audit.jsonl``: one object per config write (``ts``, ``argv`` up to 8
  entries, ``suspicious``, ``result``, hashes). ``openclaw config set`` argv hold the value in
  clear: they are scanned as logged text and redacted before anything is shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import IO, Any

from clawback.investigate.clock import line_time, parse_any, written_at
from clawback.investigate.records import LOGGED, Event, MemberRef, as_mapping
from clawback.investigate.sealed import lines
from clawback.investigate.sources import ParseContext
from clawback.investigate.sources.transcript import preview

# How much of a gateway log line the event rules read: real lines are well under 1 KiB.
EVENT_TEXT_CHARS = 16 * 1024


def _records(member: MemberRef, stream: IO[bytes], ctx: ParseContext
             ) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
    for offset, number, raw in lines(stream):
        if raw is None:
            ctx.long_line(member)
            continue
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            ctx.bad_line(member)
            continue
        if isinstance(record, Mapping):
            yield offset, number, record
        else:
            ctx.bad_line(member)


def parse_command_log(member: MemberRef, stream: IO[bytes], ctx: ParseContext
                      ) -> Iterator[Event]:
    for offset, number, record in _records(member, stream, ctx):
        action = str(record.get("action") or "?")
        source = str(record.get("source") or "?")
        sender = str(record.get("senderId") or "?")
        yield Event(parse_any(record.get("timestamp"), ctx.local), "openclaw-command-log",
                    "command.slash", f"/{action} from {sender} on {source}",
                    member.at(offset, number), str(record.get("sessionKey") or ""),
                    attrs={"command": f"/{action}", "channel": source, "from": sender})


def parse_config_audit(member: MemberRef, stream: IO[bytes], ctx: ParseContext
                       ) -> Iterator[Event]:
    for offset, number, record in _records(member, stream, ctx):
        argv = [str(a) for a in record.get("argv") or () if isinstance(a, str | int)]
        suspicious = [str(s) for s in record.get("suspicious") or ()]
        command = " ".join(argv)
        result = str(record.get("result") or "")
        event = Event(
            parse_any(record.get("ts"), ctx.local), "openclaw-config-audit",
            str(record.get("event") or "config.write"),
            f"config written by pid {record.get('pid', '?')}: {preview(command, 120) or '?'}"
            + (f" (suspicious: {', '.join(suspicious)})" if suspicious else ""),
            member.at(offset, number),
            attrs={"argv": command, "result": result,
                   "changed_paths": record.get("changedPathCount"),
                   **({"suspicious": suspicious} if suspicious else {})},
            texts=[(LOGGED, command)],
        )
        if suspicious:
            event.flag("config-write-suspicious", "medium")
        mode_before, mode_after = record.get("gatewayModeBefore"), record.get("gatewayModeAfter")
        # The first write (onboarding) has no mode before it: that is no change of mode.
        if mode_before and mode_after and mode_before != mode_after:
            event.flag("gateway-mode-changed", "medium")
        yield event


def _tslog_message(record: Mapping[str, Any]) -> tuple[str, str]:
    """(logger name, message) of a tslog JSON record."""
    name = ""
    head = record.get("0")
    parts: list[str] = []
    if isinstance(head, str):
        try:
            decoded = json.loads(head)
        except ValueError:
            decoded = None
        if isinstance(decoded, Mapping):
            name = str(decoded.get("subsystem") or decoded.get("module") or "")
        else:
            parts.append(head)
    for index in range(1, 10):
        value = record.get(str(index))
        if value is None:
            break
        parts.append(value if isinstance(value, str) else json.dumps(value, sort_keys=True))
    meta = record.get("_meta")
    if not name and isinstance(meta, Mapping):
        name = str(meta.get("name") or "")
    return name, " ".join(parts)


def parse_gateway_log(member: MemberRef, stream: IO[bytes], ctx: ParseContext
                      ) -> Iterator[Event]:
    written = written_at(member.mtime, ctx.now)
    for offset, number, raw in lines(stream):
        if raw is None:
            ctx.long_line(member)
            continue
        text = raw.decode("utf-8", errors="replace")
        if not text.strip():
            continue
        name, message, ts, level = "", text, None, ""
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if isinstance(record, Mapping):
                name, message = _tslog_message(record)
                meta = as_mapping(record.get("_meta"))
                ts = parse_any(record.get("time") or meta.get("date"), ctx.local)
                level = str(meta.get("logLevelName") or "")
        else:
            ts, start = line_time(text, ctx.local, written)
            message = text[start:]
        ref = member.at(offset, number)
        # Which event a line is shows in its first words; a line the agent padded to megabytes
        # would otherwise cost every rule a pass over all of it (the credential scan below
        # still reads the whole line).
        head = message[:EVENT_TEXT_CHARS]
        rule = next((r for r in ctx.rules.log_events if r.search(head)), None)
        if rule is None:
            # Not an event; the line is still scanned for credential values logged in clear.
            yield Event(ts, "openclaw-gateway-log", "log.line", "", ref,
                        texts=[(LOGGED, message)])
            continue
        shown = f"[{name}] " if name else ""
        event = Event(ts, "openclaw-gateway-log", rule.kind, f"{shown}{preview(message, 200)}",
                      ref, attrs={"rule": rule.id, **({"level": level} if level else {}),
                                  **({"logger": name} if name else {})},
                      texts=[(LOGGED, message)])
        event.flag(rule.id, rule.severity)
        yield event

"""The host's own records: ``auth.log`` (logins, sudo), ``syslog``, crontabs, ``authorized_keys``.

Syslog lines start with ``Mon DD HH:MM:SS`` in the host's local time (no year: the year the
file was last written is taken) or, with rsyslog's high-precision template, an RFC 3339 time.
The messages read are OpenSSH's (``Accepted <method> for <user> from <ip> port <p>``, ``Failed
password``, ``Invalid user``), sudo's (``<user> : TTY=... ; USER=root ; COMMAND=...``),
shadow-utils' account changes and cron's ``CMD`` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import IO

from clawback.investigate.clock import line_time, written_at
from clawback.investigate.records import COMMAND, LOGGED, Event, EvidenceRef, MemberRef
from clawback.investigate.sealed import lines
from clawback.investigate.sources import ParseContext
from clawback.investigate.sources.transcript import preview

_PROGRAM = re.compile(r"^(?:\S+\s+)?([\w./@-]+?)(?:\[(\d+)\])?:\s(.*)$")
_ACCEPTED = re.compile(r"Accepted (\S+) for (\S+) from (\S+) port (\d+)")
_FAILED = re.compile(r"(Failed \S+ for (?:invalid user )?(\S+)|Invalid user (\S+)) from (\S+)")
_SUDO = re.compile(r"^\s*(\S+) : (?:.*?;\s*)?(?:TTY=(\S+) ; )?PWD=(.*?) ; USER=(\S+) ; "
                   r"COMMAND=(.*)$")
_ACCOUNT = re.compile(r"^(new user|new group|add '\S+' to|change user|delete user|"
                      r"password changed)", re.IGNORECASE)
_CRON_CMD = re.compile(r"^\((\S+)\) CMD \((.*)\)$")


def classify(program: str, message: str, ts: datetime | None, ref: EvidenceRef,
             source: str, ctx: ParseContext) -> Event | None:
    """The event a syslog-style message stands for (shared with the journal parser)."""
    program = program.rsplit("/", 1)[-1]
    if program in ("sshd", "sshd-session"):
        accepted = _ACCEPTED.search(message)
        if accepted:
            method, user, address, port = accepted.groups()
            return Event(ts, source, "auth.login", f"ssh login as {user} from {address} "
                         f"({method})", ref, attrs={"user": user, "from": address,
                                                    "port": port, "method": method})
        failed = _FAILED.search(message)
        if failed:
            user = failed.group(2) or failed.group(3) or "?"
            event = Event(ts, source, "auth.failure", f"ssh login refused for {user} from "
                          f"{failed.group(4)}", ref, attrs={"user": user,
                                                            "from": failed.group(4)})
            event.flag("ssh-login-failure", "low")
            return event
        return None
    if program == "sudo":
        sudo = _SUDO.search(message)
        if sudo:
            user, tty, _pwd, target, command = sudo.groups()
            event = Event(ts, source, "auth.sudo", f"sudo by {user} as {target}: "
                          f"{preview(command, 120)}", ref,
                          attrs={"user": user, "as": target, "command": command,
                                 **({"tty": tty} if tty else {})},
                          texts=[(COMMAND, command)])
            event.flag("sudo", "low")
            return event
        return None
    if program in ("useradd", "usermod", "userdel", "groupadd", "passwd", "chpasswd"):
        if _ACCOUNT.search(message):
            event = Event(ts, source, "auth.account", f"{program}: {preview(message, 140)}",
                          ref, attrs={"program": program})
            event.flag("account-change", "medium")
            return event
        return None
    if program.upper() == "CRON":
        cmd = _CRON_CMD.search(message)
        if cmd:
            return Event(ts, source, "cron.system_run", f"cron ran as {cmd.group(1)}: "
                         f"{preview(cmd.group(2), 120)}", ref,
                         attrs={"user": cmd.group(1), "command": cmd.group(2)},
                         texts=[(COMMAND, cmd.group(2))])
        return None
    rule = next((r for r in ctx.rules.log_events if r.search(message)), None)
    if rule is not None and ("openclaw" in program or "node" in program
                             or "openclaw" in message.lower()):
        event = Event(ts, source, rule.kind, f"[{program}] {preview(message, 200)}", ref,
                      attrs={"rule": rule.id, "program": program}, texts=[(LOGGED, message)])
        event.flag(rule.id, rule.severity)
        return event
    return None


def _syslog(member: MemberRef, stream: IO[bytes], ctx: ParseContext, source: str
            ) -> Iterator[Event]:
    written = written_at(member.mtime, ctx.now)
    for offset, number, raw in lines(stream):
        if raw is None:
            ctx.long_line(member)
            continue
        text = raw.decode("utf-8", errors="replace")
        ts, start = line_time(text, ctx.local, written)
        parsed = _PROGRAM.match(text[start:])
        ref = member.at(offset, number)
        event = classify(parsed.group(1), parsed.group(3), ts, ref, source, ctx) if parsed else None
        if event is not None:
            if not event.texts:
                event.texts = [(LOGGED, text)]
            yield event
        else:
            yield Event(ts, source, "log.line", "", ref, texts=[(LOGGED, text)])


def parse_auth_log(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    yield from _syslog(member, stream, ctx, "auth-log")


def parse_syslog(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    yield from _syslog(member, stream, ctx, "syslog")


def parse_crontab(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    """Each scheduled line, dated by the file's mtime (crontabs record no time per line)."""
    written = written_at(member.mtime, ctx.now) if member.mtime else None
    for offset, number, raw in lines(stream, 1024 * 1024):
        if raw is None:
            ctx.long_line(member)
            continue
        text = raw.decode("utf-8", errors="replace").strip()
        if not text or text.startswith("#") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", text):
            continue
        yield Event(written, "crontab", "cron.system_job",
                    f"{member.source}: {preview(text, 140)}", member.at(offset, number),
                    attrs={"line": text, "file": member.source, "dated_by": "file mtime"},
                    texts=[(COMMAND, text)])


def parse_authorized_keys(member: MemberRef, stream: IO[bytes], ctx: ParseContext
                          ) -> Iterator[Event]:
    """Each key that lets someone log in, dated by the file's mtime; the comment is shown,
    never the key material."""
    written = written_at(member.mtime, ctx.now) if member.mtime else None
    for offset, number, raw in lines(stream, 1024 * 1024):
        if raw is None:
            ctx.long_line(member)
            continue
        text = raw.decode("utf-8", errors="replace").strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        key_at = next((i for i, f in enumerate(fields) if f.startswith(("ssh-", "ecdsa-",
                                                                         "sk-"))), None)
        kind = fields[key_at] if key_at is not None else "?"
        comment = " ".join(fields[key_at + 2:]) if key_at is not None else ""
        options = " ".join(fields[:key_at]) if key_at else ""
        yield Event(written, "authorized-keys", "ssh.authorized_key",
                    f"{member.source}: {kind} key {comment or '(no comment)'}",
                    member.at(offset, number),
                    attrs={"file": member.source, "key_type": kind, "comment": comment,
                           **({"options": options} if options else {}),
                           "dated_by": "file mtime"})

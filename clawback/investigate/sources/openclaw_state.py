"""OpenClaw's state files: cron jobs and their runs, exec approvals, skill/plugin listings.

* ``<state>/cron/jobs.json``: ``{"version": 1, "jobs": [{id, name, enabled, createdAtMs,
  updatedAtMs, schedule, payload: {kind, message|text}, delivery}]}``; a job's payload is an
  instruction the agent will follow on schedule, so it is scanned like a command.
* ``<state>/cron/runs/<jobId>.jsonl``: one object per run (``ts`` in ms, ``jobId``, ``status``).
* ``<state>/exec-approvals.json``: ``agents.<id>.allowlist[]`` entries (``pattern``,
  ``lastUsedAt``, ``lastUsedCommand``); its ``socket.token`` is a secret and never shown.
* ``generated/listings/<root>.json``: clawback's own listing of the skills, extensions and
  workspace skills trees (path, size, mtime, sha256 per file): a file whose mtime falls in the
  incident window is a skill, plugin or hook installed then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import IO, Any

from clawback.investigate.clock import parse_any, parse_epoch, written_at
from clawback.investigate.records import COMMAND, Event, MemberRef, as_mapping
from clawback.investigate.sealed import lines
from clawback.investigate.sources import ParseContext
from clawback.investigate.sources.transcript import preview

# Bigger state files are not JSON an agent writes by hand: they are skipped, not loaded.
MAX_STATE_BYTES = 64 * 1024 * 1024


def _load(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Any:
    data = stream.read(MAX_STATE_BYTES + 1)
    if len(data) > MAX_STATE_BYTES:
        ctx.long_line(member)
        return None
    try:
        return json.loads(data)
    except ValueError:
        ctx.bad_line(member)
        return None


def parse_cron_jobs(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    document = _load(member, stream, ctx)
    jobs = document.get("jobs") if isinstance(document, Mapping) else None
    if not isinstance(jobs, list):
        return
    mtime = written_at(member.mtime, ctx.now)
    for index, job in enumerate(jobs):
        if not isinstance(job, Mapping):
            continue
        payload = as_mapping(job.get("payload"))
        text = str(payload.get("message") or payload.get("text") or "")
        created = parse_epoch(job.get("createdAtMs")) or parse_epoch(job.get("updatedAtMs"))
        schedule = json.dumps(job.get("schedule"), sort_keys=True)
        yield Event(
            created, "openclaw-cron-jobs", "cron.job",
            f"cron job {job.get('name') or job.get('id') or index} ({schedule}): "
            f"{preview(text, 120)}",
            member.at(0, None),
            attrs={"job": str(job.get("name") or ""), "id": str(job.get("id") or ""),
                   "enabled": job.get("enabled") is not False, "schedule": schedule,
                   "dated_by": "createdAtMs" if created else "file mtime",
                   "file_mtime": mtime.isoformat()},
            texts=[(COMMAND, text)],
        )


def parse_cron_runs(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    for offset, number, raw in lines(stream):
        if raw is None:
            ctx.long_line(member)
            continue
        try:
            run = json.loads(raw)
        except ValueError:
            ctx.bad_line(member)
            continue
        if not isinstance(run, Mapping):
            continue
        status = str(run.get("status") or "?")
        yield Event(parse_any(run.get("ts") or run.get("startedAtMs"), ctx.local),
                    "openclaw-cron-runs", "cron.run",
                    f"cron job {run.get('jobId', '?')} ran: {status}",
                    member.at(offset, number), attrs={"job": str(run.get("jobId") or ""),
                                                      "status": status})


def parse_exec_approvals(member: MemberRef, stream: IO[bytes], ctx: ParseContext
                         ) -> Iterator[Event]:
    document = _load(member, stream, ctx)
    if not isinstance(document, Mapping):
        return
    agents = as_mapping(document.get("agents"))
    for agent, settings in agents.items():
        if not isinstance(settings, Mapping):
            continue
        for entry in settings.get("allowlist") or ():
            if not isinstance(entry, Mapping):
                continue
            command = str(entry.get("lastUsedCommand") or "")
            pattern = str(entry.get("pattern") or "")
            yield Event(parse_epoch(entry.get("lastUsedAt")), "openclaw-exec-approvals",
                        "exec.approval", f"agent {agent}: {pattern} allowed; last used "
                        f"{preview(command, 100) or '(never)'}", member.at(0, None),
                        attrs={"agent": str(agent), "pattern": pattern, "command": command},
                        texts=[(COMMAND, command)] if command else [])


def parse_listing(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    document = _load(member, stream, ctx)
    if not isinstance(document, Mapping):
        return
    root = str(document.get("root") or "")
    for entry in document.get("files") or ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
            continue
        path = entry["path"]
        name = path.rsplit("/", 1)[-1]
        # One event per installable unit: its manifest file, not every file of it.
        if name not in ("SKILL.md", "package.json", "HOOK.md", "handler.js", "handler.ts",
                        "openclaw.plugin.json"):
            continue
        mtime = parse_epoch(entry.get("mtime")) if entry.get("mtime") else None
        kind = "hook.file" if "/hooks/" in path or name.startswith(("HOOK", "handler")) else (
            "skill.file" if name == "SKILL.md" else "plugin.file")
        yield Event(mtime, "openclaw-listing", kind,
                    f"{kind.split('.')[0]} {path} (modified {parse_iso_or(mtime)})",
                    member.at(0, None), attrs={"path": path, "root": root,
                                               "sha256": str(entry.get("sha256") or "")})


def parse_iso_or(moment: Any) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "?"

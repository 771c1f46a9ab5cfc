"""Code the agent trusts: skills, plugins and scheduled jobs, scanned for known-bad patterns.

Skills (``<state>/skills``, ``<workspace>/skills``) and plugins (``<state>/extensions``, without
their ``node_modules``) run with the agent's rights, and cron jobs are how an intruder keeps a
foothold. The patterns are the classic ones: download piped into a shell, decoded payloads fed
to a shell or ``eval``, reverse shells, and credential files or secret variables sent to a host
that is not a known API. A hit is a line to read, not proof; the evidence quotes it (secrets
replaced by fingerprints, at most 160 characters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawback.audit.context import AuditContext, is_dir, read_text, walk_files
from clawback.audit.model import Hit, Severity, check
from responders.interface import Location
from responders.kit.provider_facts import API_HOSTS

MAX_FILE_BYTES = 512 * 1024
MAX_FILES = 3000
SNIPPET_CHARS = 160
TEXT_SUFFIXES = {
    "", ".md", ".sh", ".bash", ".zsh", ".js", ".mjs", ".cjs", ".ts", ".py", ".rb", ".pl",
    ".json", ".json5", ".txt", ".yaml", ".yml", ".toml", ".ps1", ".bat", ".cmd",
}  # fmt: skip

_SHELL = r"(?:sudo\s+)?(?:/bin/|/usr/bin/)?(?:ba|z|da|k|fi)?sh\b"
PIPE_TO_SHELL = [
    re.compile(rf"\b(?:curl|wget|fetch)\b[^|\n;]*\|\s*{_SHELL}"),
    re.compile(r"\b(?:curl|wget)\b[^|\n;]*\|\s*(?:sudo\s+)?(?:python3?|node|perl|ruby)\b"),
    re.compile(r"\b(?:ba)?sh\s+<\(\s*(?:curl|wget)\b"),
    re.compile(r"\bsh\s+-c\s+[\"']?\$\(\s*(?:curl|wget)\b"),
    re.compile(r"(?i)\b(?:iwr|invoke-webrequest|irm)\b[^\n|]*\|\s*(?:iex|invoke-expression)\b"),
]
ENCODED_EXEC = [
    re.compile(rf"base64\s+(?:-d|--decode|-D)\b[^\n]*\|\s*{_SHELL}"),
    re.compile(rf"\|\s*base64\s+(?:-d|--decode|-D)\b[^\n]*\|\s*{_SHELL}"),
    re.compile(r"\beval\s*\(?\s*(?:atob|Buffer\.from)\s*\("),
    re.compile(r"\b(?:exec|eval)\s*\(\s*(?:base64\.b64decode|codecs\.decode|zlib\.decompress)"),
    re.compile(r"(?i)powershell[^\n]*\s-(?:e|enc|encodedcommand)\s+[A-Za-z0-9+/=]{20,}"),
    re.compile(r"\beval\s+\"?\$\(\s*echo\s+[^\n]*\|\s*base64\s+(?:-d|--decode)"),
]
REVERSE_SHELL = [
    re.compile(r"/dev/(?:tcp|udp)/[\w.\-]+/\d+"),
    re.compile(r"\bn(?:c|cat|etcat)\b[^\n|;]*\s-[a-z]*[ec]\s+\S*(?:sh|cmd)\b"),
    re.compile(r"\bsocat\b[^\n]*\bexec:", re.I),
    re.compile(r"\bmkfifo\b[^\n]*\bn(?:c|cat)\b"),
    re.compile(r"python[23]?\s+-c\s+[\"'][^\n]*\bsocket\b[^\n]*\b(?:pty|subprocess|dup2)\b"),
    re.compile(r"\bnet\.Socket\b[^\n]*\b(?:spawn|exec)\b|\b(?:spawn|exec)\b[^\n]*\bnet\.Socket\b"),
]
CREDENTIAL_SOURCES = re.compile(
    r"\.aws/credentials|\.ssh/id_|\.openclaw\b|openclaw\.json|auth-profiles\.json|"
    r"\.git-credentials|\.netrc|/etc/shadow|\.env\b|\bprintenv\b|\benv\s*\||"
    r"\$\{?[A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD)\b|process\.env|os\.environ"
)
NETWORK_SINKS = re.compile(
    r"\b(?:curl|wget|nc|ncat|scp|rsync|ftp)\b|\bfetch\s*\(|\baxios\.|"
    r"\brequests\.(?:post|put|get)\b|\bhttps?\.request\b|webhook"
)
_HOST_RE = re.compile(
    r"(?:https?|ftp)://([^/\s:'\"`)]+)|@([\w.-]+\.[a-z]{2,}):|\b(\d{1,3}(?:\.\d{1,3}){3})\b"
)


@dataclass(frozen=True)
class CodeHit:
    path: Path
    line: int
    text: str
    kind: str


def _unknown_destination(line: str) -> str | None:
    hosts = [next(g for g in m.groups() if g) for m in _HOST_RE.finditer(line)]
    unknown = [
        h for h in hosts
        if not any(h == k or h.endswith("." + k) for k in API_HOSTS)
    ]  # fmt: skip
    if unknown:
        return unknown[0]
    return None if hosts else "an unnamed destination"


def classify(line: str) -> list[str]:
    kinds = []
    if any(p.search(line) for p in PIPE_TO_SHELL):
        kinds.append("pipe_to_shell")
    if any(p.search(line) for p in ENCODED_EXEC):
        kinds.append("encoded_exec")
    if any(p.search(line) for p in REVERSE_SHELL):
        kinds.append("reverse_shell")
    if CREDENTIAL_SOURCES.search(line) and NETWORK_SINKS.search(line):
        destination = _unknown_destination(line)
        if destination is not None:
            kinds.append("credential_exfil")
    return kinds


def code_files(ctx: AuditContext) -> list[Path]:
    roots: list[Path] = []
    for state in ctx.state_dir_paths:
        roots += [state / "skills", state / "extensions"]
    for config in ctx.configs:
        roots += [w / "skills" for w in ctx.workspaces(config)]
    files: list[Path] = []
    for root in dict.fromkeys(roots):
        if is_dir(root):
            files += [p for p in walk_files(root, max_files=MAX_FILES) if p.suffix in TEXT_SUFFIXES]
    return files[:MAX_FILES]


def code_hits(ctx: AuditContext) -> list[CodeHit]:
    def scan() -> list[CodeHit]:
        hits = []
        for path in code_files(ctx):
            text = read_text(path, MAX_FILE_BYTES)
            if text is None:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                for kind in classify(line):
                    hits.append(CodeHit(path, number, line, kind))
        return hits

    return ctx.memo("code_hits", scan)


def snippet(ctx: AuditContext, text: str) -> str:
    cleaned = ctx.scrub(text.strip())
    return cleaned if len(cleaned) <= SNIPPET_CHARS else cleaned[: SNIPPET_CHARS - 1] + "…"


def _hits_of(ctx: AuditContext, kind: str) -> Iterator[Hit]:
    found = [h for h in code_hits(ctx) if h.kind == kind]
    if found:
        yield Hit(
            evidence=tuple(f"{h.path}:line {h.line}: {snippet(ctx, h.text)}" for h in found),
            locations=tuple(Location(str(h.path), f"line {h.line}") for h in found),
        )


_CODE_FIX = (
    "Read the skill or plugin; remove it (and rotate whatever the agent could reach) unless "
    "you wrote that line yourself. Pin installs to a checksum instead of piping to a shell."
)


@check(
    "skills.pipe_to_shell",
    Severity.HIGH,
    "A skill or plugin pipes a download straight into a shell",
    fix=_CODE_FIX,
    area="code",
    openclaw_ids=("skills.code_safety", "plugins.code_safety"),
)
def pipe_to_shell(ctx: AuditContext) -> Iterator[Hit]:
    yield from _hits_of(ctx, "pipe_to_shell")


@check(
    "skills.encoded_exec",
    Severity.CRITICAL,
    "A skill or plugin decodes and executes a hidden payload",
    fix=_CODE_FIX,
    area="code",
    openclaw_ids=("skills.code_safety", "plugins.code_safety"),
)
def encoded_exec(ctx: AuditContext) -> Iterator[Hit]:
    yield from _hits_of(ctx, "encoded_exec")


@check(
    "skills.reverse_shell",
    Severity.CRITICAL,
    "A skill or plugin contains a reverse shell",
    fix="Treat the host as compromised: run `clawback contain`, then remove the skill. "
    + _CODE_FIX,
    area="code",
    openclaw_ids=("skills.code_safety", "plugins.code_safety"),
)
def reverse_shell(ctx: AuditContext) -> Iterator[Hit]:
    yield from _hits_of(ctx, "reverse_shell")


@check(
    "skills.credential_exfil",
    Severity.CRITICAL,
    "A skill or plugin sends credentials to an unknown host",
    fix="Treat every secret the agent holds as leaked: run `clawback contain`, then remove the "
    "skill. " + _CODE_FIX,
    area="code",
    openclaw_ids=("skills.code_safety", "plugins.code_safety", "skills.markdown_sensitive_network"),
)
def credential_exfil(ctx: AuditContext) -> Iterator[Hit]:
    yield from _hits_of(ctx, "credential_exfil")


def _strings(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield prefix, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{prefix}[{index}]")


@check(
    "cron.suspicious_job",
    Severity.CRITICAL,
    "A scheduled job runs a download, decoded payload, reverse shell or exfiltration",
    fix="Disable the job (openclaw cron disable <id>), keep cron/jobs.json and cron/runs/ as "
    "evidence, and run `clawback contain` if you did not create it.",
    area="code",
)
def suspicious_cron_job(ctx: AuditContext) -> Iterator[Hit]:
    for state in ctx.state_dir_paths:
        path = state / "cron" / "jobs.json"
        text = read_text(path, MAX_FILE_BYTES)
        if text is None:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        jobs = data.get("jobs") if isinstance(data, Mapping) else data
        for index, job in enumerate(jobs if isinstance(jobs, list) else []):
            if not isinstance(job, Mapping):
                continue
            for key, value in _strings(job):
                kinds = classify(value)
                if kinds:
                    yield Hit(
                        evidence=(
                            f"{path}:jobs[{index}].{key} (job {job.get('name', '?')!r}, "
                            f"enabled={job.get('enabled', True)}): {', '.join(kinds)}: "
                            f"{snippet(ctx, value)}",
                        ),
                        locations=(Location(str(path), f"jobs[{index}].{key}"),),
                    )

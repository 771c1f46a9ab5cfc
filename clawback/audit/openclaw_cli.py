"""Run the installed ``openclaw`` binary for its version and ``security audit --json``, safely.

The OpenClaw CLI is not read-only: importing it resolves ``/tmp/openclaw`` (creating it, or
chmod-ing it to 0700), and building its logger *deletes rolling logs older than 24 hours* there
— the very evidence ``contain`` collects. It also calls out to the network (model catalogues).
So it runs only inside a throw-away sandbox: a private mount namespace in which every mount is
remounted read-only (verified from ``/proc/self/mountinfo`` before the binary starts), an empty
network namespace, and a private tmpfs as ``TMPDIR``. Where that sandbox cannot be built (no
``unshare``, no privileges), the binary is not run and the report says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback.audit.context import AuditContext, read_text
from clawback.audit.model import CheckSpec, Finding, Hit, Severity, check

RUN_TIMEOUT_SECONDS = 60.0
SANDBOX_UNAVAILABLE = 97
# Every mount read-only (checked on the top mount of each mount point: a stacked mount hides
# the one below), then a writable tmpfs for the scratch dir only.
_SANDBOX_SCRIPT = r"""
scratch="$1"; shift
mount --make-rprivate / || exit 97
for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  mount -o remount,bind,ro "$(printf '%b' "$m")" 2>/dev/null
done
awk '{ top[$5] = $6 } END { for (m in top) if (top[m] !~ /(^|,)ro(,|$)/) bad = 1; exit bad }' \
  /proc/self/mountinfo || exit 97
mount -t tmpfs -o size=64m,mode=0700 tmpfs "$scratch" || exit 97
exec "$@"
"""
_NO_SANDBOX = (
    "openclaw was not run: a read-only sandbox could not be built (needs root or user "
    "namespaces), and the CLI deletes day-old logs in /tmp/openclaw when it starts"
)
_SEVERITIES = {"critical": Severity.CRITICAL, "warn": Severity.MEDIUM, "info": Severity.INFO}


@dataclass
class OpenClawRun:
    command: tuple[str, ...]
    version: str | None = None
    version_source: str = "openclaw --version"
    report: Mapping[str, Any] | None = None
    problem: str | None = None
    findings: list[Mapping[str, Any]] = field(default_factory=list)


def default_command() -> tuple[str, ...]:
    found = shutil.which("openclaw")
    return (found,) if found else ()


def installed_version(command: Sequence[str]) -> tuple[str, str] | None:
    """(version, source) from the package.json of the script ``command`` runs, if any."""
    from clawback.audit.checks.version import PACKAGE_NAMES, parse_version

    for part in reversed(command):
        located = shutil.which(part) or part
        real = Path(os.path.realpath(located))
        for parent in list(real.parents)[:3]:
            text = read_text(parent / "package.json", 256 * 1024)
            try:
                data = json.loads(text) if text else None
            except ValueError:
                continue
            if (
                isinstance(data, dict)
                and data.get("name") in PACKAGE_NAMES
                and isinstance(data.get("version"), str)
                and parse_version(data["version"])
            ):
                return data["version"], f"openclaw binary ({parent / 'package.json'})"
    return None


def _sandboxed(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
    unshare = shutil.which("unshare") or shutil.which("unshare", path="/usr/bin:/bin")
    if unshare is None:
        raise FileNotFoundError("unshare")
    scratch = tempfile.mkdtemp(prefix="clawback-openclaw-")
    try:
        namespaces = [unshare, "--mount", "--net"]
        if os.geteuid() != 0:
            namespaces.append("--map-root-user")
        return subprocess.run(
            [*namespaces, "sh", "-c", _SANDBOX_SCRIPT, "sandbox", scratch, *argv],
            env={**env, "TMPDIR": scratch},
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        os.rmdir(scratch)


def _first_json_object(text: str) -> Any:
    """The JSON document in ``text``; the CLI may print doctor notes before it."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def run(ctx: AuditContext, command: Sequence[str]) -> OpenClawRun:
    """Ask the binary for its version and its own audit of the primary state dir."""
    result = OpenClawRun(tuple(command))
    config = ctx.configs[0] if ctx.configs else None
    env = {
        **ctx.env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ctx.user_home),
        "NODE_DISABLE_COMPILE_CACHE": "1",
        "OPENCLAW_DISABLE_BONJOUR": "1",
        "NO_COLOR": "1",
        "LC_ALL": "C",
    }
    if config is not None:
        env["OPENCLAW_STATE_DIR"] = str(config.state_dir)
        env["OPENCLAW_CONFIG_PATH"] = str(config.path)
    installed = installed_version(command)
    if installed is not None:
        # Reading the package is as good as `--version` and saves a node start (seconds).
        result.version, result.version_source = installed
    else:
        try:
            version = _sandboxed([*command, "--version"], env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            result.problem = (
                f"could not run {command[0]} in a read-only sandbox ({type(exc).__name__})"
            )
            return result
        if version.returncode == SANDBOX_UNAVAILABLE:
            result.problem = _NO_SANDBOX
            return result
        from clawback.audit.checks.version import VERSION_RE

        found = VERSION_RE.search(version.stdout.decode("utf-8", errors="replace"))
        result.version = found.group(0) if found else None
    if config is None:
        return result
    try:
        audited = _sandboxed([*command, "security", "audit", "--json"], env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        result.problem = f"openclaw security audit did not finish ({type(exc).__name__})"
        return result
    if audited.returncode == SANDBOX_UNAVAILABLE:
        result.problem = _NO_SANDBOX
        return result
    report = _first_json_object(audited.stdout.decode("utf-8", errors="replace"))
    if not isinstance(report, dict) or not isinstance(report.get("findings"), list):
        tail = audited.stderr.decode("utf-8", errors="replace").strip().splitlines()[-8:]
        result.problem = (
            f"openclaw security audit exited {audited.returncode} without a report: "
            + ctx.scrub(" | ".join(tail))[:800]
        )
        return result
    result.report = report
    result.findings = [f for f in report["findings"] if isinstance(f, Mapping) and f.get("checkId")]
    return result


@check(
    "openclaw.audit_failed",
    Severity.LOW,
    "openclaw security audit could not run",
    fix="Run `openclaw doctor` as the agent's user and fix what it reports; OpenClaw refuses "
    "to audit (and to start) with an invalid config.",
    area="openclaw",
)
def audit_failed(ctx: AuditContext) -> Iterator[Hit]:
    outcome = ctx.memo("openclaw_run", lambda: None)
    if outcome is not None and outcome.problem:
        yield Hit(evidence=(outcome.problem,))


def merge(
    ctx: AuditContext, findings: list[Finding], outcome: OpenClawRun,
    spec_for: Callable[[str], CheckSpec | None],
) -> list[Finding]:
    """Add OpenClaw's findings; one that reports a weakness clawback found already is folded
    into that finding (its checkId kept), so each weakness appears once. ``spec_for`` gives
    the spec of each of clawback's checks (``clawback.audit.checklist``)."""
    import dataclasses

    merged = list(findings)
    seen: set[tuple[str, str]] = set()
    for raw in outcome.findings:
        check_id = str(raw["checkId"])
        detail = ctx.scrub(str(raw.get("detail") or ""))
        if (check_id, detail) in seen:
            continue
        seen.add((check_id, detail))
        covering = [
            i for i, f in enumerate(merged)
            if f.source == "clawback" and (spec := spec_for(f.check_id)) and spec.covers(check_id)
        ]  # fmt: skip
        if covering:
            # Folded in, but never softened: OpenClaw's "critical" stays critical.
            theirs = _SEVERITIES.get(str(raw.get("severity")), Severity.MEDIUM)
            for index in covering:
                finding = merged[index]
                if check_id not in finding.openclaw_ids:
                    finding = dataclasses.replace(
                        finding, openclaw_ids=(*finding.openclaw_ids, check_id)
                    )
                if theirs.rank > finding.severity.rank:
                    finding = dataclasses.replace(finding, severity=theirs)
                merged[index] = finding
            continue
        merged.append(
            Finding(
                check_id=check_id,
                severity=_SEVERITIES.get(str(raw.get("severity")), Severity.MEDIUM),
                title=ctx.scrub(str(raw.get("title") or check_id)),
                evidence=tuple(line for line in detail.splitlines() if line.strip()) or (check_id,),
                fix=ctx.scrub(str(raw.get("remediation") or "See `openclaw security audit`.")),
                area="openclaw",
                source="openclaw",
                openclaw_ids=(check_id,),
            )
        )
    return merged

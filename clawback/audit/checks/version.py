"""The installed OpenClaw version against known advisories (research/openclaw.md §5).

The version comes from the first source that has one, most authoritative first: ``openclaw
--version`` (run by ``clawback.audit.openclaw_cli`` when the binary is present), the installed
package's ``package.json`` / ``dist/build-info.json``, the service definition
(``OPENCLAW_SERVICE_VERSION``), then the config's ``meta.lastTouchedVersion`` (the version that
last *wrote* the config). All advisories a version is exposed to form **one** finding.

The seed table below is the research snapshot; a real deployment should refresh it from the
OSV/GHSA feeds for npm ``openclaw``, ``clawdbot`` and ``moltbot``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clawback.audit.context import AuditContext, dig, read_text
from clawback.audit.model import Hit, Severity, check

PACKAGE_NAMES = ("openclaw", "clawdbot", "moltbot")
VERSION_RE = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})(?:-(beta\.)?(\d+))?")


@dataclass(frozen=True)
class Advisory:
    ids: tuple[str, ...]
    summary: str
    fixed: str
    severity: Severity


ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        ("GHSA-g55j-c2v4-pjcg", "CVE-2026-25593"),
        "unauthenticated local RCE through the WebSocket config.apply → cliPath",
        "2026.1.20",
        Severity.CRITICAL,
    ),
    Advisory(
        ("CVE-2026-25253", "GHSA-g8p2-7wf7-98mq"),
        "1-click RCE: the Control UI trusted ?gatewayUrl= and sent the gateway token to it",
        "2026.1.29",
        Severity.HIGH,
    ),
    Advisory(
        ("CVE-2026-24763", "GHSA-mc68-q9jw-2h3v"),
        "Docker sandbox PATH command injection",
        "2026.1.29",
        Severity.HIGH,
    ),
    Advisory(
        ("CVE-2026-25157", "GHSA-q284-4pvr-m585"),
        "macOS app sshNodeCommand injection",
        "2026.1.29",
        Severity.MEDIUM,
    ),
    Advisory(
        ("ClawJacked",),
        "browser-origin WebSocket brute force / auto-pairing against localhost",
        "2026.2.26",
        Severity.HIGH,
    ),
    Advisory(
        ("CVE-2026-32302", "GHSA-5wcw-8jjv-m286"),
        "untrusted web origins get operator.admin in trusted-proxy mode",
        "2026.3.11",
        Severity.HIGH,
    ),
)


def parse_version(text: str) -> tuple[int, int, int, int, int] | None:
    """CalVer ``YYYY.M.D`` with ``-N`` (re-release) or ``-beta.N``; betas sort before the
    release, re-releases after it."""
    match = VERSION_RE.search(text)
    if not match:
        return None
    year, month, day, beta, number = match.groups()
    if number is None:
        return (int(year), int(month), int(day), 1, 0)
    return (int(year), int(month), int(day), 0 if beta else 2, int(number))


def affecting(version: str) -> list[Advisory]:
    parsed = parse_version(version)
    if parsed is None:
        return []
    out = []
    for advisory in ADVISORIES:
        fixed = parse_version(advisory.fixed)
        if fixed is not None and parsed < fixed:
            out.append(advisory)
    return out


@dataclass(frozen=True)
class VersionObservation:
    version: str
    source: str


def package_dirs(ctx: AuditContext) -> list[Path]:
    """Where the OpenClaw package may be installed, from services first, then usual prefixes."""
    found: list[Path] = []
    for service in ctx.survey.services:
        text = read_text(Path(service.path), 256 * 1024) or ""
        for match in re.finditer(r"(/[^\s\"'<>]*?/(?:openclaw|clawdbot|moltbot))/dist/", text):
            found.append(Path(match.group(1)))
    prefixes = [
        ctx.user_home / ".npm-global" / "lib" / "node_modules",
        ctx.user_home / ".local" / "lib" / "node_modules",
        ctx.user_home / ".local" / "share" / "pnpm" / "global" / "5" / "node_modules",
        ctx.host.path("/usr/local/lib/node_modules"),
        ctx.host.path("/usr/lib/node_modules"),
        ctx.host.path("/opt/homebrew/lib/node_modules"),
    ]
    found += [prefix / name for prefix in prefixes for name in PACKAGE_NAMES]
    return list(dict.fromkeys(found))


def observe_versions(ctx: AuditContext) -> list[VersionObservation]:
    seen: list[VersionObservation] = []
    if ctx.openclaw_version:
        seen.append(VersionObservation(ctx.openclaw_version, ctx.openclaw_version_source))
    for package in package_dirs(ctx):
        text = read_text(package / "package.json", 256 * 1024)
        if text is not None:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("version"), str):
                seen.append(VersionObservation(data["version"], f"{package}/package.json"))
        info = read_text(package / "dist" / "build-info.json", 64 * 1024)
        if info is not None:
            try:
                build = json.loads(info)
            except ValueError:
                build = None
            if isinstance(build, dict) and isinstance(build.get("version"), str):
                seen.append(VersionObservation(build["version"], f"{package}/dist/build-info.json"))
    for service in ctx.survey.services:
        if service.version:
            seen.append(VersionObservation(service.version, f"{service.path} (service version)"))
    for config in ctx.configs:
        touched = dig(config.merged, "meta.lastTouchedVersion")
        if isinstance(touched, str):
            seen.append(VersionObservation(touched, f"{config.path}:meta.lastTouchedVersion"))
    return [o for o in seen if parse_version(o.version) is not None]


@check(
    "version.advisories",
    Severity.HIGH,
    "Installed OpenClaw version has known security advisories",
    fix="Upgrade OpenClaw (npm install -g openclaw@latest, or pull the new image) and restart "
    "the gateway; then re-run the audit.",
    area="version",
)
def version_advisories(ctx: AuditContext) -> Iterator[Hit]:
    observed = observe_versions(ctx)
    if not observed:
        return
    primary = observed[0]
    advisories = affecting(primary.version)
    if not advisories:
        return
    worst = max(advisories, key=lambda a: a.severity.rank).severity
    evidence = [f"version {primary.version} from {primary.source}"]
    evidence += [f"{' / '.join(a.ids)}: {a.summary} (fixed in {a.fixed})" for a in advisories]
    others = sorted({o.version for o in observed[1:] if o.version != primary.version})
    if others:
        evidence.append(f"other versions seen on this host: {', '.join(others)}")
    yield Hit(evidence=tuple(evidence), severity=worst)


@check(
    "version.unknown",
    Severity.INFO,
    "OpenClaw version could not be determined",
    fix="Make `openclaw --version` available to the auditing user, or keep the package's "
    "package.json readable, so advisories can be matched.",
    area="version",
)
def version_unknown(ctx: AuditContext) -> Iterator[Hit]:
    if ctx.configs and not observe_versions(ctx):
        yield Hit(evidence=("no version in openclaw --version, package.json, services or config",))

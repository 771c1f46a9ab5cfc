"""supervisord's config files, read the way supervisord reads them, and the one edit a stop
makes there: ``autostart=false`` for the gateway's program.

Stopping a program over XML-RPC (``stopProcessGroup`` + ``removeProcessGroup``) only changes the
*running* supervisord. Its config file still says ``autostart=true`` (the default), so
``supervisorctl update``, a supervisord restart or a reboot starts the gateway again within
seconds. The stop is final only once every section that defines the program says
``autostart=false``; the program then shows as STOPPED after any reload until its owner starts
it on purpose.

How supervisord reads its config (supervisor/options.py, 4.x): the main file (``-c``, else the
first of its search paths), then every file matched by ``[include] files`` (globs relative to
the main file's directory, in sorted order); a section read later overrides the keys it sets.
Values may use ``%(here)s`` (the directory of the file the value is in), ``%(program_name)s``,
``%(process_num)d``, ``%(group_name)s`` and ``%(ENV_X)s``. A process named by the RPC interface
is ``info["name"]`` in group ``info["group"]``; its section is ``[program:<name>]``, or
``[program:<group>]`` when ``numprocs`` made the name ``<group>_<n>``.

Standard library only: this runs on the panic path right after the stop.
"""

from __future__ import annotations

import configparser
import glob
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from responders.interface import ResponderError

# supervisord's own search order when started without -c (relative ones are against its cwd).
SEARCH_PATHS: tuple[str, ...] = (
    "../etc/supervisord.conf",
    "../supervisord.conf",
    "supervisord.conf",
    "etc/supervisord.conf",
    "/etc/supervisord.conf",
    "/etc/supervisor/supervisord.conf",
)
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_FALSE = {"false", "no", "off", "0"}
_HEADER = re.compile(r"^\s*\[([^\]]+)\]\s*(?:[;#].*)?$")
_AUTOSTART = re.compile(r"^(\s*)autostart(\s*)([=:])(.*)$", re.IGNORECASE)


class SupervisorConfigError(Exception):
    """The config cannot be read or does not say what was expected; the message is advice."""


@dataclass(frozen=True)
class ProgramSection:
    """A file that defines (part of) a program's section."""

    file: str
    section: str


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise SupervisorConfigError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise SupervisorConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    return data.decode("utf-8", errors="surrogateescape")


def _parse(path: str) -> configparser.RawConfigParser:
    parser = _parser()
    try:
        parser.read_string(_read(path), source=path)
    except configparser.Error as exc:
        # The message would quote the offending line (a password, perhaps): line number only.
        errors = getattr(exc, "errors", None)
        line = errors[0][0] if errors else getattr(exc, "lineno", "?")
        raise SupervisorConfigError(
            f"{path}:{line}: not a valid supervisord config (supervisord would refuse it too)"
        ) from None
    return parser


def _parser() -> configparser.RawConfigParser:
    # supervisord tolerates duplicate options and sections the way strict=False does.
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def find_main_config(cwd: str | None = None) -> str | None:
    """The file supervisord would read without ``-c``, resolved against its ``cwd``."""
    for candidate in SEARCH_PATHS:
        path = candidate if os.path.isabs(candidate) else os.path.join(cwd or "/", candidate)
        if os.path.isfile(path):
            return os.path.abspath(path)
    return None


def config_files(main: str) -> list[str]:
    """The main file, then its ``[include]`` files, in the order supervisord reads them."""
    main = os.path.abspath(main)
    parser = _parse(main)
    files = [main]
    if parser.has_option("include", "files"):
        here = os.path.dirname(main)
        patterns = parser.get("include", "files").replace("%(here)s", here).split()
        for pattern in patterns:
            for match in sorted(glob.glob(os.path.join(here, pattern))):
                if os.path.isfile(match) and os.path.abspath(match) not in files:
                    files.append(os.path.abspath(match))
    return files


def _sections(text: str) -> list[str]:
    return [m.group(1).strip() for line in text.splitlines() if (m := _HEADER.match(line))]


def program_sections(main: str, candidates: Sequence[str]) -> list[ProgramSection]:
    """Every file that has ``[program:<name>]`` for the first candidate name any file has."""
    files = config_files(main)
    texts = {path: _read(path) for path in files}
    for name in candidates:
        section = f"program:{name}"
        found = [ProgramSection(p, section) for p in files if section in _sections(texts[p])]
        if found:
            return found
    return []


def merged_option(main: str, section: str, option: str) -> tuple[str, str] | None:
    """(value, file it came from) of ``option`` in ``section`` as supervisord merges the files
    (the last file that sets it wins); None when no file sets it."""
    value: tuple[str, str] | None = None
    for path in config_files(main):
        parser = _parse(path)
        if parser.has_option(section, option):
            raw = parser.get(section, option)
            value = (raw.replace("%(here)s", os.path.dirname(path)).strip(), path)
    return value


def autostarts(main: str, section: str) -> bool:
    """Whether supervisord starts this program when it (re)reads its config (default: yes)."""
    found = merged_option(main, section, "autostart")
    return found is None or found[0].lower() not in _FALSE


def with_autostart_off(text: str, section: str, note: str = "") -> str:
    """``text`` with ``autostart=false`` in ``[section]``: an existing ``autostart`` line is
    replaced (its indentation kept), else one is added right under the header. Everything else
    stays byte for byte. ``note`` becomes a comment line above it."""
    lines = text.splitlines(keepends=True)
    if _already_off(lines, section):
        return text  # idempotent: a second run (a retried stop) changes nothing
    out: list[str] = []
    inside = False
    placed = False
    newline = "\r\n" if "\r\n" in text else "\n"
    comment = [f"; {note}{newline}"] if note else []
    for line in lines:
        header = _HEADER.match(line)
        if header:
            inside = header.group(1).strip() == section
            out.append(line)
            if inside and not placed:
                if not line.endswith(("\n", "\r")):
                    out[-1] = line + newline
                out += [*comment, f"autostart=false{newline}"]
                placed = True
            continue
        if inside and _AUTOSTART.match(line):
            continue  # replaced by the line under the header
        out.append(line)
    if not placed:
        raise SupervisorConfigError(f"no [{section}] section to edit")
    return "".join(out)


def _already_off(lines: Sequence[str], section: str) -> bool:
    """Whether every ``autostart`` line of ``[section]`` says false (and there is one)."""
    inside, values = False, []
    for line in lines:
        header = _HEADER.match(line)
        if header:
            inside = header.group(1).strip() == section
            continue
        match = _AUTOSTART.match(line) if inside else None
        if match:
            values.append(match.group(4).split(";")[0].split("#")[0].strip().lower())
    return bool(values) and all(v in _FALSE for v in values)


def log_files(main: str, section: str, process_name: str, group: str) -> list[str]:
    """The program's stdout and stderr log files as configured (``AUTO`` ones found in
    ``childlogdir``); only those that exist."""
    found: list[str] = []
    program = section.split(":", 1)[1]
    for option, stream in (("stdout_logfile", "stdout"), ("stderr_logfile", "stderr")):
        value = merged_option(main, section, option)
        raw = value[0] if value else "AUTO"
        if raw.upper() == "NONE":
            continue
        if raw.upper() == "AUTO":
            childlogdir = merged_option(main, "supervisord", "childlogdir")
            directory = childlogdir[0] if childlogdir else "/tmp"
            pattern = os.path.join(glob.escape(directory),
                                   f"{glob.escape(process_name)}-{stream}---supervisor-*.log")
            found += sorted(glob.glob(pattern))
            continue
        expanded = (raw.replace("%(program_name)s", program).replace("%(group_name)s", group)
                    .replace("%(process_num)d", "0").replace("%(process_num)02d", "00"))
        if "%(" not in expanded and os.path.isfile(expanded):
            found.append(expanded)
    return list(dict.fromkeys(found))


def programs_running(main: str, words: Sequence[str]) -> list[str]:
    """The ``[program:x]`` sections whose name or ``command`` mentions one of ``words``."""
    found: list[str] = []
    for path in config_files(main):
        parser = _parse(path)
        for section in parser.sections():
            if not section.startswith("program:"):
                continue
            command = parser.get(section, "command", fallback="").lower()
            name = section.split(":", 1)[1].lower()
            if any(w in name or w in command for w in words) and section not in found:
                found.append(section)
    return found


def candidates(info_name: str, info_group: str) -> list[str]:
    """Section names to look for, given a process's RPC name and group."""
    return list(dict.fromkeys([info_name, info_group]))


# -- keeping a stopped program off ------------------------------------------------------------

MANUAL_KEEP_OFF = (
    "supervisord will start the gateway again at its next `supervisorctl update`, restart or "
    "reboot: set autostart=false in the [program:{name}] section of its config file (or delete "
    "the section), then run `supervisorctl update`"
)


def keep_program_off(
    main: str | None,
    name: str,
    group: str,
    *,
    rewrite: Callable[[ProgramSection], tuple[bool, dict[str, Any] | None]],
    where_to_name_it: str,
) -> tuple[dict[str, Any], str | None]:
    """Make a stop survive ``supervisorctl update``, a supervisord restart and a reboot:
    ``autostart=false`` in every config file that defines the program, then read back the way
    supervisord merges them. ``rewrite(part)`` edits one file (backing it up first; see
    ``with_autostart_off``) and returns (changed, backup fact).

    Returns (facts, None) when the program stays off, else (facts, instructions for the
    operator). ``where_to_name_it`` says which setting names the config file when ``main`` is
    unknown."""
    manual = MANUAL_KEEP_OFF.format(name=name)
    facts: dict[str, Any] = {"program": name}
    if main is None:
        facts["problem"] = "supervisord's config file is unknown"
        return facts, (
            f"{manual}. clawback could not tell which file that is: name it as "
            f"supervisor_config = <supervisord.conf> in {where_to_name_it}"
        )
    facts["config"] = main
    try:
        sections = program_sections(main, candidates(name, group))
        if not sections:
            facts["problem"] = f"no [program:{name}] in {main} or its includes"
            return facts, f"{manual}. No file read from {main} defines it"
        edited, backups = [], []
        for part in sections:
            changed, backup = rewrite(part)
            if changed:
                edited.append(part.file)
            if backup is not None:
                backups.append(backup)
        section = sections[0].section
        facts.update(file=sections[-1].file, section=section, edited=edited, backups=backups)
        if autostarts(main, section):
            facts["problem"] = "autostart is still on when the files are read back"
            return facts, f"{manual}. After the edit it still reads autostart=true"
    except (SupervisorConfigError, ResponderError) as exc:
        facts["problem"] = str(exc)
        return facts, f"{manual}. {exc}"
    except OSError as exc:
        facts["problem"] = f"{exc.filename}: {exc.strerror}"
        return facts, f"{manual}. {exc.filename}: {exc.strerror}"
    facts["autostart"] = "false"
    return facts, None

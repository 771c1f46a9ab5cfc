"""Free-text scanners: logs, transcripts and shell histories (tokens and ``NAME=value``
lines, piece by piece against the time budget), the search of logs for values found
elsewhere, SQLite databases (read from a private copy) and the scripts of ``exec``
secrets providers."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles
from responders.interface import Location
from responders.kit import secret_patterns as sp
from responders.openclaw.agent_paths import expand_user
from responders.openclaw.hinters import auth_store_hinter
from responders.openclaw.layout import Json5Error as _ParseError
from responders.openclaw.layout import decode_json5 as _decode_json5
from responders.openclaw.scan_base import MAX_SCRIPT_BYTES, ScanBase, Sighting

MAX_TEXT_BYTES = 16 * 1024 * 1024
MAX_SQLITE_BYTES = 256 * 1024 * 1024
MAX_SQLITE_ROWS = 20_000
# Free text is scanned in pieces of about this size, so a time budget is checked often.
TEXT_CHUNK_CHARS = 256 * 1024
# Shorter known values could stand alone in a log by chance without being the secret.
MIN_KNOWN_VALUE_LENGTH = 8

# The name is possessive (*+): a shorter name is followed by a name character, never by "=",
# so giving characters back can't make a match, and not trying saves a quarter of the scan.
_ASSIGNMENT_RE = re.compile(
    r"(?<![A-Za-z0-9_])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*+)\s*=\s*[\"']?([^\s\"'\\;&|`]+)"
)

_TOKEN_CHARS = "A-Za-z0-9_+/-"  # as responders.openclaw replaces a value: standing alone


def _copy_regular(files: AgentFiles, source: Path, target: Path, limit: int) -> int | None:
    """Stream a regular file into a new private ``target``; its size, or None if not copied."""
    try:
        fd, info = files.open_regular(source)
    except OSError:
        return None
    try:
        if info.st_size > limit:
            return None
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        copied = 0
        with os.fdopen(out, "wb") as sink:
            while copied <= limit and (chunk := os.read(fd, 1 << 20)):
                sink.write(chunk)
                copied += len(chunk)
        return copied if copied <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


class _LineCounter:
    """The 1-based line of an offset in ``text``, for offsets asked in increasing order (an
    earlier one restarts the count)."""

    __slots__ = ("_line", "_offset", "_text")

    def __init__(self, text: str) -> None:
        self._text, self._offset, self._line = text, 0, 1

    def __call__(self, offset: int) -> int:
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


class TextScans(ScanBase):
    """Free text: what ``discover(free_text=False)`` defers, and scripts, which it does not."""

    def scan_log(self, path: Path) -> None:
        """A log or audit file: scanned as free text, and searched for known values later."""
        if path not in self.log_files:
            self.log_files.append(path)
        self.scan_text(path)

    def locate_known_values(self) -> None:
        """Every value found anywhere, looked for in every log and audit file, where it is
        then listed as one more place (``line N``). OpenClaw's ``logs/config-audit.jsonl``
        keeps the argv of each ``openclaw config set``, so a hex gateway or hooks token set
        that way sits there in clear with nothing around it that says "token"."""
        values = {s.value for s in self.sightings if len(s.value) >= MIN_KNOWN_VALUE_LENGTH}
        if not values or not self.log_files:
            return
        best: dict[str, Sighting] = {}
        for sighting in self.sightings:
            held = best.get(sighting.value)
            if held is None or sighting.recognition.confidence > held.recognition.confidence:
                best[sighting.value] = sighting
        known = {(s.value, s.location.path, s.location.key) for s in self.sightings}
        for path in self.log_files:
            if self.spent():
                self.out_of_time.append(path)
                continue
            text = self.read_text(path, MAX_TEXT_BYTES, tail=True)
            if not text:
                continue
            # A plain substring test first (fast); the regex only over the values present.
            present = sorted((v for v in values if v in text), key=len, reverse=True)
            if not present:
                continue
            alternatives = "|".join(re.escape(v) for v in present)
            # Standing alone, as the rotation replaces it: never a piece of a longer token.
            pattern = re.compile(rf"(?<![{_TOKEN_CHARS}])(?:{alternatives})(?![{_TOKEN_CHARS}])")
            line_of = _LineCounter(text)
            for match in pattern.finditer(text):
                value = match.group(0)
                line = line_of(match.start())
                location = Location(str(path), f"line {line}")
                if (value, location.path, location.key) in known:
                    continue
                known.add((value, location.path, location.key))
                origin = best[value]
                self.sightings.append(Sighting(value, location, origin.recognition,
                                                (str(path), str(line)), origin.account))

    def scan_text(self, path: Path) -> None:
        """Free text (logs, transcripts, shell history): distinctive tokens and KEY=value lines.

        Scanned piece by piece against the time budget; a piece left unscanned is noted.
        """
        if self.defers(path) or not self.first_visit(path, "text"):
            return
        text = self.read_text(path, MAX_TEXT_BYTES, tail=True)
        if not text:
            return
        # The holes of a sparse file read as NUL bytes: no secret there, and regexes crawl
        # over them. No NUL is a newline, so line numbers stay right.
        text = text.replace("\0", "")
        # Line numbers are counted between matches, which come in order, rather than from an
        # index of every line: a 16 MB log has hundreds of thousands of lines and few matches.
        token_line, assignment_line = _LineCounter(text), _LineCounter(text)
        for start, chunk in _pieces(text, TEXT_CHUNK_CHARS):
            if self.spent():
                self.out_of_time.append(path)
                self.notes.append(f"{path}: only the first {start} characters scanned before "
                                  "the time budget ran out")
                return
            for match in sp.find_in_text(chunk):
                line = token_line(start + match.start)
                self.consider(
                    match.value,
                    Location(str(path), f"line {line}"),
                    name="",
                    group=(str(path), str(line)),
                    hints=(match.recognition,),
                )
            for assignment in _ASSIGNMENT_RE.finditer(chunk):
                name, value = assignment.group(1), assignment.group(2)
                hint = sp.recognize_env_name(name.upper())
                if hint is None and not sp.looks_like_secret_name(name):
                    continue
                if not sp.plausible_secret_value(value) and sp.recognize_value(value) is None:
                    continue
                line = assignment_line(start + assignment.start(2))
                self.consider(
                    value,
                    Location(str(path), f"line {line}"),
                    name=name,
                    group=(str(path), str(line)),
                    hints=(hint,),
                    force=hint is not None,
                )

    def scan_sqlite(self, path: Path) -> None:
        if not self.first_visit(path, "sqlite"):
            return
        import sqlite3
        import tempfile

        with tempfile.TemporaryDirectory(prefix="clawback-discover-") as scratch:
            copy = Path(scratch) / "db.sqlite"
            for suffix in ("", "-wal", "-journal"):
                source = Path(f"{path}{suffix}")
                if suffix and not self.files.exists(source):
                    continue
                if _copy_regular(self.files, source, Path(f"{copy}{suffix}"),
                                 MAX_SQLITE_BYTES) is None:
                    if not suffix:
                        self.notes.append(
                            f"{source}: not a readable regular file under {MAX_SQLITE_BYTES} "
                            "bytes; not scanned"
                        )
                        return
                    self.notes.append(f"{source}: could not be copied; recent rows may be missed")
            try:
                conn = sqlite3.connect(copy)
            except sqlite3.Error:
                self.notes.append(f"{path}: not a readable SQLite database")
                return
            try:
                self.scan_sqlite_tables(path, conn)
            except sqlite3.Error:
                self.notes.append(f"{path}: not a readable SQLite database")
            finally:
                conn.close()

    def scan_sqlite_tables(self, path: Path, conn: Any) -> None:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not str(row[0]).startswith("sqlite_")
        ]
        for table in tables:
            quoted = '"' + str(table).replace('"', '""') + '"'
            if table == "auth_profile_store":
                for store_key, store_json in conn.execute(
                    f"SELECT store_key, store_json FROM {quoted} LIMIT {MAX_SQLITE_ROWS}"
                ):
                    try:
                        store = _decode_json5(str(store_json))
                    except _ParseError:
                        self.notes.append(f"{path}: auth_profile_store[{store_key}] is not JSON")
                        continue
                    self.scan_json_data(
                        path,
                        store,
                        auth_store_hinter(store),
                        key_prefix=f"auth_profile_store[{store_key}]",
                        group_prefix=(str(store_key),),
                    )
                continue
            if self.defers(path):
                break  # every cell of every other table is free text: later
            if self.spent():
                self.out_of_time.append(path)
                break
            cursor = conn.execute(f"SELECT * FROM {quoted} LIMIT {MAX_SQLITE_ROWS}")
            columns = [d[0] for d in cursor.description or ()]
            for index, row in enumerate(cursor):
                for column, cell in zip(columns, row, strict=False):
                    if not isinstance(cell, str):
                        continue
                    for match in sp.find_in_text(cell):
                        key = f"{table}[row {index}].{column}"
                        self.consider(
                            match.value,
                            Location(str(path), key),
                            name="",
                            group=(str(path), key),
                            hints=(match.recognition,),
                        )

    def scan_exec_scripts(self) -> None:
        """The program an ``exec`` secrets provider runs, and the script files among its
        arguments (``/bin/sh ~/.openclaw/bin/get-key.sh``), read as text: a key hard-coded
        there is as exposed as one in the config. Only inside the agent's tree; a program
        elsewhere (``/usr/local/bin/op``) is named in a note, not read."""
        for config, name, spec in self.exec_providers:
            command = spec.get("command")
            args = spec.get("args")
            candidates = [command] if isinstance(command, str) else []
            if isinstance(args, list):
                candidates += [a for a in args if isinstance(a, str)
                               and a.startswith(("/", "~/")) and "\n" not in a]
            scripts = [expand_user(c.strip(), self.user_home) for c in dict.fromkeys(candidates)]
            scripts = [p for p in scripts if p.is_absolute()]
            inside = [p for p in scripts if self.files.inside(p)]
            for script in inside:
                if self.is_file(script):
                    self.scan_script(script)
            if not inside and scripts:
                # An interpreter outside with its script inside (/bin/sh ~/get-key.sh) was read
                # where it matters; a program outside only is for a person to look at.
                self.notes.append(
                    f"{config}: secrets provider {name!r} runs {scripts[0]}, outside the "
                    "agent's tree: not read. Check it for hard-coded secrets by hand")

    def scan_script(self, path: Path) -> None:
        """A short script read as text (not deferred: it is no log): distinctive tokens
        anywhere, ``NAME=value`` assignments under secret names; in a binary, tokens only."""
        if not self.first_visit(path, "script"):
            return
        data = self.read_bytes(path, MAX_SCRIPT_BYTES)
        if not data:
            return
        binary = b"\0" in data
        text = data.replace(b"\0", b" ").decode("utf-8", errors="replace")
        line_of = _LineCounter(text)
        for match in sp.find_in_text(text):
            line = line_of(match.start)
            self.consider(match.value, Location(str(path), f"line {line}"), name="",
                          group=(str(path), str(line)), hints=(match.recognition,))
        if binary:
            return
        line_of = _LineCounter(text)
        for assignment in _ASSIGNMENT_RE.finditer(text):
            name, value = assignment.group(1), assignment.group(2)
            hint = sp.recognize_env_name(name.upper())
            if hint is None and not sp.looks_like_secret_name(name):
                continue
            line = line_of(assignment.start(2))
            self.consider(value, Location(str(path), f"line {line}"), name=name,
                          group=(str(path), str(line)), hints=(hint,))


def _pieces(text: str, size: int) -> Iterator[tuple[int, str]]:
    """``text`` in pieces of about ``size`` characters, cut after a newline where there is
    one (a token never spans lines); (offset, piece)."""
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut > start else end
        yield start, text[start:end]
        start = end

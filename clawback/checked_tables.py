"""Provider tables their responders already accepted, remembered by digest.

Checking a ``[providers.X]`` table means importing its responder module: a few milliseconds
each, dozens of milliseconds with every provider configured, all spent on the panic path before
the agent is stopped. A table that is the same as one its responder accepted before, checked by
the same code, needs no second look; this record keeps the digests of such (table, code) pairs
so that ``contain`` validates a config already seen by a preflight, a drill or an earlier run
without loading a single provider module.

What a digest covers: the responder's entry-point name, its table (every key and value), the
code that checked it (name, size, mtime and inode of every ``.py`` file of the package the
responder lives in, so any edit or upgrade changes it) and the pydantic version. Only
acceptance is remembered: a refused table is checked again each time, so its message is always
the current one. The record is clawback's own file (0600 in its 0700 state directory); anything
unexpected about it (missing, damaged, too big, not owned by this user or root, writable by
others) means every table is checked again, never that anything is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from clawback.errors import BadInput

RECORD_NAME = "checked-provider-tables"
# A digest line is 65 bytes: the record stays small whatever happens to the configs.
MAX_DIGESTS = 512


def record_path() -> Path:
    """Beside the incidents, in clawback's state directory (``$XDG_STATE_HOME/clawback``)."""
    from clawback.incident import state_dir

    return state_dir() / RECORD_NAME


def code_signature(module: str) -> str | None:
    """What identifies the code of ``module``'s top-level package without reading it: each
    ``.py`` file's relative path, size, mtime and inode. None when it cannot be located."""
    top = module.split(".", 1)[0]
    try:
        spec = find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    files: list[tuple[str, int, int, int]] = []
    try:
        if not roots:
            info = os.stat(spec.origin)
            files.append((os.path.basename(spec.origin), info.st_size, info.st_mtime_ns,
                          info.st_ino))
        for root in roots:
            files.extend(_python_files(root, ""))
    except OSError:
        return None
    return hashlib.sha256(json.dumps(sorted(files)).encode()).hexdigest()


def _python_files(directory: str, prefix: str) -> Iterable[tuple[str, int, int, int]]:
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                yield from _python_files(entry.path, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".py") and entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                yield f"{prefix}{entry.name}", info.st_size, info.st_mtime_ns, info.st_ino


class CheckedTables:
    """The record, read once; ``add`` what was accepted, ``save`` when something was."""

    def __init__(self, path: Path, digests: list[str]) -> None:
        self.path = path
        self._digests = digests
        self._known = set(digests)
        self._signatures: dict[str, str | None] = {}
        self.changed = False

    @classmethod
    def load(cls, path: Path | None = None) -> CheckedTables:
        from clawback.trusted_files import read_trusted_file

        path = path or record_path()
        try:
            text = read_trusted_file(path, what="record of checked provider tables",
                                     limit=MAX_DIGESTS * 65).decode("ascii")
        except (BadInput, UnicodeDecodeError):
            return cls(path, [])
        digests = [line for line in text.splitlines()
                   if len(line) == 64 and all(c in "0123456789abcdef" for c in line)]
        return cls(path, digests)

    def digest(self, name: str, module: str | None, table: Mapping[str, Any]) -> str | None:
        """The digest of ``table`` as checked by responder ``name`` from ``module``; None when
        the code cannot be identified (a responder given in-process: always checked)."""
        if module is None:
            return None
        top = module.split(".", 1)[0]
        if top not in self._signatures:
            self._signatures[top] = code_signature(module)
        signature = self._signatures[top]
        if signature is None:
            return None
        from pydantic import VERSION

        document = {"responder": name, "module": module, "code": signature,
                    "pydantic": VERSION, "table": table}
        encoded = json.dumps(document, sort_keys=True, default=repr, ensure_ascii=True)
        return hashlib.sha256(encoded.encode()).hexdigest()

    def __contains__(self, digest: object) -> bool:
        return digest in self._known

    def add(self, digest: str) -> None:
        if digest not in self._known:
            self._known.add(digest)
            self._digests.append(digest)
            self.changed = True

    def save(self) -> None:
        """Write the record if it changed; a failure to write only costs the next run time."""
        if not self.changed:
            return
        from responders.kit.private_files import make_private_dir, write_private

        kept = self._digests[-MAX_DIGESTS:]
        try:
            make_private_dir(self.path.parent)
            write_private(self.path, "".join(f"{d}\n" for d in kept), fsync=False)
        except OSError:
            return
        self.changed = False

"""The engine's error types. Each maps to one exit code of the command-line contract."""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_TAMPERED = 1
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_REFUSED = 4


class ClawbackError(Exception):
    """Base for errors the operator can act on; the message reads as advice."""

    exit_code = EXIT_INTERNAL


class BadInput(ClawbackError):
    """Malformed playbook or config, unknown provider, missing credential: nothing was done."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column
        super().__init__(str(self))

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class Refused(ClawbackError):
    """The run was refused (lock held, approval denied)."""

    exit_code = EXIT_REFUSED

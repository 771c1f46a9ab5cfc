"""A verdict of ``clawback verify``: one finding, naming the entry or file it is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["ok", "warning", "failure"]


@dataclass(frozen=True)
class Verdict:
    code: str  # e.g. ENTRY_MODIFIED, SEQ_GAP, UNANCHORED, EVIDENCE_MISMATCH
    severity: Severity
    message: str
    seq: int | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }
        if self.seq is not None:
            out["seq"] = self.seq
        if self.path is not None:
            out["path"] = self.path
        return out

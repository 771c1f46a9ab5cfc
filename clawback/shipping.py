"""The record of checkpoints shipped off this host: ``<incident>/shipped.jsonl``.

A checkpoint only anchors a timeline when a copy lives where the attacker can't reach it. The
notifier sends each checkpoint to the operator's ``[notify]`` destinations as it is made and
appends here, per checkpoint, what happened: delivered or not, to which destinations (scheme
and host only: a notification URL carries its own secret), the checkpoint's tree size and the
SHA-256 of its text. ``status`` and ``verify`` read it to say "shipped"; it is not itself an
anchor (whoever holds this host can edit it), the copy at the destination is: pass that to
``verify --checkpoint``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SHIPPED_FILE = "shipped.jsonl"
# The file is clawback's own, beside the timeline; a line longer than this is not one of ours.
_MAX_LINE = 16 * 1024
_write_lock = threading.Lock()


@dataclass(frozen=True)
class Shipment:
    at: datetime | None
    tree_size: int
    checkpoint_sha256: str
    destinations: tuple[str, ...]
    delivered: bool
    final: bool
    error: str = ""


def checkpoint_size(text: str) -> int:
    """The tree size a checkpoint's second line states (0 when it is not a checkpoint)."""
    lines = text.splitlines()
    try:
        return int(lines[1]) if len(lines) > 1 else 0
    except ValueError:
        return 0


def normalized_sha256(checkpoint: str) -> str:
    """The SHA-256 a shipment records for a checkpoint's text, line ends normalized."""
    return hashlib.sha256((checkpoint.strip() + "\n").encode()).hexdigest()


def record_shipment(incident_dir: Path, checkpoint: str, *, destinations: tuple[str, ...],
                    delivered: bool, final: bool, error: str = "") -> None:
    from responders.kit.private_files import open_private

    line = json.dumps({
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "tree_size": checkpoint_size(checkpoint),
        "checkpoint_sha256": normalized_sha256(checkpoint),
        "destinations": list(destinations),
        "delivered": delivered,
        "final": final,
        "error": error[:500],
    }, sort_keys=True)
    with _write_lock, open_private(Path(incident_dir) / SHIPPED_FILE, "a") as fh:
        fh.write(line + "\n")


def read_shipments(incident_dir: Path) -> list[Shipment]:
    """Every record, oldest first; a line that is not one is skipped."""
    path = Path(incident_dir) / SHIPPED_FILE
    try:
        with path.open("rb") as fh:
            raw_lines = fh.read(4 * 1024 * 1024).splitlines()
    except OSError:
        return []
    out = []
    for raw in raw_lines:
        if len(raw) > _MAX_LINE:
            continue
        try:
            item: dict[str, Any] = json.loads(raw)
            out.append(Shipment(
                at=_ts(item.get("ts")), tree_size=int(item["tree_size"]),
                checkpoint_sha256=str(item["checkpoint_sha256"]),
                destinations=tuple(str(d) for d in item.get("destinations") or ()),
                delivered=item.get("delivered") is True, final=item.get("final") is True,
                error=str(item.get("error") or ""),
            ))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def latest_shipment(incident_dir: Path) -> Shipment | None:
    """The delivered shipment of the largest checkpoint (the latest state of the log)."""
    delivered = [s for s in read_shipments(incident_dir) if s.delivered]
    return max(delivered, key=lambda s: (s.tree_size, s.final)) if delivered else None


def _ts(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None

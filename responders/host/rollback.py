"""The detached auto-rollback timer of a network cut: ``python -m responders.host.rollback DIR``.

Started by ``host.cut_network`` in its own session so it outlives clawback and the SSH session.
At the deadline it deletes exactly the table the cut added, unless ``clawback restore-network
--confirm`` disarmed it first. It prints one JSON line per outcome into the incident's
``network-rollback.log``; it cannot write the signed timeline (only the engine does), so the next
``restore-network`` or ``report`` reads ``restored_by: auto-rollback`` from the state file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from responders.host.network import run_rollback_timer


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m responders.host.rollback INCIDENT_DIR", file=sys.stderr)
        return 2
    outcome = run_rollback_timer(Path(args[0]))
    record = {
        "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        "outcome": outcome.name,
        **asdict(outcome),
    }
    print(json.dumps(record, default=str), flush=True)
    return 0 if outcome.succeeded or outcome.status == "skipped" else 1


if __name__ == "__main__":
    sys.exit(main())

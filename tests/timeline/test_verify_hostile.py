"""verify against files someone planted in the incident: it never blocks, never reads evidence
through a link, and says how much of the log a stale checkpoint leaves unanchored."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from timeline_builders import Incident

from clawback.errors import BadInput
from clawback.timeline import CHECKPOINT_FILE
from clawback.verify import VerifyReport, verify_incident

BOUND_S = 60.0


def bounded_verify(directory: Path, **kwargs: Any) -> VerifyReport:
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(verify_incident(directory, **kwargs))
        except BaseException as exc:  # reported to the test
            box.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert box, "verify blocked"
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]  # type: ignore[no-any-return]


def test_a_fifo_checkpoint_in_the_incident_does_not_block(incident: Incident) -> None:
    path = incident.directory / CHECKPOINT_FILE
    path.unlink()
    os.mkfifo(path)
    report = bounded_verify(incident.directory)
    assert "CHECKPOINT_MALFORMED" in report.codes()


def test_a_fifo_given_as_the_checkpoint_is_bad_input_not_a_hang(
    incident: Incident, tmp_path: Path
) -> None:
    fifo = tmp_path / "kept-off-host.txt"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="not a regular file"):
        bounded_verify(incident.directory, checkpoint=fifo)


def test_a_stale_checkpoint_says_how_much_is_not_anchored(
    incident: Incident, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_text(incident.mid_checkpoint)
    report = bounded_verify(incident.directory, checkpoint=kept)
    assert report.intact
    (warning,) = [v for v in report.verdicts if v.code == "PARTLY_ANCHORED"]
    anchored = int(incident.mid_checkpoint.splitlines()[1])
    after = report.entry_count - anchored
    assert warning.severity == "warning"
    assert f"{after} entries after it" in warning.message
    kept.write_text(incident.final_checkpoint)
    report = bounded_verify(incident.directory, checkpoint=kept)
    assert "PARTLY_ANCHORED" not in report.codes() and "INTACT" in report.codes()

"""verify against a tampered timeline: every edit an attacker can make is its own verdict."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timeline_builders import (
    INCIDENT_ID,
    Incident,
    copy_log_only,
    fields_of,
    forge_line,
    rewrite_lines,
    write_run,
)

from clawback.errors import BadInput
from clawback.signing import Signer
from clawback.timeline import Timeline
from clawback.verdict import Verdict
from clawback.verify import VerifyReport, verify_incident

FIXTURE_SAFE = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def failures(report: VerifyReport) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for v in report.verdicts:
        if v.severity == "failure":
            found.setdefault(v.code, []).append(v.seq)
    return found


def verify_mutated(incident: Incident, lines: list[bytes], **kwargs: Path) -> VerifyReport:
    with tempfile.TemporaryDirectory() as tmp:
        directory = copy_log_only(incident, Path(tmp) / "copy")
        (directory / "timeline.jsonl").write_bytes(b"".join(lines))
        return verify_incident(directory, **kwargs)


# -- a clean run ---------------------------------------------------------------------------


def test_clean_run_is_unanchored_without_a_checkpoint(incident: Incident) -> None:
    report = verify_incident(incident.directory)
    assert report.codes() == ["UNANCHORED"]
    assert report.verdicts[0].severity == "warning"
    assert report.exit_code == 0 and report.intact and not report.anchored


@pytest.mark.parametrize("which", ["mid", "final"])
def test_clean_run_is_intact_with_a_checkpoint(
    incident: Incident, tmp_path: Path, which: str
) -> None:
    anchor = tmp_path / "pasted-checkpoint.txt"
    anchor.write_text(incident.mid_checkpoint if which == "mid" else incident.final_checkpoint)
    report = verify_incident(incident.directory, checkpoint=anchor, pubkey=None)
    # An older checkpoint anchors only its part of the log, and says so.
    assert report.codes() == (["PARTLY_ANCHORED", "INTACT"] if which == "mid" else ["INTACT"])
    assert report.anchored and report.exit_code == 0
    assert report.checkpoint_sizes == [3 if which == "mid" else len(incident.lines())]
    assert report.entry_count == len(incident.lines())
    assert report.key_fingerprint == incident.signer.fingerprint


def test_pinned_key_is_accepted_when_it_is_the_signer(incident: Incident) -> None:
    report = verify_incident(
        incident.directory,
        checkpoint=incident.directory / "checkpoint.txt",
        pubkey=incident.directory / "signing-key.pub",
    )
    assert report.codes() == ["INTACT"]


# -- single edits, found without any checkpoint -----------------------------------------------


@settings(FIXTURE_SAFE, max_examples=300)
@given(data=st.data())
def test_any_single_byte_flip_is_detected(incident: Incident, data: st.DataObject) -> None:
    raw = bytearray(incident.timeline.read_bytes())
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    raw[position] ^= data.draw(st.integers(1, 255), label="xor")
    report = verify_mutated(incident, [bytes(raw)])
    assert report.exit_code == 1, report.verdicts


@FIXTURE_SAFE
@given(data=st.data())
def test_any_line_deletion_is_detected(incident: Incident, data: st.DataObject) -> None:
    lines = incident.lines()
    index = data.draw(st.integers(0, len(lines) - 1), label="deleted line")
    report = verify_mutated(incident, lines[:index] + lines[index + 1 :])
    assert report.exit_code == 1
    found = failures(report)
    if index == len(lines) - 1:
        assert "NOT_CLOSED" in found
    else:
        assert found["SEQ_GAP"] == [index]


@FIXTURE_SAFE
@given(data=st.data())
def test_any_line_duplication_is_detected(incident: Incident, data: st.DataObject) -> None:
    lines = incident.lines()
    source = data.draw(st.integers(0, len(lines) - 1), label="copied line")
    at = data.draw(st.integers(0, len(lines)), label="inserted at")
    mutated = [*lines[:at], lines[source], *lines[at:]]
    report = verify_mutated(incident, mutated)
    assert report.exit_code == 1
    found = failures(report)
    assert found["DUPLICATE_ENTRY"] == [source], found


@FIXTURE_SAFE
@given(data=st.data())
def test_any_swap_of_two_lines_is_detected(incident: Incident, data: st.DataObject) -> None:
    lines = incident.lines()
    i, j = sorted(
        data.draw(st.lists(st.integers(0, len(lines) - 1), min_size=2, max_size=2, unique=True))
    )
    mutated = list(lines)
    mutated[i], mutated[j] = mutated[j], mutated[i]
    report = verify_mutated(incident, mutated)
    assert report.exit_code == 1
    assert "SEQ_REORDER" in failures(report)


def test_each_edit_gets_its_own_verdict(incident: Incident) -> None:
    lines = incident.lines()

    edited = lines[5].replace(b'"outcome":"Revoked"', b'"outcome":"Failed"')
    assert edited != lines[5]
    assert failures(verify_mutated(incident, [*lines[:5], edited, *lines[6:]])) == {
        "ENTRY_MODIFIED": [5]
    }

    # The attacker also fixes up the hash, but can't sign it: the next entry's prev breaks too.
    fields = fields_of(edited)
    body = {k: v for k, v in fields.items() if k not in ("hash", "sig")}
    from rfc8785 import dumps

    fields["hash"] = hashlib.sha256(dumps(body)).hexdigest()
    rehashed = dumps(fields) + b"\n"
    assert failures(verify_mutated(incident, [*lines[:5], rehashed, *lines[6:]])) == {
        "BAD_SIGNATURE": [5],
        "CHAIN_BROKEN": [6],
    }

    spaced = lines[2].replace(b'{"action"', b'{ "action"', 1)
    assert failures(verify_mutated(incident, [*lines[:2], spaced, *lines[3:]])) == {
        "NON_CANONICAL_JSON": [2],
        "SEQ_GAP": [2],
    }

    doubled = lines[2].replace(b'{"action":', b'{"action":"x","action":', 1)
    assert "DUPLICATE_KEY_JSON" in failures(
        verify_mutated(incident, [*lines[:2], doubled, *lines[3:]])
    )

    floated = lines[2].replace(b'"duration_ms":412', b'"duration_ms":412.0', 1)
    assert "MALFORMED_ENTRY" in failures(
        verify_mutated(incident, [*lines[:2], floated, *lines[3:]])
    )


def test_inserted_entry_signed_with_the_real_key_breaks_the_chain(incident: Incident) -> None:
    lines = incident.lines()
    # An attacker holding the key slips in an entry with the next entry's seq and a correct
    # prev; the original entry at that seq now has two claimants.
    fields = fields_of(lines[5])
    fields.update(detail="nothing to see here", outcome="Skipped")
    forged = forge_line(fields, incident.signer)
    found = failures(verify_mutated(incident, [*lines[:5], forged, *lines[5:]]))
    assert found["DUPLICATE_ENTRY"] == [5]


def test_results_must_point_to_a_matching_intent(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "i"
    timeline = Timeline.create(directory, INCIDENT_ID, signer, header={})
    timeline.append(step="stop", action="host.stop_service", phase="intent", target={"s": "a"})
    timeline.append(
        step="stop", action="host.stop_service", phase="result", target={"s": "b"}, intent_seq=1
    )
    timeline.close(manifest_sha256=None)
    report = verify_incident(directory)
    assert failures(report) == {"RESULT_MISMATCH": [2]}
    assert [v.seq for v in report.verdicts if v.code == "CRASHED_ACTION"] == [1]


def test_entries_after_close_and_a_wrong_count(incident: Incident) -> None:
    lines = incident.lines()
    close = fields_of(lines[-1])
    note = fields_of(lines[-1])
    note.update(seq=close["seq"] + 1, prev=close["hash"], action="note", detail="added later")
    appended = forge_line(note, incident.signer)
    found = failures(verify_mutated(incident, [*lines, appended]))
    assert found["CLOSE_COUNT_MISMATCH"] == [close["seq"]]
    assert found["NOT_CLOSED"] == [close["seq"] + 1]

    close["extra"] = {**close["extra"], "entry_count": 99}
    miscounted = forge_line(close, incident.signer)
    found = failures(verify_mutated(incident, [*lines[:-1], miscounted]))
    assert found == {"CLOSE_COUNT_MISMATCH": [close["seq"]]}


def test_empty_timeline(incident: Incident) -> None:
    assert "EMPTY_TIMELINE" in failures(verify_mutated(incident, []))


# -- what only a checkpoint can catch ----------------------------------------------------------


def test_truncation_is_caught_by_an_earlier_checkpoint(incident: Incident, tmp_path: Path) -> None:
    anchor = tmp_path / "kept-elsewhere.txt"
    anchor.write_text(incident.final_checkpoint)
    lines = incident.lines()
    report = verify_mutated(incident, lines[:-2], checkpoint=anchor)
    assert failures(report)["TRUNCATED"] == [len(lines) - 2]


def test_truncation_sealed_with_the_real_key_is_caught_only_by_the_checkpoint(
    incident: Incident, tmp_path: Path
) -> None:
    # The attacker has the host (and so the keyring): cut the log back to before the key
    # revocations, resume, close it cleanly, and delete the local checkpoints.
    anchor = tmp_path / "kept-elsewhere.txt"
    anchor.write_text(incident.final_checkpoint)
    rewrite_lines(incident.timeline, lambda lines: lines[:2])
    for name in ("checkpoint.txt", "checkpoints.txt"):
        (incident.directory / name).unlink()
    Timeline.resume(incident.directory, incident.signer).close(manifest_sha256=None)

    assert verify_incident(incident.directory).codes() == ["CRASHED_ACTION", "UNANCHORED"]
    report = verify_incident(incident.directory, checkpoint=anchor)
    assert "TRUNCATED" in failures(report)
    assert report.exit_code == 1


def test_rewrite_with_the_real_key_is_caught_by_the_checkpoint(
    incident: Incident, tmp_path: Path
) -> None:
    anchor = tmp_path / "kept-elsewhere.txt"
    anchor.write_text(incident.mid_checkpoint)
    shutil.rmtree(incident.directory)
    write_run(incident.directory, incident.signer)  # same key, same steps, new timestamps

    assert verify_incident(incident.directory).exit_code == 0  # internally consistent
    report = verify_incident(incident.directory, checkpoint=anchor)
    assert failures(report) == {"REWRITTEN": [None]}


def test_resigned_with_another_key_is_wrong_key(incident: Incident, tmp_path: Path) -> None:
    pinned = tmp_path / "pinned.pub"
    pinned.write_text(incident.signer.public_key_pem())
    anchor = tmp_path / "kept-elsewhere.txt"
    anchor.write_text(incident.mid_checkpoint)
    shutil.rmtree(incident.directory)
    attacker = Signer.generate(incident.signer.key_name)  # same name, its own key
    write_run(incident.directory, attacker)

    # Alone, a consistently re-signed log looks fine: that is what UNANCHORED warns about.
    assert verify_incident(incident.directory).codes() == ["UNANCHORED"]

    by_pin = verify_incident(incident.directory, pubkey=pinned)
    # One verdict for the run of entries, one per checkpoint the attacker left beside the log.
    assert failures(by_pin) == {"WRONG_KEY": [0, None, None]}
    assert f"entries 0–{len(incident.lines()) - 1} signed by key" in by_pin.verdicts[0].message

    by_checkpoint = verify_incident(incident.directory, checkpoint=anchor)
    assert failures(by_checkpoint) == {"WRONG_KEY": [None]}


def test_checkpoint_verdicts(incident: Incident, tmp_path: Path, signer: Signer) -> None:
    other = write_run(tmp_path / "other-incident", signer, incident_id="2026-11-22T0000Z-0000")
    foreign = tmp_path / "foreign.txt"
    foreign.write_text(other.final_checkpoint)
    assert failures(verify_incident(incident.directory, checkpoint=foreign)) == {
        "CHECKPOINT_OTHER_LOG": [None]
    }

    # Claim one entry more than was signed: the signature no longer covers the body.
    body, _, sig = incident.mid_checkpoint.partition("\n\n")
    origin, size, root = body.split("\n")
    tampered = tmp_path / "tampered.txt"
    tampered.write_text(f"{origin}\n{int(size) + 1}\n{root}\n\n{sig}")
    assert failures(verify_incident(incident.directory, checkpoint=tampered)) == {
        "CHECKPOINT_BAD_SIGNATURE": [None]
    }


def test_local_checkpoints_are_checked_but_do_not_anchor(incident: Incident) -> None:
    lines = incident.lines()
    rewrite_lines(incident.timeline, lambda ls: ls[:-1])
    found = failures(verify_incident(incident.directory))
    assert found["TRUNCATED"] == [len(lines) - 1]  # against checkpoint.txt beside the log

    (incident.directory / "checkpoints.txt").write_text("garbage\n")
    assert "CHECKPOINT_MALFORMED" in failures(verify_incident(incident.directory))


# -- crash and resume -------------------------------------------------------------------------


def test_crash_then_resume_is_a_warning_not_tampering(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / INCIDENT_ID
    timeline = Timeline.create(directory, INCIDENT_ID, signer, header={})
    target = {"service": "openclaw-gateway"}
    timeline.append(step="stop", action="host.stop_service", phase="intent", target=target)
    early = timeline.checkpoint()
    timeline.release()  # killed mid-action

    interrupted = verify_incident(directory)
    assert failures(interrupted) == {"NOT_CLOSED": [1]}
    assert f"--resume {INCIDENT_ID}" in next(
        v.message for v in interrupted.verdicts if v.code == "NOT_CLOSED"
    )

    resumed = Timeline.resume(directory, signer)
    resumed.append(step="stop", action="host.stop_service", phase="intent", target=target)
    resumed.append(
        step="stop", action="host.stop_service", phase="result", target=target, outcome="Done"
    )
    resumed.close(manifest_sha256=None)

    anchor = tmp_path / "early.txt"
    anchor.write_text(early)
    report = verify_incident(directory, checkpoint=anchor)
    assert [(v.code, v.severity, v.seq) for v in report.verdicts] == [
        ("CRASHED_ACTION", "warning", 1),
        ("PARTLY_ANCHORED", "warning", None),  # the early checkpoint predates the resume
        ("INTACT", "ok", None),
    ]
    assert report.exit_code == 0


# -- inputs and the evidence hook -------------------------------------------------------------


def test_bad_inputs_raise_bad_input(incident: Incident, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such incident"):
        verify_incident(tmp_path / "missing")
    with pytest.raises(BadInput, match=r"no timeline\.jsonl"):
        verify_incident(tmp_path)
    with pytest.raises(BadInput, match="cannot read the checkpoint"):
        verify_incident(incident.directory, checkpoint=tmp_path / "absent.txt")
    junk = tmp_path / "junk.txt"
    junk.write_text("this is not a checkpoint\n")
    with pytest.raises(BadInput, match="not a checkpoint") as caught:
        verify_incident(incident.directory, checkpoint=junk)
    assert caught.value.exit_code == 2
    with pytest.raises(BadInput, match="public key"):
        verify_incident(incident.directory, pubkey=junk)


def test_evidence_checker_gets_the_manifest_hash_from_close(incident: Incident) -> None:
    calls: list[tuple[Path, str | None]] = []

    def check_evidence(directory: Path, manifest_sha256: str | None) -> list[Verdict]:
        calls.append((directory, manifest_sha256))
        return [Verdict("EVIDENCE_MISMATCH", "failure", "evidence/x changed", path="evidence/x")]

    report = verify_incident(incident.directory, evidence_checker=check_evidence)
    assert calls == [(incident.directory, incident.manifest_sha256)]
    assert "EVIDENCE_MISMATCH" in report.codes()
    assert report.exit_code == 1


def test_report_serializes(incident: Incident) -> None:
    data = verify_incident(incident.directory).as_dict()
    assert data["exit_code"] == 0
    assert data["incident_id"] == INCIDENT_ID
    assert data["verdicts"][0]["code"] == "UNANCHORED"


def test_forged_signature_deep_in_a_long_log_is_found(tmp_path: Path, signer: Signer) -> None:
    # Long enough that signatures are checked on the worker pool while parsing goes on.
    directory = tmp_path / "long"
    timeline = Timeline.create(directory, INCIDENT_ID, signer, header={}, durable=False)
    for i in range(700):
        timeline.append(step="s", action="a", phase="event", extra={"i": i})
    timeline.close(manifest_sha256=None)
    stranger = Signer.generate(signer.key_name)
    rewrite_lines(
        directory / "timeline.jsonl",
        lambda ls: [*ls[:450], forge_line(fields_of(ls[450]), stranger), *ls[451:]],
    )
    report = verify_incident(directory, checkpoint=directory / "checkpoint.txt")
    assert failures(report) == {"BAD_SIGNATURE": [450]}

"""The manifest, its custody events, and check_evidence against every kind of tampering."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from evidence_fakehost import INCIDENT_ID, FakeHost, sha256_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawback.evidence import (
    Manifest,
    check_evidence,
    load_manifest,
    manifest_path,
    write_manifest,
)
from clawback.verdict import Verdict
from responders.interface import Collected


def codes(verdicts: list[Verdict]) -> list[str]:
    return sorted(v.code for v in verdicts)


def rewrite_archive(
    archive: Path, change: Callable[[list[tuple[tarfile.TarInfo, bytes]]], None]
) -> None:
    """Rebuild ``archive`` as a valid tar.gz after ``change`` edits its (info, content) list."""
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for info in tar.getmembers():
            f = tar.extractfile(info)
            members.append((info, f.read() if f else b""))
    change(members)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(buf.getvalue())


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_intact_incident_checks_ok_and_manifest_is_canonical(fake_host: FakeHost) -> None:
    manifest, sha = fake_host.sealed_incident()
    verdicts = check_evidence(fake_host.incident_dir, sha)
    assert codes(verdicts) == ["EVIDENCE_OK"]
    assert str(len(manifest.items)) in verdicts[0].message

    raw = manifest_path(fake_host.incident_dir).read_bytes()
    assert sha256_of(manifest_path(fake_host.incident_dir)) == sha
    assert rfc8785.dumps(json.loads(raw)) == raw
    doc = json.loads(raw)
    assert doc["incident_id"] == INCIDENT_ID
    assert doc["host"]["hostname"] and doc["examiner"].count("@") == 1
    assert doc["tool"]["name"] == "clawback"
    assert doc["acquisition_started"] <= doc["acquisition_finished"]
    assert [a["label"] for a in doc["archives"]] == ["volatile", "full"]
    for archive in doc["archives"]:
        path = fake_host.incident_dir / "evidence" / archive["file"]
        assert archive["sha256"] == sha256_of(path) and archive["size"] == path.stat().st_size
    item = next(i for i in doc["items"] if i["source"] == str(fake_host.state / "openclaw.json"))
    for key in ("evidence_id", "kind", "source", "stored_path", "collected_at", "size", "sha256",
                "mode", "uid", "gid", "mtime", "ctime", "truncated", "original_size", "argv",
                "exit_code"):
        assert key in item, key
    assert item["collected_at"].endswith("Z")
    actions = [(e["action"], e["hash_verified"]) for e in doc["custody"]]
    assert actions == [("collected", False), ("collected", False), ("sealed", True)]
    assert doc["custody"][0]["evidence_ids"][0] == doc["archives"][0]["file"]
    assert load_manifest(fake_host.incident_dir).as_dict() == manifest.as_dict()


def test_a_changed_byte_in_any_member_is_named(fake_host: FakeHost) -> None:
    manifest, sha = fake_host.sealed_incident()
    archive = fake_host.incident_dir / "evidence" / f"{INCIDENT_ID}-full.tar.gz"
    original = archive.read_bytes()
    full_items = [i for i in manifest.items if i.archive == archive.name and i.size > 0]
    assert len(full_items) > 20
    for item in full_items:

        def tamper(members: list[tuple[tarfile.TarInfo, bytes]], name: str = item.stored_path,
                   at: int = item.size // 2) -> None:
            for n, (info, data) in enumerate(members):
                if info.name == name:
                    members[n] = (info, flip(data, at))

        rewrite_archive(archive, tamper)
        verdicts = check_evidence(fake_host.incident_dir, sha)
        mismatched = [v for v in verdicts if v.code == "EVIDENCE_MISMATCH"]
        assert [v.path for v in mismatched] == [item.stored_path]
        assert item.evidence_id in mismatched[0].message
        assert "ARCHIVE_MISMATCH" in codes(verdicts) and "EVIDENCE_OK" not in codes(verdicts)
        for v in verdicts:
            for secret in fake_host.secrets.values():
                assert secret not in v.message
        archive.write_bytes(original)
    assert codes(check_evidence(fake_host.incident_dir, sha)) == ["EVIDENCE_OK"]


@pytest.mark.parametrize("where", [0, 5, 0.5, -5, -1])
def test_a_changed_byte_in_the_archive_itself_is_detected(
    fake_host: FakeHost, where: float
) -> None:
    _, sha = fake_host.sealed_incident()
    archive = fake_host.incident_dir / "evidence" / f"{INCIDENT_ID}-volatile.tar.gz"
    data = archive.read_bytes()
    at = int(len(data) * where) if isinstance(where, float) else where % len(data)
    archive.write_bytes(flip(data, at))
    verdicts = check_evidence(fake_host.incident_dir, sha)
    assert "ARCHIVE_MISMATCH" in codes(verdicts)
    assert "EVIDENCE_OK" not in codes(verdicts)
    assert all(v.severity == "failure" for v in verdicts)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_corruption_of_the_archive_is_a_verdict_not_a_crash(
    fake_host: FakeHost, position: int, mask: int
) -> None:
    """Wherever the change lands (gzip header, deflate blocks, trailer), verify reports it:
    a broken deflate stream makes ISA-L raise its own error type, which must not escape."""
    if not (fake_host.incident_dir / "evidence" / "manifest.json").exists():
        fake_host.sealed_incident()
    sha = sha256_of(manifest_path(fake_host.incident_dir))
    archive = fake_host.incident_dir / "evidence" / f"{INCIDENT_ID}-volatile.tar.gz"
    original = archive.read_bytes()
    at = position % len(original)
    try:
        archive.write_bytes(original[:at] + bytes([original[at] ^ mask]) + original[at + 1:])
        verdicts = check_evidence(fake_host.incident_dir, sha)
    finally:
        archive.write_bytes(original)
    assert "ARCHIVE_MISMATCH" in codes(verdicts)
    assert "EVIDENCE_OK" not in codes(verdicts)


def test_members_removed_added_or_duplicated_are_reported(fake_host: FakeHost) -> None:
    manifest, sha = fake_host.sealed_incident()
    archive = fake_host.incident_dir / "evidence" / f"{INCIDENT_ID}-full.tar.gz"
    original = archive.read_bytes()
    victim = next(i for i in manifest.items if i.archive == archive.name and i.kind == "file")

    rewrite_archive(archive, lambda ms: ms.remove(next(m for m in ms if m[0].name
                                                        == victim.stored_path)))
    missing = [v for v in check_evidence(fake_host.incident_dir, sha)
               if v.code == "EVIDENCE_MISSING"]
    assert [v.path for v in missing] == [victim.stored_path]

    archive.write_bytes(original)
    planted = tarfile.TarInfo(f"{INCIDENT_ID}-full/files/etc/planted")
    rewrite_archive(archive, lambda ms: ms.append((planted, b"planted later")))
    extra = [v for v in check_evidence(fake_host.incident_dir, sha) if v.code == "EVIDENCE_EXTRA"]
    assert [v.path for v in extra] == [planted.name]
    assert "not in the manifest" in extra[0].message

    archive.write_bytes(original)
    rewrite_archive(
        archive,
        lambda ms: ms.append((next(m for m in ms if m[0].name == victim.stored_path)[0],
                              b"second copy wins on extraction")),
    )
    extra = [v for v in check_evidence(fake_host.incident_dir, sha) if v.code == "EVIDENCE_EXTRA"]
    assert [v.path for v in extra] == [victim.stored_path]
    assert "appears twice" in extra[0].message


def test_manifest_edits_are_detected(fake_host: FakeHost) -> None:
    _, sha = fake_host.sealed_incident()
    path = manifest_path(fake_host.incident_dir)
    original = path.read_bytes()
    doc = json.loads(original)

    # An item's hash changed to hide a substituted file.
    doc["items"][3]["sha256"] = "0" * 64
    path.write_bytes(rfc8785.dumps(doc))
    with_anchor = check_evidence(fake_host.incident_dir, sha)
    assert {"MANIFEST_MISMATCH", "EVIDENCE_MISMATCH"} <= set(codes(with_anchor))
    mismatch = next(v for v in with_anchor if v.code == "EVIDENCE_MISMATCH")
    assert mismatch.path == doc["items"][3]["stored_path"]
    # Even with no timeline anchor the archive contradicts the edited manifest.
    assert "EVIDENCE_MISMATCH" in codes(check_evidence(fake_host.incident_dir, None))

    # A harmless-looking edit still breaks the hash the close entry recorded.
    doc = json.loads(original)
    doc["examiner"] = "someone-else@elsewhere"
    path.write_bytes(rfc8785.dumps(doc))
    assert codes(check_evidence(fake_host.incident_dir, sha)) == ["MANIFEST_MISMATCH"]

    doc = json.loads(original)
    doc["archives"][0]["file"] = "../../timeline.jsonl"
    path.write_bytes(rfc8785.dumps(doc))
    assert "MANIFEST_INVALID" in codes(check_evidence(fake_host.incident_dir, None))

    path.write_bytes(original.replace(b'{"acquisition_finished"', b'{"examiner":"x","acq'
                                      b'uisition_finished"', 1))
    assert "MANIFEST_INVALID" in codes(check_evidence(fake_host.incident_dir, None))
    path.write_bytes(b'{"version": 1, "examiner": "a", "examiner": "b"}')
    invalid = check_evidence(fake_host.incident_dir, None)
    assert codes(invalid) == ["MANIFEST_INVALID"] and "duplicate key" in invalid[0].message

    path.write_bytes(original)
    assert codes(check_evidence(fake_host.incident_dir, sha)) == ["EVIDENCE_OK"]


def test_missing_manifest_or_archive(fake_host: FakeHost, tmp_path: Path) -> None:
    assert codes(check_evidence(tmp_path / "never-collected", None)) == ["EVIDENCE_NONE"]
    assert codes(check_evidence(tmp_path / "never-collected", "ab" * 32)) == ["MANIFEST_MISSING"]

    _, sha = fake_host.sealed_incident()
    archive = fake_host.incident_dir / "evidence" / f"{INCIDENT_ID}-volatile.tar.gz"
    moved = archive.rename(tmp_path / archive.name)
    missing = check_evidence(fake_host.incident_dir, sha)
    assert codes(missing) == ["EVIDENCE_MISSING"] and missing[0].path == f"evidence/{archive.name}"
    moved.rename(archive)

    manifest_path(fake_host.incident_dir).unlink()
    assert codes(check_evidence(fake_host.incident_dir, sha)) == ["MANIFEST_MISSING"]
    # Archives without a manifest: it was deleted, not "no evidence".
    assert codes(check_evidence(fake_host.incident_dir, None)) == ["MANIFEST_MISSING"]


def test_stray_archive_is_a_warning(fake_host: FakeHost) -> None:
    _, sha = fake_host.sealed_incident()
    stray = fake_host.incident_dir / "evidence" / "planted.tar.gz"
    stray.write_bytes(b"\x1f\x8b")
    verdicts = check_evidence(fake_host.incident_dir, sha)
    assert codes(verdicts) == ["EVIDENCE_EXTRA", "EVIDENCE_OK"]
    assert next(v for v in verdicts if v.code == "EVIDENCE_EXTRA").severity == "warning"


def test_sealing_rechecks_archives_and_closes_the_manifest(fake_host: FakeHost) -> None:
    manifest = Manifest(INCIDENT_ID)
    volatile = fake_host.snapshot(volatile=True)
    manifest.add("volatile", volatile)
    with pytest.raises(ValueError, match="already"):
        manifest.add("volatile", volatile)
    archive = Path(volatile.archive)
    archive.write_bytes(flip(archive.read_bytes(), 100))
    write_manifest(fake_host.incident_dir, manifest)
    sealed = manifest.custody[-1]
    assert sealed.action == "sealed" and not sealed.hash_verified
    assert archive.name in sealed.note
    with pytest.raises(ValueError, match="sealed"):
        manifest.add("evidence", fake_host.snapshot())


def test_collections_replayed_without_facts_still_record_archives(fake_host: FakeHost) -> None:
    """On resume the journal rebuilds Collected without facts; size and label still land."""
    collected = fake_host.snapshot(volatile=True)
    bare = Collected(archive=collected.archive, archive_sha256=collected.archive_sha256,
                     items=collected.items, skipped=collected.skipped)
    manifest = Manifest(INCIDENT_ID)
    record = manifest.add("volatile", bare)
    assert record.label == "volatile"
    assert record.size == Path(collected.archive).stat().st_size
    stamps = sorted(i.collected_at for i in collected.items)
    assert (record.started_at, record.finished_at) == (stamps[0], stamps[-1])
    assert manifest.custody[0].ts == stamps[-1]
    sha = write_manifest(fake_host.incident_dir, manifest)
    assert codes(check_evidence(fake_host.incident_dir, sha)) == ["EVIDENCE_OK"]
    assert manifest.has_items()
    assert dataclasses.asdict(manifest.items[0]) == dataclasses.asdict(collected.items[0])


def test_check_streams_members_in_bounded_memory(fake_host: FakeHost) -> None:
    big = fake_host.tmp / "openclaw" / "openclaw-2026-11-19.log"
    with open(big, "wb") as fh:
        for i in range(48):
            fh.write(bytes([i]) * (1024 * 1024))
    manifest = Manifest(INCIDENT_ID)
    manifest.add("evidence", fake_host.snapshot())
    sha = write_manifest(fake_host.incident_dir, manifest)
    tracemalloc.start()
    try:
        verdicts = check_evidence(fake_host.incident_dir, sha)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert codes(verdicts) == ["EVIDENCE_OK"]
    assert peak < 16 * 1024 * 1024, peak


def test_a_file_name_that_is_not_utf8_is_sealed_and_verified(fake_host: FakeHost) -> None:
    """An agent's log named with bytes that are not UTF-8: stored under its exact name, the
    manifest keeps it losslessly, and verify matches it."""
    logs = os.fsencode(fake_host.state / "logs")
    name = logs + b"/gateway-\xff\xfe.log"
    with open(name, "wb") as out:
        out.write(b"agent output\n")
    _, sha = fake_host.sealed_incident()
    assert codes(check_evidence(fake_host.incident_dir, sha)) == ["EVIDENCE_OK"]
    sources = {os.fsencode(i.source) for i in load_manifest(fake_host.incident_dir).items}
    assert name in sources


def test_evidence_replaced_by_a_link_or_a_fifo_is_a_failure_not_a_hang(
    fake_host: FakeHost, tmp_path: Path
) -> None:
    import threading

    manifest, sha = fake_host.sealed_incident()
    evidence = fake_host.incident_dir / "evidence"
    first, second = manifest.archives[0].file, manifest.archives[1].file
    moved = tmp_path / "moved.tar.gz"
    os.rename(evidence / first, moved)
    (evidence / first).symlink_to(moved)  # the very same bytes, through a link
    (evidence / second).unlink()
    os.mkfifo(evidence / second)
    box: list[list[Any]] = []
    worker = threading.Thread(
        target=lambda: box.append(check_evidence(fake_host.incident_dir, sha)), daemon=True
    )
    worker.start()
    worker.join(60)
    assert box, "checking the evidence blocked on a FIFO"
    failures = {v.path: v for v in box[0] if v.severity == "failure"}
    assert "symbolic link" in failures[f"evidence/{first}"].message
    assert "not a regular file" in failures[f"evidence/{second}"].message

"""Timeline writing: canonical signed entries, file modes, pairing, resume, threads."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timeline_builders import (
    AWS_KEY,
    INCIDENT_ID,
    PLAYBOOK_HEADER,
    Incident,
    fields_of,
    rewrite_lines,
)

from clawback import __version__
from clawback.errors import BadInput
from clawback.signing import Signer
from clawback.stored_text import original, original_value
from clawback.timeline import (
    BODY_KEYS,
    ENTRY_KEYS,
    GENESIS_PREV,
    SIGNATURE_DOMAIN,
    Timeline,
    canonical_body,
    read_entries,
)
from clawback.verify import verify_incident


def test_entry_zero_records_host_clock_tool_playbook_and_key(incident: Incident) -> None:
    entry0 = read_entries(incident.timeline)[0]
    extra = entry0.extra
    assert (entry0.seq, entry0.action, entry0.phase) == (0, "open", "event")
    assert entry0.fields["prev"] == GENESIS_PREV
    assert extra["playbook"] == PLAYBOOK_HEADER["playbook"]
    assert extra["tool"] == {"name": "clawback", "version": __version__}
    assert extra["host"]["hostname"] and extra["host"]["kernel"]
    assert extra["clock"]["utc"] == entry0.fields["ts"]
    assert isinstance(extra["clock"]["monotonic_ns"], int)
    assert extra["clock"]["utc_offset"][0] in "+-"
    key = extra["signing_key"]
    assert base64.b64decode(key["public_key"]) == incident.signer.public_key_bytes
    assert key["fingerprint"] == incident.signer.fingerprint
    assert key["note_key_id"] == incident.signer.key_id.hex()
    assert (incident.directory / "signing-key.pub").read_text() == incident.signer.public_key_pem()


def test_every_line_is_rfc8785_with_hash_sig_and_chain(incident: Incident) -> None:
    prev = GENESIS_PREV
    for seq, line in enumerate(incident.lines()):
        fields = fields_of(line)
        assert set(fields) == ENTRY_KEYS
        assert line == rfc8785.dumps(fields) + b"\n"
        body = {k: v for k, v in fields.items() if k in BODY_KEYS}
        assert canonical_body(fields) == rfc8785.dumps(body)
        digest = hashlib.sha256(rfc8785.dumps(body)).digest()
        assert fields["hash"] == digest.hex()
        assert incident.signer.public_key.verify(
            base64.b64decode(fields["sig"]), SIGNATURE_DOMAIN + digest
        )
        assert (fields["seq"], fields["prev"], fields["v"]) == (seq, prev, 1)
        assert fields["key"] == incident.signer.fingerprint
        assert fields["actor"]["tool"] == f"clawback/{__version__}"
        assert "@" in fields["actor"]["user"]
        assert fields["ts"].endswith("Z") and len(fields["ts"]) == len(
            "2026-11-21T02:03:04.123456Z"
        )
        prev = fields["hash"]


def test_close_records_count_and_manifest(incident: Incident) -> None:
    entries = read_entries(incident.timeline)
    close = entries[-1]
    assert close.action == "close"
    assert close.extra["entry_count"] == len(entries)
    assert close.extra["evidence_manifest_sha256"] == incident.manifest_sha256
    assert (incident.directory / "checkpoint.txt").read_text() == incident.final_checkpoint


json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.none() | st.dictionaries(st.text(), json_value, max_size=4),
    extra=st.dictionaries(st.text(), json_value, max_size=4),
    detail=st.text(),
)
def test_canonical_encoding_matches_rfc8785_for_any_content(
    tmp_path_factory: pytest.TempPathFactory,
    signer: Signer,
    target: dict[str, Any] | None,
    extra: dict[str, Any],
    detail: str,
) -> None:
    # Non-ASCII, astral-plane keys, control characters and lone surrogates (a file name that
    # is not UTF-8) included: the writer's member-by-member encoding must equal the library's
    # encoding of the whole entry, byte for byte, and every text must come back as it was.
    directory = tmp_path_factory.mktemp("canon")
    with Timeline.create(directory / "i", "inc", signer, header={}, durable=False) as timeline:
        entry = timeline.append(
            step="s", action="a", phase="event", target=target, detail=detail, extra=extra
        )
    line = (directory / "i" / "timeline.jsonl").read_bytes().splitlines()[-1]
    assert line == rfc8785.dumps(dict(entry.fields))
    assert read_entries(directory / "i" / "timeline.jsonl")[-1].fields == entry.fields
    assert original_value(entry.fields["target"]) == target
    assert original_value(entry.fields["extra"]) == extra
    assert original(entry.fields["detail"]) == detail


def test_files_are_private_whatever_the_umask(tmp_path: Path, signer: Signer) -> None:
    old = os.umask(0)
    try:
        directory = tmp_path / "state" / "incidents" / INCIDENT_ID
        timeline = Timeline.create(directory, INCIDENT_ID, signer, header={})
        timeline.checkpoint()
        timeline.close(manifest_sha256=None)
    finally:
        os.umask(old)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    names = {p.name for p in directory.iterdir()}
    assert names == {"timeline.jsonl", "checkpoint.txt", "checkpoints.txt", "signing-key.pub"}
    for path in directory.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_floats_are_refused_and_nothing_is_written(tmp_path: Path, signer: Signer) -> None:
    timeline = Timeline.create(tmp_path / "i", INCIDENT_ID, signer, header={})
    size = timeline.path.stat().st_size
    with pytest.raises(TypeError, match=r"extra\.timing\.seconds: floats are forbidden"):
        timeline.append(step="s", action="a", phase="event", extra={"timing": {"seconds": 0.25}})
    with pytest.raises(TypeError, match="floats are forbidden"):
        timeline.append(step="s", action="a", phase="event", target={"ratio": [1, 2.5]})
    with pytest.raises(ValueError, match="2\\*\\*53"):
        timeline.append(step="s", action="a", phase="event", extra={"ns": 2**60})
    assert timeline.path.stat().st_size == size
    assert timeline.size == 1
    with pytest.raises(TypeError, match="floats are forbidden"):
        Timeline.create(tmp_path / "j", INCIDENT_ID, signer, header={"started": 1.5})


def test_header_cannot_shadow_recorded_facts(tmp_path: Path, signer: Signer) -> None:
    with pytest.raises(ValueError, match="signing_key"):
        Timeline.create(tmp_path / "i", INCIDENT_ID, signer, header={"signing_key": "mine"})


def test_existing_timeline_is_never_overwritten(incident: Incident) -> None:
    before = incident.timeline.read_bytes()
    with pytest.raises(BadInput, match="resume it"):
        Timeline.create(incident.directory, INCIDENT_ID, incident.signer, header={})
    assert incident.timeline.read_bytes() == before


def test_results_point_to_their_intents(tmp_path: Path, signer: Signer) -> None:
    timeline = Timeline.create(tmp_path / "i", INCIDENT_ID, signer, header={})
    a = timeline.append(step="revoke", action="keys.revoke", phase="intent", target={"k": "a"})
    b = timeline.append(step="revoke", action="keys.revoke", phase="intent", target={"k": "b"})
    again = timeline.append(step="revoke", action="keys.revoke", phase="intent", target={"k": "a"})
    rb = timeline.append(step="revoke", action="keys.revoke", phase="result", target={"k": "b"})
    ra1 = timeline.append(step="revoke", action="keys.revoke", phase="result", target={"k": "a"})
    ra2 = timeline.append(step="revoke", action="keys.revoke", phase="result", target={"k": "a"})
    stray = timeline.append(step="revoke", action="keys.revoke", phase="result", target={"k": "c"})
    assert rb.fields["intent_seq"] == b.seq
    assert (ra1.fields["intent_seq"], ra2.fields["intent_seq"]) == (a.seq, again.seq)
    assert stray.fields["intent_seq"] is None
    timeline.release()


def test_closed_timeline_takes_no_more_entries(incident: Incident, tmp_path: Path) -> None:
    timeline = Timeline.create(tmp_path / "i", INCIDENT_ID, incident.signer, header={})
    timeline.close(manifest_sha256=None)
    with pytest.raises(RuntimeError, match="closed"):
        timeline.append(step="s", action="a", phase="event")


def test_resume_continues_the_chain(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "i"
    timeline = Timeline.create(directory, INCIDENT_ID, signer, header={})
    timeline.append(step="stop", action="host.stop_service", phase="intent", target=AWS_KEY)
    timeline.release()  # the process died here

    resumed = Timeline.resume(directory, signer)
    assert resumed.incident_id == INCIDENT_ID
    assert resumed.size == 3
    resumed.append(step="s", action="a", phase="event")
    resumed.close(manifest_sha256=None)
    entries = read_entries(directory / "timeline.jsonl")
    assert [e.action for e in entries] == ["open", "host.stop_service", "resume", "a", "close"]
    assert entries[2].extra == {
        "resumed_after_seq": 1,
        "unfinished_intents": [1],
        "reopened": False,
    }
    assert [e.fields["prev"] for e in entries[1:]] == [e.hash for e in entries[:-1]]


def test_resume_refuses_a_corrupt_tail(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "i"
    timeline = Timeline.create(directory, INCIDENT_ID, signer, header={})
    timeline.append(step="s", action="a", phase="event", detail="original")
    timeline.release()
    path = directory / "timeline.jsonl"

    rewrite_lines(path, lambda lines: [*lines[:-1], lines[-1].replace(b"original", b"0riginal")])
    with pytest.raises(BadInput, match="hash chain breaks at seq 1") as caught:
        Timeline.resume(directory, signer)
    assert caught.value.line == 2

    rewrite_lines(path, lambda lines: [*lines[:-1], lines[-1][:40]])
    with pytest.raises(BadInput, match="incomplete"):
        Timeline.resume(directory, signer)


def test_a_closed_incident_reopens_and_verifies(incident: Incident) -> None:
    """Confirming manual steps later reopens the incident: resume entry, then a new close."""
    reopened = Timeline.resume(incident.directory, incident.signer)
    reopened.append(step="manual", action="confirm", phase="event")
    reopened.close(manifest_sha256=None)
    entries = read_entries(incident.directory / "timeline.jsonl")
    closes = [e for e in entries if e.action == "close"]
    assert len(closes) == 2
    assert entries[closes[0].seq + 1].action == "resume"
    assert entries[closes[0].seq + 1].extra["reopened"] is True
    assert verify_incident(incident.directory).exit_code == 0


def test_a_close_in_the_middle_without_resume_is_flagged(incident: Incident) -> None:
    path = incident.directory / "timeline.jsonl"
    reopened = Timeline.resume(incident.directory, incident.signer)
    reopened.close(manifest_sha256=None)
    lines = path.read_bytes().splitlines(keepends=True)
    resume_index = next(i for i, line in enumerate(lines) if b'"action":"resume"' in line)
    # dropping the resume entry breaks the chain too; what matters is that it is not INTACT
    path.write_bytes(b"".join(lines[:resume_index] + lines[resume_index + 1 :]))
    assert verify_incident(incident.directory).exit_code == 1


def test_resume_refuses_another_key(incident: Incident, tmp_path: Path) -> None:
    directory = tmp_path / "i"
    Timeline.create(directory, INCIDENT_ID, incident.signer, header={}).release()
    with pytest.raises(BadInput, match="not the keyring's key"):
        Timeline.resume(directory, Signer.generate("clawback/other"))
    with pytest.raises(BadInput, match="no timeline"):
        Timeline.resume(tmp_path / "nothing", incident.signer)


def test_strict_reader_refuses_duplicate_keys_and_non_canonical_bytes(
    incident: Incident,
) -> None:
    rewrite_lines(
        incident.timeline, lambda ls: [*ls[:3], ls[3].replace(b"{", b'{"v":1,', 1), *ls[4:]]
    )
    with pytest.raises(BadInput, match="DUPLICATE_KEY_JSON") as caught:
        read_entries(incident.timeline)
    assert caught.value.line == 4

    rewrite_lines(
        incident.timeline, lambda ls: [*ls[:3], ls[3].replace(b'{"v":1,', b"{ ", 1), *ls[4:]]
    )
    with pytest.raises(BadInput, match="NON_CANONICAL_JSON") as caught:
        read_entries(incident.timeline)
    assert caught.value.line == 4


def test_concurrent_appends_from_8_threads_keep_the_chain(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "i"
    timeline = Timeline.create(directory, INCIDENT_ID, signer, header={})
    per_thread = 40
    start = threading.Barrier(8)
    mismatches: list[str] = []

    def worker(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            target = {"thread": n, "key": i}
            intent = timeline.append(
                step="revoke", action="keys.revoke", phase="intent", target=target
            )
            result = timeline.append(
                step="revoke",
                action="keys.revoke",
                phase="result",
                target=target,
                outcome="Revoked",
            )
            if result.fields["intent_seq"] != intent.seq:
                mismatches.append(f"{n}/{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timeline.close(manifest_sha256=None)

    assert mismatches == []
    entries = read_entries(directory / "timeline.jsonl")
    assert [e.seq for e in entries] == list(range(2 + 8 * per_thread * 2))
    report = verify_incident(directory, checkpoint=directory / "checkpoint.txt")
    assert report.codes() == ["INTACT"]
    assert report.exit_code == 0


_ascii_heavy = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12) | st.text(
    max_size=6
)
_safe_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | _ascii_heavy,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ascii_heavy, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_safe_json)
def test_the_fast_canonical_encoder_writes_exactly_what_rfc8785_writes(value: Any) -> None:
    from clawback.timeline import canonical_json

    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [
    {"target": "openai:…ZNIJ sha256:6d65f4bf", "détail": "clé révoquée", "é": 1, "e": 2},
    # Code-point order puts U+E000 first, UTF-16 order the surrogate pair of U+1F600.
    {"\ue000": 1, "\U0001f600": 2, "a": "\U0001f600"},
    {"\ufb01": "ﬁ", "\uffff": ["\u2028", "\x7f", "\x1f"]},
    ["\ud7ff", "\ud800"],  # a lone surrogate: refused as rfc8785 refuses it
])
def test_text_beyond_ascii_is_encoded_as_rfc8785_encodes_it(value: Any) -> None:
    from clawback.timeline import canonical_json

    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_an_integer_beyond_ijson_read_from_a_file_is_not_canonical(incident: Incident) -> None:
    # The standard library prints 2**60 where RFC 8785 refuses it: a line hashed and signed
    # over the library's form must not pass the fast canonical check.
    import json

    lines = incident.lines()
    fields = fields_of(lines[1])
    body = {k: v for k, v in fields.items() if k not in ("hash", "sig")}
    body["extra"] = {**body["extra"], "huge": 2**60}

    def plain(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    digest = hashlib.sha256(plain(body)).digest()
    sig = base64.b64encode(incident.signer.sign(SIGNATURE_DOMAIN + digest)).decode()
    forged = plain({**body, "hash": digest.hex(), "sig": sig}) + b"\n"
    rewrite_lines(incident.timeline, lambda old: [old[0], forged, *old[2:]])
    report = verify_incident(incident.directory)
    assert "NON_CANONICAL_JSON" in report.codes()


def test_entries_read_back_during_a_run_never_meet_a_half_written_line(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation reads the ledger back while other threads append (contain's revoke fan-out).
    Read without the append lock, a line half on disk is a torn last line: the rotation failed
    to start and its key was left without a successor (seen once under load)."""
    timeline = Timeline.create(tmp_path / "i", INCIDENT_ID, signer, header={}, durable=False)
    half_written, go_on = threading.Event(), threading.Event()
    real_write = os.write

    def slow_write(fd: int, data: Any) -> int:
        if fd != timeline._fd or half_written.is_set():
            return real_write(fd, data)
        written = real_write(fd, bytes(data[: len(data) // 2]))
        half_written.set()
        assert go_on.wait(30)
        return written

    monkeypatch.setattr(os, "write", slow_write)
    writer = threading.Thread(target=lambda: timeline.append(
        step="s", action="a", phase="event", target={"t": "x"}))
    writer.start()
    assert half_written.wait(30)
    read: list[Any] = []
    reader = threading.Thread(target=lambda: read.append(_read_or_error(timeline)))
    reader.start()
    reader.join(1.0)  # long enough for a reader that does not wait to meet the torn line
    go_on.set()
    writer.join(30)
    reader.join(30)
    assert len(read) == 1 and not isinstance(read[0], BaseException), read
    assert [e.seq for e in read[0]] == [0, 1]
    timeline.release()


def _read_or_error(timeline: Timeline) -> Any:
    try:
        return timeline.written_entries()
    except BaseException as exc:  # the test reports what the reader met
        return exc

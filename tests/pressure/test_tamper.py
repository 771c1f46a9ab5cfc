"""Careful forgeries of a real contain incident, each caught by ``clawback verify`` with its own
verdict and exit 1, and each turning a freshly regenerated report.html red on its first screen.

tests/timeline covers single edits by property tests on synthetic logs; these are the forgeries
of an attacker who owns the host and takes care to leave a self-consistent incident behind:

* the whole timeline re-signed with the attacker's key, entry 0's recorded key, signing-key.pub
  and the local checkpoints replaced to match (caught only by a pinned --pubkey, or by the
  operator's off-host checkpoint: WRONG_KEY);
* the timeline cut back to before the revocations and closed again with the real key (the
  keyring is on the host), local checkpoints deleted: TRUNCATED against the checkpoint the
  operator copied during the run, or REWRITTEN when the forged tail is padded past its size;
* one evidence file swapped inside its archive, the archive re-packed, and the manifest's item,
  archive and custody hashes recomputed: only the close entry's manifest hash disagrees
  (MANIFEST_MISMATCH);
* the checkpoint of another incident offered as the anchor: CHECKPOINT_OTHER_LOG;
* an evidence archive deleted: EVIDENCE_MISSING.

Each forgery works on a copy of an incident from a real run (tests/pressure/conftest.py).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from clawback.checkpoint import origin_for, parse_checkpoints, sign_checkpoint
from clawback.merkle import root_hash
from clawback.signing import KEYRING_USERNAME, Signer
from clawback.timeline import SIGNATURE_DOMAIN, Timeline

from .sandbox_host import ContainedHost, read_keyring_file


@dataclass
class Forgery:
    """One incident copy to tamper with, and what the operator kept off the host."""

    incident: Path
    host: ContainedHost
    other: ContainedHost  # the other contained host: another incident, another key
    trusted_pubkey: Path  # signing-key.pub as copied off the host before anything happened
    final_checkpoint: Path
    earlier_checkpoint: Path  # printed after the revoke step, copied off the host then

    def clawback(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.host.box.clawback(*args)

    def real_signer(self) -> Signer:
        """The installation's key, as an attacker with the host's keyring would load it."""
        keyring_file = (Path(self.host.box.env["XDG_DATA_HOME"]) / "python_keyring"
                        / "keyring_pass.cfg")
        stored = read_keyring_file(keyring_file)[("clawback", KEYRING_USERNAME)]
        entry0 = json.loads(self.timeline.read_bytes().splitlines()[0])
        name = entry0["extra"]["signing_key"]["name"]
        return Signer.from_private_bytes(base64.b64decode(stored), name)

    @property
    def timeline(self) -> Path:
        return self.incident / "timeline.jsonl"

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.timeline.read_bytes().splitlines()]


@pytest.fixture
def forgery(contained_hosts: dict[str, ContainedHost], tmp_path: Path) -> Forgery:
    host, other = contained_hosts["json"], contained_hosts["rich"]
    incident = shutil.copytree(host.incident, tmp_path / host.incident.name)
    kept = tmp_path / "kept-off-host"
    kept.mkdir()
    pubkey = shutil.copy(host.incident / "signing-key.pub", kept / "signing-key.pub")
    history = parse_checkpoints((host.incident / "checkpoints.txt").read_text())
    # After volatile, stop and revoke: the checkpoint that commits to the revocations.
    earlier = kept / "after-revoke.txt"
    earlier.write_text(history[2].text())
    return Forgery(Path(incident), host, other, Path(pubkey), host.final_checkpoint, earlier)


# -- the attacker's tools ---------------------------------------------------------------------


def _signed_line(fields: dict[str, Any], signer: Signer) -> bytes:
    body = {k: v for k, v in fields.items() if k not in ("hash", "sig")}
    digest = hashlib.sha256(rfc8785.dumps(body)).digest()
    sig = base64.b64encode(signer.sign(SIGNATURE_DOMAIN + digest)).decode()
    return rfc8785.dumps({**body, "hash": digest.hex(), "sig": sig}) + b"\n"


def _resign_with_another_key(f: Forgery) -> None:
    """Every entry re-signed (and re-chained) by the attacker's key, entry 0 naming that key,
    signing-key.pub and the local checkpoints replaced: a log consistent with itself."""
    real = f.real_signer()
    attacker = Signer.generate(real.key_name)  # same name, its own key
    entries = f.entries()
    entries[0]["extra"]["signing_key"].update(
        public_key=attacker.public_key.base64(), fingerprint=attacker.fingerprint,
        note_key_id=attacker.key_id.hex(),
    )
    lines, prev, leaves = [], "0" * 64, []
    for fields in entries:
        fields.update(key=attacker.fingerprint, prev=prev)
        line = _signed_line(fields, attacker)
        prev = json.loads(line)["hash"]
        leaves.append(bytes.fromhex(prev))
        lines.append(line)
    f.timeline.write_bytes(b"".join(lines))
    (f.incident / "signing-key.pub").write_text(attacker.public_key_pem())
    origin = origin_for(entries[0]["incident"])
    sizes = [cp.size for cp in parse_checkpoints((f.incident / "checkpoints.txt").read_text())]
    notes = [sign_checkpoint(origin, size, root_hash(leaves[:size]), attacker) for size in sizes]
    (f.incident / "checkpoints.txt").write_text("".join(n + "\n" for n in notes))
    (f.incident / "checkpoint.txt").write_text(notes[-1])


def _cut_before_revocations_and_close(f: Forgery, *, pad_past: int = 0) -> None:
    """Drop everything from the first revoke intent on, then resume and close the log with the
    real key, as clawback itself would; pad with innocent events up to ``pad_past`` entries."""
    entries = f.entries()
    manifest_sha = entries[-1]["extra"]["evidence_manifest_sha256"]
    cut = next(e["seq"] for e in entries if e["step"] == "revoke" and e["phase"] == "intent")
    f.timeline.write_bytes(b"".join(f.timeline.read_bytes().splitlines(keepends=True)[:cut]))
    for name in ("checkpoint.txt", "checkpoints.txt"):
        (f.incident / name).unlink()
    timeline = Timeline.resume(f.incident, f.real_signer())
    while timeline.size < pad_past:
        timeline.append(step="revoke", action="note", phase="event", detail="nothing to revoke")
    timeline.close(manifest_sha256=manifest_sha)


def _cut_and_pad(f: Forgery) -> None:
    size = parse_checkpoints(f.earlier_checkpoint.read_text())[0].size
    _cut_before_revocations_and_close(f, pad_past=size + 5)


def _swap_evidence_and_recompute_manifest(f: Forgery) -> None:
    """Replace the OpenClaw log in the full archive with a harmless one; re-pack the archive
    and recompute every hash the manifest holds for it, so archive and manifest agree."""
    manifest_path = f.incident / "evidence" / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    record = next(a for a in manifest["archives"] if a["label"] == "full")
    archive = f.incident / "evidence" / record["file"]
    item = next(i for i in manifest["items"]
                if i["archive"] == record["file"] and i["source"].endswith(".log")
                and "/tmp/openclaw/" in i["source"])
    forged = b'{"1":"gateway started","time":"2026-01-01T00:00:00Z"}\n'
    out = io.BytesIO()
    with tarfile.open(archive, "r:gz") as source, \
            gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as target:
        for member in source:
            data = source.extractfile(member).read() if member.isreg() else None  # type: ignore[union-attr]
            if member.name == item["stored_path"]:
                data, member.size = forged, len(forged)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    archive.write_bytes(out.getvalue())
    item.update(sha256=hashlib.sha256(forged).hexdigest(), size=len(forged))
    old_sha = record["sha256"]
    record.update(sha256=hashlib.sha256(out.getvalue()).hexdigest(), size=len(out.getvalue()))
    combined = "".join(f"{a['sha256']}  {a['file']}\n"
                       for a in sorted(manifest["archives"], key=lambda a: a["file"]))
    for event in manifest["custody"]:
        if event["sha256"] == old_sha:
            event["sha256"] = record["sha256"]
        if event["action"] == "sealed":
            event["sha256"] = hashlib.sha256(combined.encode()).hexdigest()
    manifest_path.write_bytes(rfc8785.dumps(manifest))


def _delete_an_archive(f: Forgery) -> None:
    next((f.incident / "evidence").glob("*-full.tar.gz")).unlink()


def _nothing(f: Forgery) -> None:
    return None


@dataclass(frozen=True)
class Case:
    tamper: Callable[[Forgery], None]
    anchor: Callable[[Forgery], list[str]]  # the verify/report options the operator passes
    verdict: str  # the one failure verify must report
    passes_unanchored: bool = False  # consistent enough that only an anchor catches it


def _pubkey(f: Forgery) -> list[str]:
    return ["--pubkey", str(f.trusted_pubkey)]


def _final(f: Forgery) -> list[str]:
    return ["--checkpoint", str(f.final_checkpoint)]


def _earlier(f: Forgery) -> list[str]:
    return ["--checkpoint", str(f.earlier_checkpoint)]


def _others(f: Forgery) -> list[str]:
    return ["--checkpoint", str(f.other.final_checkpoint)]


CASES = {
    "resigned-with-another-key/pinned-pubkey": Case(
        _resign_with_another_key, _pubkey, "WRONG_KEY", passes_unanchored=True),
    "resigned-with-another-key/final-checkpoint": Case(
        _resign_with_another_key, _final, "WRONG_KEY", passes_unanchored=True),
    "truncated-with-resigned-tail": Case(
        _cut_before_revocations_and_close, _earlier, "TRUNCATED", passes_unanchored=True),
    "truncated-with-padded-resigned-tail": Case(
        _cut_and_pad, _earlier, "REWRITTEN", passes_unanchored=True),
    "evidence-swapped-manifest-recomputed": Case(
        _swap_evidence_and_recompute_manifest, _final, "MANIFEST_MISMATCH"),
    "checkpoint-of-another-incident": Case(_nothing, _others, "CHECKPOINT_OTHER_LOG"),
    "evidence-archive-deleted": Case(_delete_an_archive, _final, "EVIDENCE_MISSING"),
}


def _verify(f: Forgery, *options: str) -> tuple[int, list[dict[str, Any]]]:
    run = f.clawback("verify", str(f.incident), "--json", *options)
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, json.loads(run.stdout)["verdicts"]


def _failures(verdicts: list[dict[str, Any]]) -> set[str]:
    return {v["code"] for v in verdicts if v["severity"] == "failure"}


def test_the_untouched_copy_is_intact_with_every_anchor(forgery: Forgery) -> None:
    """The control: before tampering, each anchor the cases use says INTACT."""
    for options in (_pubkey(forgery) + _final(forgery), _earlier(forgery)):
        code, verdicts = _verify(forgery, *options)
        assert code == 0, verdicts
        assert "INTACT" in {v["code"] for v in verdicts}
    report = forgery.clawback("report", str(forgery.incident), "--format", "html",
                              *_pubkey(forgery), *_final(forgery))
    assert report.returncode == 0, report.stderr
    html = (forgery.incident / "report.html").read_text()
    assert "NOT INTACT" not in _first_screen(html)
    assert not _title(html).startswith("NOT INTACT")


@pytest.mark.parametrize("name", list(CASES))
def test_forgery_is_caught_with_its_own_verdict(forgery: Forgery, name: str) -> None:
    case = CASES[name]
    case.tamper(forgery)
    code, verdicts = _verify(forgery, *case.anchor(forgery))
    assert code == 1, verdicts
    assert _failures(verdicts) == {case.verdict}, verdicts
    if case.passes_unanchored:
        # The forgery is self-consistent: without what the operator kept off the host, verify
        # can only warn that it is unanchored. That is why the checkpoint is printed.
        code, verdicts = _verify(forgery)
        assert code == 0, verdicts
        assert "UNANCHORED" in {v["code"] for v in verdicts}

    report = forgery.clawback("report", str(forgery.incident), "--format", "html",
                              *case.anchor(forgery))
    assert report.returncode == 1, report.stderr
    html = (forgery.incident / "report.html").read_text()
    first_screen = _first_screen(html)
    assert "NOT INTACT" in first_screen, first_screen[:500]
    assert case.verdict in first_screen, first_screen[:2000]
    assert _title(html).startswith("NOT INTACT")


def test_each_forgery_has_a_distinct_verdict() -> None:
    by_verdict: dict[str, set[str]] = {}
    for name, case in CASES.items():
        by_verdict.setdefault(case.verdict, set()).add(name.split("/")[0])
    assert all(len(names) == 1 for names in by_verdict.values()), by_verdict


# -- reading the report as a person would -----------------------------------------------------


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._hidden -= 1
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.parts.append(data)


def _first_screen(html: str) -> str:
    """The visible text before the report's first numbered section."""
    parser = _VisibleText()
    parser.feed(html)
    text = " ".join(" ".join(parser.parts).split())
    end = text.find("Executive summary")
    assert end > 0, "no executive summary section"
    return text[:end]


def _title(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return parser.title.strip()

"""No secret leaves clawback in any form, from any command, into any file it writes.

Secrets searched for: every value the sample home planted (every location discovery knows),
every value the runs stored in the keyring (replacement keys, new gateway tokens, the timeline
signing key), and the AWS admin secret the config names by ``env:`` reference. Forms: raw,
base64 (standard and URL-safe, padded or not, at any alignment inside a larger blob),
URL-encoded, hex, JSON-escaped, and each body line of a multi-line key (tests/pressure/
leak_scan.py). Every byte searched: stdout and stderr of every command, every file under the
incident directory except the evidence archives and ``backups/`` (they hold the original files
by design, 0600), everything clawback wrote under its XDG dirs except the keyring, and the
logs of the stand-ins the run talked to.

``clawback demo`` (started early by tests/pressure/conftest.py) builds its own sandbox with its
own random secrets; they are read back from
it afterwards (discovery over its host as it is now, over the original files sealed in its
evidence, and its keyring), and every output is also searched for anything shaped like a
provider secret.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .leak_scan import Blob, Secret, file_blobs, needles_for, scan, secret_shapes
from .sandbox_host import ContainedHost, DemoProcess, read_keyring_file

# What each command must have answered for its output to count (a command that failed on its
# arguments proves nothing about leaks).
EXPECTED_EXIT = {"contain": {3}, "discover": {0}, "audit": {0}, "drill": {0, 3}, "verify": {0},
                 "report": {0}}
# A dry run predicts the real run: the sample home leaves keys only a human can kill.
DRY_RUN_EXIT = EXPECTED_EXIT["contain"]


def _keyring_secrets(values: dict[tuple[str, str], str], origin: str) -> list[Secret]:
    out = []
    for (service, user), value in values.items():
        name = f"{service}/{user}"
        out.append(Secret(f"{origin} keyring entry {name}", value))
        try:
            document = json.loads(value)
        except ValueError:
            continue
        if isinstance(document, dict):
            # e.g. the stored AWS pair: the secret half is a secret on its own; the id is not.
            out += [Secret(f"{origin} keyring entry {name} field {key}", field)
                    for key, field in document.items()
                    if isinstance(field, str) and not key.lower().endswith("id")]
    return out


def _host_secrets(host: ContainedHost) -> list[Secret]:
    planted = [Secret(f"planted {p.kind} {p.fingerprint}", p.value) for p in host.box.home.planted]
    keyring_file = (Path(host.box.env["XDG_DATA_HOME"]) / "python_keyring"
                    / "keyring_pass.cfg")
    stored = _keyring_secrets(read_keyring_file(keyring_file), "stored")
    admin = Secret("the AWS admin secret named by env: reference", host.box.account.admin[1])
    return [*planted, *stored, admin]


def _host_blobs(host: ContainedHost) -> list[Blob]:
    blobs = []
    for run in host.runs:
        blobs.append(Blob(f"stdout of `{run.shown}`", run.result.stdout.encode()))
        blobs.append(Blob(f"stderr of `{run.shown}`", run.result.stderr.encode()))
    incident = host.incident
    blobs += file_blobs(
        incident,
        skip=[*incident.glob("evidence/*.tar.gz"), incident / "backups"],
        label_root=host.box.root,
    )
    xdg = host.box.root / "xdg"
    blobs += file_blobs(xdg, skip=[xdg / "xdg_data_home"], label_root=host.box.root)
    blobs += file_blobs(host.box.root / "supervisor", label_root=host.box.root)
    return blobs


def _fail_on(hits: list[str], what: str) -> None:
    assert not hits, f"{len(hits)} leak(s) in {what}:\n" + "\n".join(hits[:50])


def test_scanner_finds_every_form_it_claims() -> None:
    """The leak scans below are only as good as this: each form, planted in noise, is found."""
    import base64
    from urllib.parse import quote

    value = "ghp_R7aX/+wQ9v" + "k" * 20 + "=Z\n-----END\n" + "line2" + "A" * 21
    secret = Secret("probe", value)
    for needle in needles_for(secret):
        blob = Blob("noise", b"prefix " + needle.data + b" suffix")
        assert scan([blob], [secret]), needle.form
    for shift in range(3):  # inside a bigger base64 document, at every alignment
        document = b"x" * shift + secret.value.encode() + b"tail"
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            assert scan([Blob("b64", encode(document))], [secret]), (shift, encode)
    assert scan([Blob("q", quote(secret.value, safe="").encode())], [secret])
    assert not scan([Blob("clean", b"fingerprint \xe2\x80\xa6wQ9v sha256:0123abcd")], [secret])
    assert secret_shapes([Blob("shape", b"token=ghp_" + b"A1" * 18)])
    assert not secret_shapes([Blob("id", b"key AKIAABCDEFGHIJKLMNOP is gone")])


# -- clawback demo ----------------------------------------------------------------------------


@dataclass
class DemoRun:
    result: subprocess.CompletedProcess[str]
    sandbox: Path
    xdg: Path  # the XDG dirs the demo ran with


@pytest.fixture(scope="module")
def demo_run(demo_process: DemoProcess) -> DemoRun:
    result = demo_process.result()
    assert result.returncode == 0, result.stderr[-3000:]
    sandbox = Path(json.loads(result.stdout)["demo"]["sandbox"])
    assert demo_process.tmp in sandbox.parents
    return DemoRun(result, sandbox, demo_process.tmp / "xdg")


def _demo_secrets(sandbox: Path, incident: Path) -> list[Secret]:
    from responders.openclaw.discovery import discover

    found: dict[str, Secret] = {}

    def add(host: Path, origin: str) -> None:
        inventory = discover(user_home=host / "home" / "agent", tmp_dirs=[host / "tmp"])
        for cred in inventory.credentials:
            if cred.secret is not None:
                value = cred.secret.reveal()
                found.setdefault(value, Secret(f"{origin} {cred.kind} {cred.fingerprint}", value))

    add(sandbox / "host", "demo secret (as left on its host)")
    with tempfile.TemporaryDirectory() as unpacked:
        for archive in sorted((incident / "evidence").glob("*.tar.gz")):
            with tarfile.open(archive) as tar:
                tar.extractall(unpacked, filter="data")
            sealed_host = Path(unpacked) / archive.name.removesuffix(".tar.gz") / "files"
            add(Path(f"{sealed_host}{sandbox}") / "host", f"demo original ({archive.name})")
    secrets = list(found.values())
    keyring_file = sandbox / "keyring" / "python_keyring" / "keyring_pass.cfg"
    return secrets + _keyring_secrets(read_keyring_file(keyring_file), "demo")


def test_demo_json_leaks_nothing(demo_run: DemoRun) -> None:
    document = json.loads(demo_run.result.stdout)
    incident = Path(document["incident_dir"])
    assert document["contain_exit_code"] == 3 and document["exit_code"] == 0
    assert document["demo"]["verify_exit"] == 0
    secrets = _demo_secrets(demo_run.sandbox, incident)
    # Discovery found the demo's planted secrets, new and original: the search means something.
    assert len(secrets) >= 40, [s.label for s in secrets]
    assert any("original" in s.label and "gateway_token" in s.label for s in secrets)

    blobs = [Blob("stdout of `clawback demo --json`", demo_run.result.stdout.encode()),
             Blob("stderr of `clawback demo --json`", demo_run.result.stderr.encode())]
    root = demo_run.sandbox
    blobs += file_blobs(
        root,
        skip=[root / "host", root / "keyring", *incident.glob("evidence/*.tar.gz"),
              incident / "backups"],
        label_root=root,
    )
    blobs += file_blobs(demo_run.xdg, skip=[demo_run.xdg / "xdg_data_home"],
                        label_root=demo_run.xdg.parent)
    assert any(b.origin.endswith("timeline.jsonl") for b in blobs)
    _fail_on([h.describe() for h in scan(blobs, secrets)], "clawback demo --json")
    _fail_on(secret_shapes(blobs), "clawback demo --json (secret shapes)")


# -- contain, dry-run, discover, audit, drill, verify, report ---------------------------------


def _check_host(host: ContainedHost) -> None:
    for run in host.runs:
        command = run.args[0]
        expected = DRY_RUN_EXIT if "--dry-run" in run.args else EXPECTED_EXIT[command]
        assert run.result.returncode in expected, (run.shown, run.result.stderr[-2000:])
        assert "Traceback" not in run.result.stderr, run.shown
    secrets = _host_secrets(host)
    blobs = _host_blobs(host)
    _fail_on([h.describe() for h in scan(blobs, secrets)], f"the {host.box.root.name} host")
    _fail_on(secret_shapes(blobs), f"the {host.box.root.name} host (secret shapes)")


def test_contain_with_live_progress_and_every_read_only_command(
    contained_hosts: dict[str, ContainedHost],
) -> None:
    host = contained_hosts["rich"]
    # Every command ran and said something worth searching.
    listed = json.loads(host.output_of("discover", "--home", str(host.box.home.user_home),
                                       "--json").result.stdout)
    assert len(listed["credentials"]) >= len(host.box.home.planted) - 5
    for name in ("report.md", "report.html", "timesketch.jsonl", "timeline.jsonl",
                 "state.json", "evidence/manifest.json"):
        assert (host.incident / name).is_file(), name
    assert "To do by hand" in next(
        r for r in host.runs if r.args[0] == "contain" and "--dry-run" not in r.args
    ).result.stderr
    # The replacement AWS key and the new gateway tokens are among the secrets searched for.
    assert any(name.startswith("aws/") for name in host.box.keyring_values())
    assert any(name.startswith("openclaw/") for name in host.box.keyring_values())
    _check_host(host)


def test_contain_json_verify_and_report(contained_hosts: dict[str, ContainedHost]) -> None:
    host = contained_hosts["json"]
    document = json.loads(host.runs[0].result.stdout)
    assert document["exit_code"] == 3 and document["remaining"]
    _check_host(host)

"""Text from the agent is shown escaped: nothing in it can drive a terminal."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from clawback.shown import for_markup, printable


def test_escape_sequences_and_newlines_are_shown_not_acted_on() -> None:
    hostile = "key\x1b]8;;http://evil\x07name\x1b[2J\nFORGED ✔ all revoked\r\u202egnp.exe"
    shown = printable(hostile)
    assert shown == ("key\\x1b]8;;http://evil\\x07name\\x1b[2J\\x0aFORGED ✔ all revoked"
                     "\\x0d\\u202egnp.exe")


def test_bytes_that_are_not_utf8_show_as_the_byte() -> None:
    name = os.fsdecode(b"log-\xff\xfe.txt")
    assert printable(name) == "log-\\xff\\xfe.txt"


def test_a_backslash_is_escaped_so_escapes_stay_unambiguous() -> None:
    assert printable("a\\x1b") == "a\\\\x1b"
    assert printable("a\\x1b") != printable("a\x1b")


def test_ordinary_text_is_unchanged() -> None:
    text = "~/.openclaw/openclaw.json: gateway.auth.token …AB12 sha256:0a1b2c3d — ✔ café"
    assert printable(text) == text


def test_markup_in_agent_text_is_shown_literally() -> None:
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    table, tag = for_markup("[providers.aws]"), for_markup("[red]x")
    console.print(f"add {table} tables, [bold]{tag}[/bold]")
    assert console.export_text().strip() == "add [providers.aws] tables, [red]x"


@given(st.text())
def test_nothing_unsafe_survives(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in shown)
    assert "\x1b" not in shown and "\n" not in shown and "\x9b" not in shown


def test_errors_show_secrets_only_as_fingerprints() -> None:
    from clawback.shown import for_error
    from responders.interface import fingerprint

    token = "Zr7qLm2Xw9Kt4vBn8sYc1dHe6uJaP0oI3rT5yU7iO9p"  # token_urlsafe-like, no prefix
    key = "sk-proj-Zq8Lr2Vn5Xc7Bm1Kd4Fh6Jt9Wp3Ys0GaEuIoQwRtYpLkJhGf"
    message = (f"/etc/clawback/playbook.yaml:4:11: unknown action {key!r} in step 'a'\n"
               f"  also: token {token} at /home/agent/.openclaw/openclaw.json, archive "
               f"sha256 {'ab12' * 16}, key id AKIAIOSFODNN7EXAMPLE")
    shown = for_error(message)
    assert key not in shown and token not in shown
    assert fingerprint(key) in shown and fingerprint(token) in shown
    # What an operator needs stays: places, digests, key ids, the line structure.
    for kept in ("/etc/clawback/playbook.yaml:4:11", "/home/agent/.openclaw/openclaw.json",
                 "ab12" * 16, "AKIAIOSFODNN7EXAMPLE"):
        assert kept in shown
    assert shown.count("\n") == 1


@given(st.text())
def test_an_error_line_is_always_safe_to_print(text: str) -> None:
    from clawback.shown import for_error

    for line in for_error(text).split("\n"):
        assert line.isprintable()


HOSTILE = "evil\x1b]0;owned\x07name\x1b[2J\nFORGED ✔ all keys revoked\r\u202e"


def _unsafe(text: str) -> list[str]:
    """Characters a terminal would act on, other than the line breaks between lines."""
    return [c for line in text.split("\n") for c in line if not (c.isprintable() or c == " ")]


def test_live_progress_shows_the_agents_text_escaped() -> None:
    import io

    from clawback.console import RichReporter, print_summary
    from clawback.runner import RunResult, TargetResult
    from responders.interface import Failed, ManualRequired

    stream = io.StringIO()
    reporter = RichReporter(stream=stream)
    # Step ids and actions are checked against the playbook's pattern: the agent's text comes
    # in targets, details, reasons and notes.
    reporter.step_started("revoke", "keys.revoke_all", "")
    reporter.step_skipped("s", f"reason {HOSTILE}")
    failed = TargetResult("revoke", "revoke", f"openclaw:{HOSTILE}",
                          Failed(error=f"cannot write {HOSTILE}"))
    manual = TargetResult("revoke", "revoke", "x", ManualRequired(instructions=HOSTILE, url=""))
    reporter.target_finished(failed)
    reporter.note(f"discovery: {HOSTILE}")
    print_summary(RunResult(incident_id="i", incident_dir=None, results=[failed, manual],
                            dry_run=False), reporter)
    out = stream.getvalue()
    assert not _unsafe(out), _unsafe(out)
    assert not any(line.startswith("FORGED") for line in out.splitlines())
    assert "\\x1b]0;owned\\x07name" in out


def test_the_audit_text_shows_the_agents_text_escaped() -> None:
    from clawback.audit.model import AuditReport, Finding, Severity
    from clawback.audit.render import render_text

    finding = Finding(check_id="files.modes", severity=Severity.HIGH, title=f"t{HOSTILE}",
                      evidence=(f"/home/agent/{HOSTILE}",), fix=f"chmod 600 {HOSTILE}",
                      area="files", openclaw_ids=(HOSTILE,))
    report = AuditReport(user_home=f"/home/{HOSTILE}", findings=(finding,), checks_run=(),
                         notes=(HOSTILE,), problems=(HOSTILE,), version=HOSTILE)
    out = render_text(report)
    assert not _unsafe(out), _unsafe(out)
    assert not any(line.startswith("FORGED") for line in out.splitlines())

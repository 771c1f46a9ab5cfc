"""The redactor indexes its forms once and scans each string once, and redacts exactly as the
plain algorithm it replaced: every stored form, longest first, replaced everywhere."""

from __future__ import annotations

import base64
import threading
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from responders.interface import SecretValue, fingerprint
from responders.kit.redaction import Redactor


class PlainRedactor:
    """The previous implementation, kept as the reference: sort and test every form on every
    string (quadratic in the number of keys over a run, but obviously right)."""

    def __init__(self) -> None:
        self._forms: dict[str, str] = {}

    def add(self, value: str) -> None:
        if len(value) < 8:
            return
        label = f"<secret {fingerprint(value)}>"
        raw = value.encode()
        forms = {
            value,
            quote(value, safe=""),
            quote_plus(value),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="),
        }
        for form in forms:
            if len(form) >= 8:
                self._forms[form] = label

    def text(self, text: str) -> str:
        for form, label in sorted(self._forms.items(), key=lambda kv: -len(kv[0])):
            if form in text:
                text = text.replace(form, label)
        return text


# Characters that matter: URL-quoted and base64 alphabets, what a label is made of ("<secret
# …abcd sha256:0123abcd>"), and some beyond ASCII.
ALPHABET = "abcAB01+/=_-% :<>…sha256éß\u2028😀"
secrets_st = st.lists(st.text(alphabet=ALPHABET, min_size=5, max_size=24), max_size=6)


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, quote(value, safe=""), quote_plus(value), base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")]


@st.composite
def secrets_and_text(draw: st.DrawFn) -> tuple[list[str], str]:
    secrets = draw(secrets_st)
    pieces = st.text(alphabet=ALPHABET, max_size=12)
    if secrets:
        # Whole forms, overlapping halves and fillers, in any order.
        form = st.sampled_from(secrets).flatmap(lambda s: st.sampled_from(_forms(s)))
        half = form.flatmap(lambda f: st.sampled_from([f[: len(f) // 2], f[len(f) // 2 :]]))
        pieces = st.one_of(pieces, form, half)
    return secrets, "".join(draw(st.lists(pieces, max_size=10)))


@settings(max_examples=400, deadline=None)
@given(secrets_and_text())
def test_same_redactions_as_the_plain_algorithm(case: tuple[list[str], str]) -> None:
    secrets, text = case
    plain, indexed = PlainRedactor(), Redactor()
    for value in secrets:
        plain.add(value)
        indexed.add(SecretValue(value))
    assert indexed.text(text) == plain.text(text)
    assert indexed.value({text: [text, 1, None]}) == {plain.text(text): [plain.text(text), 1, None]}


@settings(max_examples=100, deadline=None)
@given(st.lists(secrets_and_text(), min_size=2, max_size=4))
def test_adding_after_scanning_rebuilds_the_index(cases: list[tuple[list[str], str]]) -> None:
    plain, indexed = PlainRedactor(), Redactor()
    for secrets, text in cases:  # add a batch, scan, add the next batch, scan again
        for value in secrets:
            plain.add(value)
            indexed.add(value)
        assert indexed.text(text) == plain.text(text)


def test_every_encoding_is_replaced_by_the_fingerprint() -> None:
    value = "sk-live/secret+value=="
    redactor = Redactor([SecretValue(value)])
    raw = value.encode()
    for form in (value, quote(value, safe=""), quote_plus(value), base64.b64encode(raw).decode(),
                 base64.urlsafe_b64encode(raw).decode()):
        assert redactor.text(f"before {form} after") == (
            f"before <secret {fingerprint(value)}> after"
        )
    assert redactor.text("nothing to see") == "nothing to see"
    assert Redactor().text("no secrets known") == "no secrets known"
    assert Redactor(["short"]).text("short") == "short"  # under 8 characters: never replaced


def test_concurrent_adds_and_scans_never_miss_a_secret_already_added() -> None:
    redactor = Redactor()
    values = [f"concurrent-secret-{i:05d}" for i in range(400)]
    leaks: list[str] = []

    def writer(chunk: list[str]) -> None:
        for value in chunk:
            redactor.add(value)
            if value in redactor.text(f"x {value} y"):
                leaks.append(value)

    threads = [threading.Thread(target=writer, args=(values[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert leaks == []
    assert all(value not in redactor.text(" ".join(values)) for value in values)

"""Last line of defence: no secret value leaves the engine, whatever a responder wrote.

Responders are told to return fingerprints only; the engine still scrubs every string it records
or prints, replacing any known secret (and its common encodings) with its fingerprint.

Every string the runner records passes through here, so the cost per string must not grow with
the number of secrets: with 2,000 keys there are ~12,000 stored forms, and testing each of them
on every string made revoking quadratic in the number of keys. The forms are indexed once per
batch of ``add`` calls into one Aho-Corasick automaton (pyahocorasick), which finds whether any
of them occurs in a string in a single pass over it. A string with no secret in it, the usual
case, is returned as it is after that one pass; one that holds a secret is replaced exactly as
before (longest form first, each everywhere), so what a redaction produces does not change.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from responders.interface import SecretValue, fingerprint

_MIN_SECRET_LEN = 8  # shorter values would replace innocent substrings


def stored_forms(value: str) -> set[str]:
    """The forms of a secret that get replaced: itself and its common encodings."""
    raw = value.encode()
    return {
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
    }


class _Index:
    """An immutable snapshot of the forms: the automaton that finds them and the replacement
    order (longest first, so a form inside a longer one never splits it)."""

    __slots__ = ("automaton", "ordered")

    def __init__(self, forms: Mapping[str, str]) -> None:
        self.ordered = sorted(forms.items(), key=lambda kv: -len(kv[0]))
        self.automaton: Any = None
        if forms:
            # Imported here: the panic path builds its runner (and an empty redactor) before
            # the stop, and needs the automaton only once discovery has found secrets.
            import ahocorasick

            automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
            for form in forms:
                automaton.add_word(form)
            automaton.make_automaton()
            self.automaton = automaton

    def holds_a_form(self, text: str) -> bool:
        if self.automaton is None:
            return False
        return next(self.automaton.iter(text), None) is not None


class Redactor:
    def __init__(self, secrets: Iterable[SecretValue] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: dict[str, str] = {}
        # Rebuilt lazily by the first ``text`` after an ``add``: a run adds all discovered
        # secrets at once, so the automaton is built once per batch, not once per secret.
        self._index: _Index | None = _Index({})
        for s in secrets:
            self.add(s)

    def add(self, secret: SecretValue | str) -> None:
        value = secret.reveal() if isinstance(secret, SecretValue) else secret
        if len(value) < _MIN_SECRET_LEN:
            return
        label = f"<secret {fingerprint(value)}>"
        with self._lock:
            for form in stored_forms(value):
                if len(form) >= _MIN_SECRET_LEN and self._forms.get(form) != label:
                    self._forms[form] = label
                    self._index = None

    def _current(self) -> _Index:
        index = self._index
        if index is None:
            with self._lock:
                if self._index is None:
                    self._index = _Index(self._forms)
                index = self._index
        return index

    def text(self, text: str) -> str:
        index = self._current()
        if not index.holds_a_form(text):
            return text
        for form, label in index.ordered:
            if form in text:
                text = text.replace(form, label)
        return text

    def value(self, obj: Any) -> Any:
        """Scrub every string inside a JSON-like structure."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {self.text(str(k)): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v) for v in obj]
        return obj

"""Last line of defence: no secret value leaves the engine, whatever a responder wrote.

Responders are told to return fingerprints only; the engine still scrubs every string it records
or prints, replacing any known secret (and its common encodings) with its fingerprint.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from responders.interface import SecretValue, fingerprint

_MIN_SECRET_LEN = 8  # shorter values would replace innocent substrings


class Redactor:
    def __init__(self, secrets: Iterable[SecretValue] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: dict[str, str] = {}
        for s in secrets:
            self.add(s)

    def add(self, secret: SecretValue | str) -> None:
        value = secret.reveal() if isinstance(secret, SecretValue) else secret
        if len(value) < _MIN_SECRET_LEN:
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
        with self._lock:
            for form in forms:
                if len(form) >= _MIN_SECRET_LEN:
                    self._forms[form] = label

    def text(self, text: str) -> str:
        with self._lock:
            forms = sorted(self._forms.items(), key=lambda kv: -len(kv[0]))
        for form, label in forms:
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

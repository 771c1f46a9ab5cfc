"""Validating a ``[providers.X]`` table: its shape, and that every credential in it is a reference.

A provider's settings are a frozen dataclass that pydantic validates (``extra = "forbid"``, so a
mistyped key is an error, not a silent default). Credentials in the table are *references*
(``env:NAME`` or ``keyring:SERVICE/USER``), never values: clawback.toml is read by people and
tools that must not see a secret. Every problem is a ResponderError whose message names the table
and says what to fix; pydantic's own text is used without the offending input, which could be a
pasted secret.

pydantic is imported inside ``validate_table``: the panic button must not pay for it at start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from responders.interface import ResponderError

S = TypeVar("S")

# OpenAI, Anthropic and GitHub were written to refuse a reference holding white space; the store
# itself (clawback.secret_store.is_reference) accepts one. Both stay as they were, so no
# configuration that validates today fails tomorrow, nor the other way round.
_REFERENCE_WITHOUT_SPACES = re.compile(r"^(env|keyring):\S+$")


def validate_table(settings_type: type[S], raw: Mapping[str, Any], table: str) -> S:
    """``raw`` as a ``settings_type``, or ResponderError naming every problem in ``table``."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(settings_type).validate_python(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ResponderError(f"[providers.{table}] is invalid: {problems}") from None


def require_references(
    table: str,
    references: Iterable[tuple[str, str | None]],
    *,
    noun: str = "value",
    spaces_allowed: bool = True,
) -> None:
    """Every ``(where, value)`` that is set must be a reference, not the ``noun`` itself."""
    from responders.kit.references import is_reference

    for where, value in references:
        if value is None:
            continue
        valid = is_reference(value) if spaces_allowed else _REFERENCE_WITHOUT_SPACES.match(value)
        if not valid:
            raise ResponderError(
                f"[providers.{table}] {where} must be a reference (env:NAME or "
                f"keyring:SERVICE/USER), never the {noun} itself"
            )


def require_positive_timeouts(table: str, *seconds: float) -> None:
    if min(seconds) <= 0:
        raise ResponderError(f"[providers.{table}] timeouts must be positive")


def require_store_target(table: str, store_name: str) -> None:
    """Replacements are stored under ``store_name`` with ``{target}`` filled in per key."""
    if "{target}" not in store_name:
        raise ResponderError(f"[providers.{table}] store_name must contain {{target}}")

"""Parameters and settings as plain frozen dataclasses, for the actions on the panic path.

pydantic costs the panic button ~100 ms of imports and model building before the agent is
stopped. The actions that run before the stop (the volatile snapshot, the stop itself) declare
their ``Params`` as frozen dataclasses instead: the engine validates a playbook's ``with:``
against them with pydantic when it checks the playbook (a ``TypeAdapter``, honouring
``__pydantic_config__``), and a playbook checked before rebuilds them without pydantic. Their
bounds are checked here, in ``__post_init__``, so a dataclass built directly is held to them too;
``tests/host/test_plain_params.py`` checks each against the pydantic model it replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

# Unknown keys in a step's ``with:`` are refused, as the pydantic models did (extra="forbid").
FORBID_EXTRA: dict[str, Any] = {"extra": "forbid"}

T = TypeVar("T")


def within(name: str, value: float | None, *, above: float | None = None,
           at_least: float | None = None, at_most: float | None = None) -> None:
    """Raise ValueError naming ``name`` when ``value`` (None: unset) is out of bounds."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number")
    low_ok = (above is None or value > above) and (at_least is None or value >= at_least)
    if low_ok and (at_most is None or value <= at_most):
        return
    bounds = [f"above {above:g}" if above is not None else "",
              f"at least {at_least:g}" if at_least is not None else "",
              f"at most {at_most:g}" if at_most is not None else ""]
    raise ValueError(f"{name}: expected a number {' and '.join(b for b in bounds if b)}, "
                     f"got {value:g}")


# What a settings value may be, by the kind its field declares.
_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list[str]": (list,),
}
_SAID = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
         "list[str]": "a list of strings"}


def from_table(cls: type[T], table: Mapping[str, Any] | None, *, what: str) -> T:
    """``cls`` (a dataclass) from the keys of ``table`` it declares; other keys belong to other
    steps and are ignored. Each value is checked against its field's kind (``int``, ``float``,
    ``str``, ``bool``, ``list[str]``, each optionally ``| None``): the engine validated the
    config already, this keeps a library caller's mistake from passing unnoticed."""
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not table or spec.name not in table:
            continue
        value: Any = table[spec.name]
        declared = str(spec.type).replace(" ", "")
        optional = declared.endswith("|None")
        kind = declared.removesuffix("|None")
        if value is None and optional:
            values[spec.name] = None
            continue
        allowed = _KINDS[kind]
        items: list[Any] = value if isinstance(value, list) else []
        wrong = (not isinstance(value, allowed) or (kind != "bool" and isinstance(value, bool))
                 or (kind == "list[str]" and not all(isinstance(v, str) for v in items)))
        if wrong:
            raise ValueError(f"{what}.{spec.name}: expected {_SAID[kind]}"
                             f"{' or nothing' if optional else ''}")
        values[spec.name] = list(value) if kind == "list[str]" else value
    return cls(**values)

"""The audit runs the checks clawback/audit/checklist.py lists: every check defined in a check
module is listed there once, and importing a module registers nothing by itself."""

from __future__ import annotations

import importlib
import pkgutil

import clawback.audit.checks as checks_package
from clawback.audit import checklist, openclaw_cli
from clawback.audit.model import RegisteredCheck


def _defined() -> dict[str, RegisteredCheck]:
    modules = [openclaw_cli] + [
        importlib.import_module(f"{checks_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(checks_package.__path__)
    ]
    found: dict[str, RegisteredCheck] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, RegisteredCheck):
                found[value.spec.id] = value
    return found


def test_every_defined_check_is_listed_once() -> None:
    listed = [registered.spec.id for registered in checklist.CHECKS]
    assert len(listed) == len(set(listed))
    assert sorted(_defined()) == sorted(listed)


def test_a_listed_check_is_the_function_itself() -> None:
    for registered in checklist.CHECKS:
        assert checklist.spec_for(registered.spec.id) is registered.spec
    assert checklist.spec_for("no.such_check") is None

"""The engine never names a provider: what it needs to know of one it asks the responder
through the contract (responders/interface.py) or the shared kit (responders/kit/). Adding a
provider is then one module and one entry point, and nothing in clawback/ changes.

import-linter checks the imports; this checks the words: no string in the engine's code is the
name of an API provider a registered responder acts on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import clawback
from clawback.audit.checks.readiness import needs_admin_credential
from clawback.registry import load_registry

# Secret-store schemes a user might type instead of keyring:/env: (config.py names them to
# refuse them with advice); a scheme is not a provider the engine acts on.
REFERENCE_SCHEMES = {("config.py", "aws")}


def _provider_names() -> set[str]:
    registry = load_registry()
    api = [cls for cls in registry.responders.values() if needs_admin_credential(cls)]
    names = {cls.name for cls in api} | {p for cls in api for p in cls.providers}
    assert {"aws", "openai", "stripe", "slack"} <= names  # the check has something to find
    return names


def test_no_string_in_the_engine_is_a_providers_name() -> None:
    names = _provider_names()
    root = Path(clawback.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.lower() in names
                    and (path.name, node.value) not in REFERENCE_SCHEMES):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    assert not found, "the engine names providers:\n" + "\n".join(found)

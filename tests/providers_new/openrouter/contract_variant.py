"""An in-memory workaround for a validator quirk; the vendored file stays verbatim.

openapi-core 0.23 reads a parameter's ``type`` as one string when it picks the parameter's
style deserializer, and fails with ``TypeError`` on OpenAPI 3.1's list form. OpenRouter writes
``offset`` as ``type: [integer, null]``. A query string cannot carry a JSON null, so the
parameter is the same with ``type: integer``: that is all this changes, for parameters only
(bodies keep their 3.1 type lists, which openapi-core validates correctly).
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from tests.contract_server import CONTRACTS


def openrouter_variant(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()) if isinstance(operation, dict) else ():
                schema = parameter.get("schema", {})
                kinds = schema.get("type")
                if isinstance(kinds, list):
                    (schema["type"],) = [k for k in kinds if k != "null"]
    return spec


@functools.cache
def openrouter_description() -> Any:
    """The adjusted description, parsed once (for checking the stand-in's own answers)."""
    from openapi_core import OpenAPI

    spec = openrouter_variant(json.loads((CONTRACTS / "openrouter.json").read_text()))
    spec["servers"] = [{"url": "/"}]
    return OpenAPI.from_dict(spec)

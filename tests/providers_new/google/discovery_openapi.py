"""Google's Discovery document for the API Keys API, turned into OpenAPI 3.0 for openapi-core.

Google publishes no OpenAPI description; its machine-readable description is the Discovery
document (``tests/contracts/apikeys-v2-discovery.json``). The conversion is mechanical and keeps
every constraint the Discovery document states:

- each method becomes an operation at its ``flatPath`` (``v2/{+name}`` with pattern
  ``^projects/[^/]+/locations/[^/]+/keys/[^/]+$`` is
  ``/v2/projects/{projectsId}/locations/{locationsId}/keys/{keysId}``: one path parameter per
  segment, as Google's own clients expand it), with its ``httpMethod``;
- its parameters keep their location, type, format, enum and ``required`` (not ``default``,
  which constrains no request); the document-wide
  parameters (``alt``, ``fields``, ``key``, ...) are allowed on every operation;
- ``request`` becomes a required JSON body, ``response`` the 200 answer;
- ``scopes`` become a required bearer token (the document's ``auth.oauth2``);
- schemas: ``$ref`` to ``#/components/schemas``, ``type: any`` to an unconstrained schema,
  ``google-datetime`` to ``date-time``, ``google-fieldmask`` and ``int32`` kept as formats,
  ``readOnly`` kept (openapi-core then refuses an output-only field in a request body).

One addition the Discovery format cannot state: an object with listed ``properties`` gets
``additionalProperties: false``. Google maps JSON onto protocol buffers and answers an unknown
field with 400 "Invalid JSON payload received. Unknown name" (cloud.google.com/apis/design/
errors, and every Google REST API), so a request with a field the description does not list is
one Google would refuse.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_FORMATS = {"google-datetime": "date-time"}


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = f"#/components/schemas/{value}"
        elif key == "id" or (key == "type" and value == "any"):
            continue  # the schema's own name; "any" constrains nothing
        elif key == "format":
            out["format"] = _FORMATS.get(value, value)
        elif key in ("properties", "additionalProperties", "items"):
            if key == "properties":
                out[key] = {name: _schema(sub) for name, sub in value.items()}
            else:
                out[key] = _schema(value)
        else:
            out[key] = copy.deepcopy(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if "$ref" in out and len(out) > 1:  # OpenAPI 3.0 ignores siblings of $ref
        return {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _parameter(name: str, spec: dict[str, Any], where: str) -> dict[str, Any]:
    # ``default`` is left out: Discovery writes a boolean's as the string "true", and a default
    # constrains no request.
    schema = {k: v for k, v in spec.items() if k in ("type", "format", "enum")}
    if "format" in schema:
        schema["format"] = _FORMATS.get(schema["format"], schema["format"])
    return {
        "name": name,
        "in": where,
        "required": bool(spec.get("required")) or where == "path",
        "schema": schema,
    }


def _methods(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(resource.get("methods", {}).values())
    for child in resource.get("resources", {}).values():
        found += _methods(child)
    return found


def to_openapi(discovery: dict[str, Any]) -> dict[str, Any]:
    """The Discovery document as an OpenAPI 3.0 description (see the module docstring)."""
    common = [_parameter(n, s, "query") for n, s in discovery.get("parameters", {}).items()]
    paths: dict[str, dict[str, Any]] = {}
    for method in _methods(discovery):
        flat = "/" + method["flatPath"]
        segment_params = re.findall(r"\{([^}]+)\}", flat)
        parameters = [_parameter(p, {"type": "string", "required": True}, "path")
                      for p in segment_params]
        for name, spec in method.get("parameters", {}).items():
            if spec.get("location") == "query":
                parameters.append(_parameter(name, spec, "query"))
        named = {p["name"] for p in parameters}
        parameters += [p for p in common if p["name"] not in named]
        operation: dict[str, Any] = {
            "operationId": method["id"],
            "parameters": parameters,
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{method['response']['$ref']}"}}}}},
        }
        if method.get("scopes"):
            operation["security"] = [{"oauth2": []}]
        if "request" in method:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{method['request']['$ref']}"}}}}
        paths.setdefault(flat, {})[method["httpMethod"].lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": discovery["title"], "version": discovery["version"],
                 "description": f"Converted from the Discovery document {discovery['id']} "
                 f"revision {discovery['revision']}"},
        "servers": [{"url": discovery["rootUrl"].rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": {n: _schema(s) for n, s in discovery["schemas"].items()},
            "securitySchemes": {"oauth2": {"type": "http", "scheme": "bearer"}},
        },
    }

"""Tool schemas every client reads: the form ``tools/list`` shows (and arguments are checked against).

The serializer-derived schemas (``mcp_gateway.schema``) are exact JSON Schema, but some clients map
tool schemas onto a single-``type`` dialect (e.g. the OpenAPI subset of Gemini function
declarations) and reject or weaken what they cannot express. :func:`portable` rewrites, with the
same meaning:

- a ``type`` array (``["integer", "null"]``) → ``anyOf`` branches of one type each;
- a schema that constrains nothing (``{}``: JSON fields, method fields) → ``anyOf`` of every JSON
  type, so each branch is typed;
- in input schemas, an ``integer`` without bounds gets them (ids and counts ≥ the JSON-safe
  range, ``offset`` at most ``MAX_OFFSET``), so an out-of-range value is an INVALID_PARAMS naming
  the bound instead of an overflow in the database.

:func:`lint` reports what the MCP Inspector's portability check warns about (type unions,
untyped schemas); tests assert it finds nothing.
"""

from __future__ import annotations

MAX_SAFE_INTEGER = 2**53 - 1  # JSON numbers every client parses exactly
MAX_OFFSET = 2**31 - 1
JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
ANY = {"anyOf": [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]}

_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")
_ARRAYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SINGLE = ("items", "contains", "not", "propertyNames", "if", "then", "else", "additionalProperties",
           "unevaluatedProperties", "additionalItems", "unevaluatedItems", "contentSchema")
_NOT_CONSTRAINTS = {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
                    "$comment", "$schema", "$id", "$anchor", "if", "then", "else"}
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly")


def _constrains(node: dict) -> bool:
    if "if" in node and ("then" in node or "else" in node):
        return True
    return any(k not in _NOT_CONSTRAINTS for k in node)


def portable(schema, *, inputs: bool = False, name: str = ""):
    """The portable form of ``schema`` (a new dict; ``schema`` is not changed)."""
    if not isinstance(schema, dict):
        return schema
    node = {}
    for key, value in schema.items():
        if key in _MAPS and isinstance(value, dict):
            node[key] = {k: portable(v, inputs=inputs, name=k if key == "properties" else "") for k, v in value.items()}
        elif key in _ARRAYS and isinstance(value, list):
            node[key] = [portable(v, inputs=inputs) for v in value]
        elif key in _SINGLE and isinstance(value, dict):
            node[key] = portable(value, inputs=inputs)
        else:
            node[key] = value
    types = node.get("type")
    if isinstance(types, list):
        annotations = {k: node.pop(k) for k in _ANNOTATIONS if k in node}
        base = {k: v for k, v in node.items() if k != "type"}
        enum = base.pop("enum", None)
        branches = []
        for t in types:
            branch = {"type": t} if t == "null" else {**base, "type": t}
            if enum is not None and t != "null":
                branch["enum"] = [v for v in enum if v is not None]
            branches.append(bounded(branch, name) if inputs else branch)
        return {**annotations, "anyOf": branches}
    if not _constrains(node):
        return {**node, **ANY}
    return bounded(node, name) if inputs else node


def bounded(node: dict, name: str = "") -> dict:
    if node.get("type") != "integer":
        return node
    if "minimum" not in node and "exclusiveMinimum" not in node:
        node = {**node, "minimum": -MAX_SAFE_INTEGER}
    if "maximum" not in node and "exclusiveMaximum" not in node:
        node = {**node, "maximum": MAX_OFFSET if name == "offset" else MAX_SAFE_INTEGER}
    return node


def _walk(schema, path: str, check) -> list[str]:
    """``check(node, path)`` on every subschema of ``schema``; the findings of all of them."""
    found: list[str] = []
    if not isinstance(schema, dict):
        return found
    found += check(schema, path)
    for key in _MAPS:
        if isinstance(schema.get(key), dict):
            for k, v in schema[key].items():
                found += _walk(v, f"{path}.{key}.{k}", check)
    for key in _ARRAYS:
        if isinstance(schema.get(key), list):
            for i, v in enumerate(schema[key]):
                found += _walk(v, f"{path}.{key}[{i}]", check)
    for key in _SINGLE:
        if isinstance(schema.get(key), dict):
            found += _walk(schema[key], f"{path}.{key}", check)
    return found


def lint(schema) -> list[str]:
    """Portability warnings of ``schema`` (the Inspector's ``type-union`` and ``untyped-schema``)."""

    def check(node, path):
        found = []
        types = node.get("type")
        if isinstance(types, list) and types and all(t in JSON_TYPES for t in types) and len(set(types)) == len(types):
            found.append(f"{path or '<root>'}: type is an array {types}")
        if not _constrains(node) and not path.endswith(".not"):
            found.append(f"{path or '<root>'}: constrains nothing")
        return found

    return _walk(schema, "", check)


def unbounded_integers(schema) -> list[str]:
    """Integer schemas of an input schema without a lower or upper bound."""

    def check(node, path):
        keys = set(node)
        if node.get("type") == "integer" and (not ({"minimum", "exclusiveMinimum"} & keys)
                                              or not ({"maximum", "exclusiveMaximum"} & keys)):
            return [path or "<root>"]
        return []

    return _walk(schema, "", check)

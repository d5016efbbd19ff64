"""The blueprint document: data, not code.

::

    kind: blueprint                  # optional
    name: webserver-cluster          # lower case, digits, - _ .
    version: 1.0.0                   # semver
    title: ...
    description: ...
    parameters:                      # a JSON Schema (type: object) an assistant can read
      type: object
      properties:
        count: {type: integer, minimum: 1, maximum: 20, default: 3, description: ...}
        db_password: {type: string, writeOnly: true}     # secret: masked everywhere, sealed in the run
      required: [...]
    steps:
      - id: web                      # names its outputs for later steps: {{ steps.web.devices }}
        action: select_devices       # one of actions.ACTIONS
        title: ...                   # optional
        args: {tag: "{{ params.tag }}", count: "{{ params.count }}"}

Arguments are rendered with the configuration's sandboxed Jinja2 (StrictUndefined, caps) with
``params``, ``steps`` (earlier steps' outputs) and ``tenant``. A string that is one expression
(``"{{ params.count }}"``) keeps the value's type (a number, a list); any other string is text.

:func:`validate` checks the shape, the actions and their argument names, every template's syntax
and every reference: ``params.X`` must be a declared parameter, ``steps.Y`` an earlier step (a
reference to the step itself or a later one would be a cycle), no other free names.
"""

from __future__ import annotations

import json
import re

import yaml
from django.core.exceptions import ValidationError

NAME_RE = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
SEMVER_RE = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
STEP_ID_RE = r"^[a-z_][a-z0-9_]{0,49}$"
MAX_DOCUMENT_BYTES = 256 * 1024
NAMES = {"params", "steps", "tenant"}
MASK = "********"

SCHEMA = {
    "type": "object",
    "required": ["name", "version", "steps"],
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "blueprint"},
        "name": {"type": "string", "pattern": NAME_RE},
        "version": {"type": "string", "pattern": SEMVER_RE},
        "title": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 20000},
        "parameters": {"type": "object"},
        "steps": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
            "type": "object", "required": ["id", "action"], "additionalProperties": False,
            "properties": {"id": {"type": "string", "pattern": STEP_ID_RE},
                           "action": {"type": "string"},
                           "title": {"type": "string", "maxLength": 200},
                           "args": {"type": "object"}}}},
    },
}


def parse(text) -> dict:
    """A document from YAML or JSON text (or already a mapping); ValidationError on bad input."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        raise ValidationError({"document": ["A YAML or JSON document (text) or an object."]})
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise ValidationError({"document": [f"Larger than {MAX_DOCUMENT_BYTES} bytes."]})
    try:
        if any(isinstance(token, yaml.AliasToken) for token in yaml.scan(text)):
            raise ValidationError({"document": ["YAML aliases (*name) are not accepted."]})
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError({"document": [f"Not valid YAML or JSON: {exc}"]}) from None
    if not isinstance(doc, dict):
        raise ValidationError({"document": ["A blueprint document is a mapping (name, version, parameters, steps)."]})
    return json.loads(json.dumps(doc, default=str))  # dates and such as text: JSON only


def _schema_errors(schema, value) -> list[str]:
    from inventory.configuration.models.roles import schema_errors

    return schema_errors(schema, value)


def validate(doc) -> dict:
    """The document if it is valid, else ValidationError({"document": ["steps[2].args.role: ...", ...]})."""
    from . import actions

    if not isinstance(doc, dict):
        raise ValidationError({"document": ["A blueprint document is a mapping."]})
    errors = _schema_errors(SCHEMA, doc)
    if errors:
        raise ValidationError({"document": errors})
    problems = []
    params = doc.get("parameters") or {"type": "object", "properties": {}}
    problems += _check_parameters(params)
    declared = set((params.get("properties") or {}).keys()) if isinstance(params, dict) else set()
    seen: list[str] = []
    all_ids = [s["id"] for s in doc["steps"]]
    for i, step in enumerate(doc["steps"]):
        where = f"steps[{i}] ({step['id']})"
        if step["id"] in seen:
            problems.append(f"{where}.id: '{step['id']}' is used by an earlier step; step ids are unique.")
        kind = actions.ACTIONS.get(step["action"])
        if kind is None:
            problems.append(f"{where}.action: unknown action {step['action']!r}; known: {', '.join(actions.ACTIONS)}.")
            seen.append(step["id"])
            continue
        args = step.get("args") or {}
        unknown = sorted(set(args) - set(kind.arguments))
        if unknown:
            problems.append(f"{where}.args: unknown argument(s) {', '.join(unknown)} for {step['action']}; "
                            f"known: {', '.join(kind.arguments)}.")
        missing = [a for a in kind.required if a not in args]
        if kind.one_of and not any(a in args for a in kind.one_of):
            missing.append(" or ".join(kind.one_of))
        if missing:
            problems.append(f"{where}.args: {step['action']} needs {', '.join(missing)}.")
        rendered = {k: v for k, v in args.items() if k not in kind.raw}
        for path, text in _strings(rendered, "args"):
            problems += _check_template(text, f"{where}.{path}", declared, seen, all_ids, step["id"])
        seen.append(step["id"])
    if problems:
        raise ValidationError({"document": problems})
    return doc


def _check_parameters(params) -> list[str]:
    import jsonschema_rs

    if not isinstance(params, dict) or params.get("type") != "object":
        return ["parameters: a JSON Schema with type: object."]
    try:
        jsonschema_rs.meta.validate(params)
        jsonschema_rs.validator_for(params, offline=True)
    except (jsonschema_rs.ValidationError, ValueError, jsonschema_rs.ReferencingError) as exc:
        return [f"parameters: not a valid JSON Schema: {exc}"]
    out = []
    for name, prop in (params.get("properties") or {}).items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            out.append(f"parameters.properties.{name}: a parameter name is letters, digits and _.")
        if isinstance(prop, dict) and "default" in prop:
            out += [f"parameters.properties.{name}.default: {e}" for e in _schema_errors(prop, prop["default"])]
    return out


def _strings(value, path):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def references(text: str) -> tuple[set, set, set]:
    """(params used, steps used, other free names) of a template."""
    from jinja2 import meta, nodes

    from inventory.configuration.rendering import env

    ast = env().parse(text)
    used_params, used_steps = set(), set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node
        if isinstance(base, nodes.Name) and base.name in ("params", "steps"):
            key = node.attr if isinstance(node, nodes.Getattr) else (
                node.arg.value if isinstance(node.arg, nodes.Const) else None)
            if key is not None:
                (used_params if base.name == "params" else used_steps).add(str(key))
    free = meta.find_undeclared_variables(ast) - NAMES - {"secret"}
    return used_params, used_steps, free


def _check_template(text, where, declared, earlier, all_ids, own) -> list[str]:
    from inventory.configuration.rendering import RenderError, check_syntax

    if "{" not in text:
        return []
    try:
        check_syntax(text, where)
        used_params, used_steps, free = references(text)
    except RenderError as exc:
        return [f"{where}: template error" + (f" line {exc.line}" if exc.line else "") + f": {exc.message}"]
    except Exception as exc:  # noqa: BLE001 - jinja's parser errors
        return [f"{where}: template error: {exc}"]
    out = [f"{where}: unknown parameter params.{p} (declared: {', '.join(sorted(declared)) or 'none'})."
           for p in sorted(used_params - declared)]
    for s in sorted(used_steps - set(earlier)):
        if s == own:
            out.append(f"{where}: steps.{s} is this step itself (a cycle).")
        elif s in all_ids:
            out.append(f"{where}: steps.{s} is a later step; a step can only use earlier steps' outputs "
                       "(this would be a cycle).")
        else:
            out.append(f"{where}: unknown step steps.{s}.")
    out += [f"{where}: unknown name {n!r} (use params.*, steps.* or tenant.*)." for n in sorted(free)]
    return out


# --- parameters ----------------------------------------------------------------------------
def parameter_schema(doc: dict) -> dict:
    return doc.get("parameters") or {"type": "object", "properties": {}, "additionalProperties": False}


def secret_names(doc: dict) -> set[str]:
    props = parameter_schema(doc).get("properties") or {}
    return {n for n, p in props.items() if isinstance(p, dict) and (p.get("writeOnly") or p.get("format") == "password")}


def with_defaults(doc: dict, params: dict) -> dict:
    props = parameter_schema(doc).get("properties") or {}
    out = dict(params)
    for name, prop in props.items():
        if name not in out and isinstance(prop, dict) and "default" in prop:
            out[name] = prop["default"]
    return out


def check_params(doc: dict, params) -> dict:
    """The parameters with defaults filled in, or ValidationError({"params": {name: [..]}})."""
    if not isinstance(params, dict):
        raise ValidationError({"params": ["Parameters are a JSON object."]})
    full = with_defaults(doc, params)
    schema = parameter_schema(doc)
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(schema, offline=True)
    fields: dict[str, list[str]] = {}
    for e in validator.iter_errors(full):
        path = list(e.instance_path)
        key = str(path[0]) if path else "non_field_errors"
        message = e.message
        required = re.match(r"""^["'](.+?)["'] is a required property""", message) if not path else None
        if required:
            key, message = required.group(1), "This parameter is required."
        elif not path and "Additional properties are not allowed" in message:
            for extra in sorted(set(full) - set(schema.get("properties") or {})):
                fields.setdefault(extra, []).append("Unknown parameter.")
            continue
        if secret_names(doc) & {key}:
            message = message.replace(str(full.get(key)), MASK) if full.get(key) else message
        fields.setdefault(key, []).append(message)
    if fields:
        raise ParamsError(fields)
    return full


class ParamsError(ValidationError):
    """Parameter errors keyed by parameter name (the REST shape: {"params": {name: [...]}})."""

    def __init__(self, fields: dict):
        super().__init__({"params": [f"{k}: {'; '.join(v)}" for k, v in fields.items()]})
        self.fields = fields


def masked(doc: dict, params: dict) -> dict:
    names = secret_names(doc)
    return {k: (MASK if k in names and v not in (None, "") else v) for k, v in params.items()}


def as_yaml(doc: dict) -> str:
    from inventory.configuration.documents import _Dumper

    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True)

"""The kinds of custom tool: each a thin declaration over a built-in tool or service.

``query``: a saved, parameterized call of a built-in read-only list tool (``device_list``,
``network_list``, ``job_list``, ...; any ``*_list`` tool, so new kinds join by themselves)::

    {"over": "devices",                       # or the list tool's name, "device_list"
     "filters": {"tags": ["prod", "web"]},    # fixed arguments of the list tool
     "params": {"datacenter": "datacenter_id"},  # tool parameter -> list tool argument
     "fields": ["name", "addresses", "os"],   # fields per item (default: the list's brief set)
     "limit": 50}                             # most items returned (cap)

``command``: a command template run through the jobs machinery (``command_execute``'s service) on
the devices a selector matches::

    {"command": "systemctl restart {{ service }}",   # sandboxed Jinja2; every value shell-quoted;
                                                     # secret('name'): the device's secret, resolved by the worker
     "selector": {"tags": ["web"]},                  # fixed: tags (all), datacenter_id, status, ids
     "params": {"datacenter": "datacenter_id"},      # tool parameter -> selector key
     "max_devices": 10, "timeout": 60, "destructive": true}

``blueprint``: a preset ``use_blueprint`` (inventory.blueprints): the blueprint, fixed parameters
and the tool's parameters mapped onto the blueprint's; as for ``use_blueprint``, the gateway's
``dry_run`` answers the plan and a destructive plan asks for confirmation first::

    {"blueprint": "webserver-cluster", "source": "official",   # source, version: optional
     "preset": {"tag": "web", "listen_port": 80},             # fixed blueprint parameters
     "params": {"servers": "count"}}                          # tool parameter -> blueprint parameter

A custom tool never reaches further than its caller: it runs the built-in tool or service with the
caller's own principal, narrowed (never widened) to the tool's tenant and allowed roles.
"""

from __future__ import annotations

import jsonschema
from django.conf import settings
from django.core.exceptions import ValidationError

QUERY_RESERVED = ("fields", "offset")  # set by the definition, not by parameters
SELECTOR_KEYS = {
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 20},
    "datacenter_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "status": {"type": "string", "maxLength": 32},
    "ids": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "maxItems": 1000},
}
MAX_DEVICES = 100


# --- parameters --------------------------------------------------------------------------------
def validate_parameters(schema) -> dict:
    """The tool's input schema: a JSON Schema object whose properties are all typed."""
    if schema in (None, ""):
        schema = {}
    if not isinstance(schema, dict):
        raise ValidationError("A JSON Schema object.")
    schema = {"type": "object", "properties": {}, **schema}
    if schema.get("type") != "object":
        raise ValidationError("The root of the parameters schema must have type 'object'.")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError(f"Not a valid JSON Schema: {exc.message}") from None
    props = schema.get("properties")
    if not isinstance(props, dict):
        raise ValidationError("'properties' must be an object.")
    for name, prop in props.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValidationError(f"Parameter name {name!r}: letters, digits and underscores, not starting with _.")
        if not isinstance(prop, dict) or not isinstance(prop.get("type"), str):
            raise ValidationError(f"Parameter {name!r} needs one type (a string such as \"integer\"), "
                                  "so that every client can read the schema.")
    missing = [r for r in schema.get("required", []) if r not in props]
    if missing:
        raise ValidationError(f"Required parameters that are not declared: {', '.join(missing)}.")
    schema.setdefault("additionalProperties", False)
    return schema


def validate_definition(kind: str, definition, parameters: dict) -> dict:
    if not isinstance(definition, dict):
        raise ValidationError("An object.")
    validator = {"query": _query_definition, "command": _command_definition, "blueprint": _blueprint_definition}[kind]
    return validator(definition, parameters)


def _unknown(definition: dict, allowed: set[str]):
    extra = sorted(set(definition) - allowed)
    if extra:
        raise ValidationError(f"Unknown keys: {', '.join(extra)} (allowed: {', '.join(sorted(allowed))}).")


def _check_params_map(mapping, parameters: dict, targets: set[str], target_kind: str, *,
                      all_mapped: bool = True) -> dict:
    if not isinstance(mapping, dict):
        raise ValidationError("'params' maps parameter names to arguments.")
    declared = set(parameters.get("properties", {}))
    for param, target in mapping.items():
        if param not in declared:
            raise ValidationError(f"'params' names {param!r}, which is not a declared parameter.")
        if target not in targets:
            raise ValidationError(f"Parameter {param!r} maps to {target!r}, which is not one of the {target_kind}: "
                                  f"{', '.join(sorted(targets))}.")
    unmapped = sorted(declared - set(mapping))
    if unmapped and all_mapped:
        raise ValidationError(f"Parameters that 'params' does not map: {', '.join(unmapped)}.")
    return mapping


# --- query ---------------------------------------------------------------------------------------
def list_tools() -> dict[str, object]:
    """alias or name -> built-in read-only list tool (``devices`` and ``device_list`` alike)."""
    from mcp_gateway.registry import registry

    tools = {}
    for tool in registry.all():
        if tool.name.endswith("_list") and tool.read_only:
            base = tool.name[: -len("_list")]
            tools[tool.name] = tool
            tools[base if base.endswith("s") else "discovered" if base == "discovery" else f"{base}s"] = tool
    return tools


def query_target(definition: dict):
    over = definition.get("over")
    tool = list_tools().get(over) if isinstance(over, str) else None
    if tool is None:
        names = sorted(n for n in list_tools() if not n.endswith("_list"))
        raise ValidationError(f"'over' must be one of: {', '.join(names)}.")
    return tool


def _query_definition(definition: dict, parameters: dict) -> dict:
    _unknown(definition, {"over", "filters", "params", "fields", "limit"})
    tool = query_target(definition)
    props = tool.input_schema["properties"]
    arguments = set(props) - set(QUERY_RESERVED)
    filters = definition.get("filters", {})
    if not isinstance(filters, dict):
        raise ValidationError("'filters' is an object of the list's arguments.")
    bad = sorted(set(filters) - arguments)
    if bad:
        raise ValidationError(f"Unknown filters for {tool.name}: {', '.join(bad)} (known: {', '.join(sorted(arguments))}).")
    mapping = _check_params_map(definition.get("params", {}), parameters, arguments - set(filters),
                                f"{tool.name} arguments not fixed by 'filters'")
    fields = definition.get("fields")
    if fields is not None:
        known = props["fields"]["items"]["enum"]
        if not isinstance(fields, list) or not fields or any(f not in known for f in fields):
            raise ValidationError(f"'fields' is a list among: {', '.join(known)}.")
    limit = definition.get("limit", settings.MCP_LIST_DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= settings.MCP_LIST_MAX_LIMIT:
        raise ValidationError(f"'limit' is a whole number from 1 to {settings.MCP_LIST_MAX_LIMIT}.")
    _check_arguments(tool, {**filters, "limit": limit, **({"fields": fields} if fields else {})}, partial=True)
    return {"over": definition["over"], "filters": filters, "params": mapping,
            **({"fields": fields} if fields else {}), "limit": limit}


def _check_arguments(tool, args: dict, *, partial: bool = False):
    """Validate arguments against a built-in tool's schema (``partial``: required ones may be missing)."""
    from mcp_gateway.registry import InvalidParams
    from mcp_gateway.server import validate_arguments

    try:
        validate_arguments(tool, args)
    except InvalidParams as exc:
        details = {k: v for k, v in exc.details.items() if not (partial and v == ["This field is required."])}
        if details:
            raise ValidationError("; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in details.items())) from None


def query_arguments(definition: dict, args: dict) -> dict:
    """The list tool's arguments for one call of the custom tool."""
    built = dict(definition.get("filters", {}))
    for param, target in definition.get("params", {}).items():
        if param in args:
            built[target] = args[param]
    cap = definition["limit"]
    built["limit"] = min(built.get("limit", cap), cap)
    if definition.get("fields"):
        built["fields"] = definition["fields"]
    return built


# --- command -------------------------------------------------------------------------------------
def _environment():
    from inventory.jobs.command_templates import environment

    return environment()


def _command_definition(definition: dict, parameters: dict) -> dict:
    from jinja2 import TemplateSyntaxError

    _unknown(definition, {"command", "selector", "params", "max_devices", "timeout", "destructive"})
    command = definition.get("command")
    if not isinstance(command, str) or not command.strip() or len(command) > 10000 or "\x00" in command:
        raise ValidationError("'command' is a non-empty command template of at most 10,000 characters.")
    try:
        _environment().parse(command)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"'command' line {exc.lineno}: {exc.message}") from None
    selector = definition.get("selector", {})
    if not isinstance(selector, dict):
        raise ValidationError("'selector' is an object.")
    bad = sorted(set(selector) - set(SELECTOR_KEYS))
    if bad:
        raise ValidationError(f"Unknown selector keys: {', '.join(bad)} (known: {', '.join(sorted(SELECTOR_KEYS))}).")
    for key, value in selector.items():
        try:
            jsonschema.validate(value, SELECTOR_KEYS[key])
        except jsonschema.ValidationError as exc:
            raise ValidationError(f"selector.{key}: {exc.message}") from None
    mapping = _check_params_map(definition.get("params", {}), parameters, set(SELECTOR_KEYS) - set(selector),
                                "selector keys not fixed by 'selector'", all_mapped=False)  # others: the template's
    if not selector and not mapping:
        raise ValidationError("A command tool needs a 'selector' (or parameters mapped onto one): it never "
                              "runs on every device.")
    max_devices = definition.get("max_devices", 10)
    if not isinstance(max_devices, int) or isinstance(max_devices, bool) or not 1 <= max_devices <= MAX_DEVICES:
        raise ValidationError(f"'max_devices' is a whole number from 1 to {MAX_DEVICES}.")
    timeout = definition.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)
                                or not 1 <= timeout <= settings.JOBS_COMMAND_MAX_TIMEOUT):
        raise ValidationError(f"'timeout' is a whole number of seconds from 1 to {settings.JOBS_COMMAND_MAX_TIMEOUT}.")
    destructive = definition.get("destructive", True)
    if not isinstance(destructive, bool):
        raise ValidationError("'destructive' is true or false.")
    return {"command": command, "selector": selector, "params": mapping, "max_devices": max_devices,
            **({"timeout": timeout} if timeout else {}), "destructive": destructive}


def render_command(definition: dict, args: dict, device) -> tuple[str, dict | None]:
    """The command for one device: parameters and ``device`` (name, id) as shell-quoted words;
    ``secret('name')`` as ``«secret:name»`` (the worker resolves it: inventory.jobs.command_templates).
    Returns (the command as stored and shown, the sealed template for the worker or None)."""
    from inventory.jobs.command_templates import prepare

    return prepare(definition["command"], {**args, "device": {"id": device.pk, "name": device.name}}, device)


def select_devices(principal, definition: dict, args: dict):
    """The devices a command tool runs on: the selector, narrowed to what the principal may run jobs on."""
    from inventory.models import Device
    from inventory.tenancy import Action

    selector = dict(definition.get("selector", {}))
    for param, key in definition.get("params", {}).items():
        if param in args:
            selector[key] = args[param]
    qs = Device.objects.restrict(principal, Action.EXECUTE)
    for tag in selector.get("tags", []):
        qs = qs.filter(tags__name=tag)
    if selector.get("datacenter_id") is not None:
        qs = qs.filter(datacenter_id=selector["datacenter_id"])
    if selector.get("status"):
        qs = qs.filter(status=selector["status"])
    if selector.get("ids") is not None:
        qs = qs.filter(pk__in=selector["ids"])
    return list(qs.order_by("name", "pk")[: definition["max_devices"] + 1])


# --- blueprint -----------------------------------------------------------------------------------
def _blueprint_definition(definition: dict, parameters: dict) -> dict:
    import re

    from inventory.blueprints.documents import NAME_RE
    from inventory.blueprints.models import Blueprint, Source

    _unknown(definition, {"blueprint", "source", "version", "preset", "params"})
    name = definition.get("blueprint")
    if not isinstance(name, str) or not re.match(NAME_RE, name):
        raise ValidationError("'blueprint' names the blueprint to run (lower case, digits, - _ .).")
    source = definition.get("source")
    if source is not None and source not in Source.values:
        raise ValidationError(f"'source' is one of {', '.join(Source.values)}.")
    version = definition.get("version")
    if version is not None and (not isinstance(version, str) or len(version) > 40):
        raise ValidationError("'version' is a version string.")
    preset = definition.get("preset", {})
    if not isinstance(preset, dict):
        raise ValidationError("'preset' maps blueprint parameters to fixed values.")
    # a shared blueprint's parameters are known here; a private one's are checked when it runs
    shared = Blueprint.objects.filter(name=name).exclude(source=Source.PRIVATE)
    if source:
        shared = shared.filter(source=source)
    known = next((set((b.document.get("parameters") or {}).get("properties") or {}) for b in shared), None)
    targets = known if known is not None else {str(v) for v in (definition.get("params") or {}).values()}
    if known is not None and set(preset) - known:
        raise ValidationError(f"'preset' names unknown parameters of {name}: {', '.join(sorted(set(preset) - known))}.")
    mapping = _check_params_map(definition.get("params", {}), parameters, targets - set(preset),
                                f"parameters of blueprint {name} not preset")
    return {"blueprint": name, **({"source": source} if source else {}), **({"version": version} if version else {}),
            "preset": preset, "params": mapping}


def blueprint_call(definition: dict, args: dict) -> dict:
    """use_blueprint's arguments for a call of a blueprint tool."""
    params = dict(definition.get("preset") or {})
    for param, target in (definition.get("params") or {}).items():
        if param in args:
            params[target] = args[param]
    return {"name": definition["blueprint"], "params": params, "source": definition.get("source"),
            "version": definition.get("version")}

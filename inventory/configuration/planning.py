"""Rendering a role for a device (role test / preview, and the worker's run) and a device's plan.

A device's plan: its assignments in order; before each role, its dependencies (in their order,
depth first); every role once, at its first place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .facts import device_facts
from .models import Role, RoleAssignment
from .rendering import RenderError, Secrets, render
from .resolve import effective_secrets, effective_variables, plain
from .steps import Operation, StepRender
from .steps import get as step_type


def ordered_roles(pairs: list[tuple]) -> list[tuple]:
    """[(role, assignment)] with every role's dependencies first; each role once."""
    out, seen = [], set()

    def visit(role, assignment, stack):
        if role.pk in seen or role.pk in stack:
            return
        for dep in role.ordered_dependencies():
            visit(dep, None, stack | {role.pk})
        seen.add(role.pk)
        out.append((role, assignment))

    for role, assignment in pairs:
        visit(role, assignment, frozenset())
    return out


def device_plan_roles(device) -> list[tuple]:
    rows = RoleAssignment.objects.filter(device=device).select_related("role").order_by("position", "pk")
    return ordered_roles([(a.role, a) for a in rows])


@dataclass
class Rendered:
    role: Role
    variables: dict
    steps: list[dict] = field(default_factory=list)  # [{"step": RoleStep, "operations": [...], guards}]
    files: list = field(default_factory=list)  # every template of the role, rendered (Operation.file)
    errors: list[dict] = field(default_factory=list)
    secrets_used: set = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors


def render_role(role: Role, device, assignment=None, *, reveal: bool = False, steps=None) -> Rendered:
    """Every step of ``role`` for ``device``: operations (files and commands) and guards.

    ``reveal=False`` (preview): ``secret()`` gives ``«secret:NAME»``. ``reveal=True`` (worker
    only): the decrypted values. Errors are collected, never raised.
    """
    from .models.roles import schema_errors

    if assignment is None:
        assignment = RoleAssignment.objects.filter(device=device, role=role).first()
    variables = effective_variables(device, [(role, assignment)])
    values = plain(variables)
    result = Rendered(role=role, variables=variables)
    if role.parameters_schema:
        for message in schema_errors(role.parameters_schema, values):
            result.errors.append({"kind": "schema", "template": f"role {role.name} variables", "line": None,
                                  "message": message})
    secret_rows = effective_secrets(device)
    secrets = Secrets({name: (row.value if reveal else None) for name, row in secret_rows.items()}, reveal=reveal)
    data = {**values, **device_facts(device), "vars": values, "role": {"id": role.pk, "name": role.name}}
    templates = list(role.templates.all())
    cache: dict[str, str | RenderError] = {}

    def renderer(source, label):
        if label.startswith("template ") and label in cache:  # each template is rendered once
            if isinstance(cache[label], RenderError):
                raise cache[label]
            return cache[label]
        return render(source, data, label, secrets)

    for template in templates:  # every template, uploaded by a step or not
        label = f"template {template.path}"
        try:
            cache[label] = render(template.content, data, label, secrets)
        except RenderError as exc:
            cache[label] = exc
            result.errors.append(exc.as_dict())
        result.files.append(Operation.file(template.path, cache[label] if isinstance(cache[label], str) else "",
                                           mode=template.mode, owner=template.owner, group=template.group))

    for step in (steps if steps is not None else role.steps.all()):
        entry = {"step": step, "operations": [], "only_if": "", "unless": "", "error": None}
        kind = step_type(step.type)
        try:
            if kind is None:
                raise RenderError("error", f"unknown step type {step.type!r}", template=f"step {step.label}")
            for guard in ("only_if", "unless"):
                if getattr(step, guard):
                    entry[guard] = renderer(getattr(step, guard), f"step {step.label} {guard}")
            entry["operations"] = kind.expand(StepRender(role, step, step.args or {}, templates, renderer,
                                                         device=device, reveal=reveal))
        except RenderError as exc:
            entry["error"] = exc.as_dict()
            if cache.get(exc.template) is not exc:  # a template's error is listed once
                result.errors.append(exc.as_dict())
        result.steps.append(entry)
    result.secrets_used = set(secrets.used)
    return result


def preview(role: Role, device) -> dict:
    """The role test result (secrets masked): rendered files and commands, variables, errors."""
    rendered = render_role(role, device)
    files, steps, by_path = [], [], {}
    for op in rendered.files:
        by_path[op.path] = {**op.as_preview(), "step": ""}
        files.append(by_path[op.path])
    for entry in rendered.steps:
        step = entry["step"]
        ops = [op.as_preview() for op in entry["operations"]]
        for op in ops:
            if op["kind"] != "file":
                continue
            if op["path"] in by_path and not by_path[op["path"]]["step"]:
                by_path[op["path"]]["step"] = step.label
            elif op["path"] not in by_path:  # written by another step type
                by_path[op["path"]] = {**op, "step": step.label}
                files.append(by_path[op["path"]])
        steps.append({"id": step.pk, "name": step.label, "type": step.type, "only_if": entry["only_if"],
                      "unless": entry["unless"], "timeout": step.timeout,
                      "commands": [op["command"] for op in ops if op["kind"] == "command"],
                      "files": [op["path"] for op in ops if op["kind"] == "file"], "error": entry["error"]})
    return {
        "role": {"id": role.pk, "name": role.name},
        "device": {"id": device.pk, "name": device.name},
        "ok": rendered.ok,
        "files": files,
        "steps": steps,
        "variables": [{"key": k, "value": v["value"], "scope": v["scope"], "source": v["source"]}
                      for k, v in sorted(rendered.variables.items())],
        "secrets": sorted(rendered.secrets_used),
        "errors": rendered.errors,
    }


def file_operations(rendered: Rendered) -> list[Operation]:
    """The files the role's steps write (last write of a path wins), else its templates."""
    written = {}
    for entry in rendered.steps:
        for op in entry["operations"]:
            if op.kind == "file":
                written[op.path] = op
    return list(written.values()) or list(rendered.files)

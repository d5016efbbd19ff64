"""Step types: an extensible registry.

A role's steps are rows ``(type, args, timeout, only_if, unless)``. A step *type* says which
``args`` it takes (a JSON Schema, checked when the step is saved), which of them are templates
(syntax-checked when saved, rendered for the device) and how a step expands into
:class:`Operation` s: ``Operation.shell(...)`` runs a shell command, ``Operation.file(...)``
writes a file (content sent on stdin, never on the command line). Preview (role test) and run
(provisioning) use the same expansion; only ``secret()`` differs.

Adding a step type from another app, at import time of a module
loaded by its ``AppConfig.ready()``::

    from inventory.configuration.steps import Operation, register

    def expand(step):                        # step: StepRender
        conf = step.render(step.args["config"], "config")    # sandboxed, with the device's variables
        return [Operation.file("/etc/wireguard/wg0.conf", conf, mode="0600"),
                Operation.shell("systemctl restart wg-quick@wg0")]

    register("configure_tunnel", expand, schema={"type": "object", "properties": {"config": {"type": "string"}},
                                          "required": ["config"], "additionalProperties": False},
             template_args=("config",), description="Write the WireGuard config and restart the tunnel.")

Built in: ``upload_templates`` (the role's templates, or ``paths`` of them), ``run``
(``command``, a template), ``ensure_package`` (``name``/``names``, ``state`` present|absent,
apt/dpkg), ``ensure_service`` (``name``, ``state`` started|stopped|restarted|reloaded,
``enabled``; systemd). The mesh app adds ``join_mesh`` (``mesh``: the name of a mesh the device is
a peer of; ``state`` present|absent) in ``inventory/mesh/steps.py``.

An expansion gets ``step.device`` and ``step.reveal``: a value that must never be stored (a
private key) goes into the text only when ``step.reveal`` is true (the worker), and the app lists
such values in ``JOBS_SECRET_PROVIDERS`` so the job masks them in its log and results.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Operation:
    kind: str  # "command" | "file"
    command: str = ""
    path: str = ""
    content: str = ""
    mode: str = "0644"
    owner: str = ""
    group: str = ""

    @classmethod
    def shell(cls, command: str) -> "Operation":
        return cls("command", command=command)

    @classmethod
    def file(cls, path: str, content: str, *, mode: str = "0644", owner: str = "", group: str = "") -> "Operation":
        return cls("file", path=path, content=content, mode=mode, owner=owner, group=group)

    def upload_command(self) -> str:
        """The shell command that writes stdin to ``path`` atomically with its mode and owner."""
        path = shlex.quote(self.path)
        parts = [f"d=$(dirname {path}) && mkdir -p \"$d\"",
                 f"t=$(mktemp \"$d/.inventory.XXXXXX\")", "cat > \"$t\"", f"chmod {self.mode} \"$t\""]
        if self.owner or self.group:
            parts.append(f"chown {shlex.quote(self.owner)}{':' + shlex.quote(self.group) if self.group else ''} \"$t\"")
        parts.append(f"mv -f \"$t\" {path}")
        return " && ".join(parts)

    def as_preview(self) -> dict:
        if self.kind == "file":
            return {"kind": "file", "path": self.path, "mode": self.mode, "owner": self.owner, "group": self.group,
                    "content": self.content}
        return {"kind": "command", "command": self.command}


@dataclass
class StepRender:
    """What an expansion gets: the step's args, the role's templates, and ``render``."""

    role: object
    step: object
    args: dict
    templates: list  # RoleTemplate rows of the role, in order
    renderer: Callable[[str, str], str]  # (source, label) -> text
    device: object = None  # the device the role is rendered for
    reveal: bool = False  # True only in the worker: an expansion may then put secrets into its text

    def render(self, source: str, what: str) -> str:
        return self.renderer(source, f"step {self.step.label} {what}")

    def render_template(self, template) -> str:
        return self.renderer(template.content, f"template {template.path}")


@dataclass(frozen=True)
class StepType:
    name: str
    expand: Callable[[StepRender], list[Operation]]
    schema: dict
    template_args: tuple[str, ...] = ()
    description: str = ""
    #: ``after(device, args)``: run by the worker once every operation of the step succeeded
    #: (to record what was applied); previews never call it
    after: Callable | None = None


_TYPES: dict[str, StepType] = {}


def register(name: str, expand, *, schema: dict, template_args: tuple[str, ...] = (), description: str = "",
             replace: bool = False, after: Callable | None = None) -> StepType:
    if name in _TYPES and not replace:
        raise ValueError(f"step type {name!r} is already registered")
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise ValueError(f"step type names are lower case identifiers, not {name!r}")
    kind = StepType(name, expand, schema, tuple(template_args), description, after)
    _TYPES[name] = kind
    return kind


def get(name: str) -> StepType | None:
    return _TYPES.get(name)


def names() -> list[str]:
    return sorted(_TYPES)


def all_types() -> list[StepType]:
    return [_TYPES[n] for n in names()]


# --- built-in types ------------------------------------------------------------------------
def _obj(properties: dict, required=()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


PACKAGE = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9+.-]*$"}
SERVICE = {"type": "string", "pattern": r"^[A-Za-z0-9@_.:-]+$"}


def _upload(step: StepRender) -> list[Operation]:
    wanted = step.args.get("paths")
    chosen = [t for t in step.templates if not wanted or t.path in wanted]
    missing = sorted(set(wanted or ()) - {t.path for t in step.templates})
    if missing:
        from .rendering import RenderError

        raise RenderError("error", f"no template for {', '.join(missing)} in role {step.role}",
                          template=f"step {step.step.label}")
    return [Operation.file(t.path, step.render_template(t), mode=t.mode, owner=t.owner, group=t.group)
            for t in chosen]


def _run(step: StepRender) -> list[Operation]:
    return [Operation.shell(step.render(step.args["command"], "command"))]


def _package(step: StepRender) -> list[Operation]:
    names_ = step.args.get("names") or [step.args["name"]]
    ops = []
    for name in names_:
        q = shlex.quote(name)
        installed = f"dpkg-query -W -f='${{Status}}' {q} 2>/dev/null | grep -q 'ok installed'"
        if step.args.get("state", "present") == "present":
            ops.append(Operation.shell(f"{installed} || DEBIAN_FRONTEND=noninteractive apt-get install -y {q}"))
        else:
            ops.append(Operation.shell(f"! {installed} || DEBIAN_FRONTEND=noninteractive apt-get remove -y {q}"))
    return ops


def _service(step: StepRender) -> list[Operation]:
    q = shlex.quote(step.args["name"])
    state = step.args.get("state", "started")
    verb = {"started": "start", "stopped": "stop", "restarted": "restart", "reloaded": "reload"}[state]
    ops = []
    if "enabled" in step.args:
        ops.append(Operation.shell(f"systemctl {'enable' if step.args['enabled'] else 'disable'} {q}"))
    ops.append(Operation.shell(f"systemctl {verb} {q}"))
    return ops


register("upload_templates", _upload, description="Write the role's templates (or only `paths`) to the machine.",
         schema=_obj({"paths": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}))
register("run", _run, template_args=("command",), description="Run a command (a template).",
         schema=_obj({"command": {"type": "string", "minLength": 1, "maxLength": 20000}}, ["command"]))
register("ensure_package", _package, description="Install (or remove) Debian packages with apt if needed.",
         schema={**_obj({"name": PACKAGE, "names": {"type": "array", "items": PACKAGE, "minItems": 1},
                         "state": {"enum": ["present", "absent"]}}),
                 "oneOf": [{"required": ["name"]}, {"required": ["names"]}]})
register("ensure_service", _service, description="Start/stop/restart/reload a systemd service, optionally enable it.",
         schema=_obj({"name": SERVICE, "state": {"enum": ["started", "stopped", "restarted", "reloaded"]},
                      "enabled": {"type": "boolean"}}, ["name"]))

__all__ = ["Operation", "StepRender", "StepType", "register", "get", "names", "all_types", "field"]

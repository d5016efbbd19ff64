"""Roles: default variables (checked against the role's JSON Schema), templates, ordered steps,
ordered dependencies on other roles (no cycles), and their ordered assignment to devices."""

from __future__ import annotations

import posixpath
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from inventory.models.base import TenantOwned

from .base import MaybeGlobal

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*\$?$")


def check_variables(value, field: str) -> None:
    from ..facts import RESERVED

    if not isinstance(value, dict):
        raise ValidationError({field: "Variables must be a JSON object."})
    bad = [k for k in value if not KEY_RE.match(str(k))]
    if bad:
        raise ValidationError({field: f"Invalid variable name(s) {', '.join(map(repr, bad))}: use letters, digits "
                                      "and _ (not starting with a digit)."})
    reserved = sorted(set(value) & RESERVED)
    if reserved:
        raise ValidationError({field: f"Reserved name(s) {', '.join(reserved)} (built-in facts)."})


def schema_errors(schema: dict, value) -> list[str]:
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(schema, offline=True)
    return [(f"{'/'.join(map(str, e.instance_path))}: " if list(e.instance_path) else "") + e.message
            for e in validator.iter_errors(value)]


class Role(MaybeGlobal):
    name = models.CharField(max_length=100, help_text="Lower case, digits, '-', '_' and '.'; unique per tenant "
                                                      "(and among global roles).")
    description = models.TextField(blank=True, default="")
    defaults = models.JSONField(default=dict, blank=True, help_text="Default variables (a JSON object).")
    parameters_schema = models.JSONField(default=dict, blank=True,
                                         help_text="Optional JSON Schema the role's effective variables must match.")

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="role_unique_name"),
            models.UniqueConstraint(fields=["name"], condition=Q(tenant__isnull=True), name="role_unique_global_name"),
        ]

    def __str__(self):
        return self.name + (" (global)" if self.tenant_id is None else "")

    def clean(self):
        super().clean()
        if self.name and not NAME_RE.match(self.name):
            raise ValidationError({"name": "Use lower case letters, digits, '-', '_' and '.' (starting with a "
                                           "letter or digit)."})
        if self.name:
            same = Role.objects.filter(name=self.name, tenant_id=self.tenant_id).exclude(pk=self.pk)
            if same.exists():
                raise ValidationError({"name": f"A role named '{self.name}' already exists"
                                               + (" in this tenant." if self.tenant_id else " among global roles.")})
        check_variables(self.defaults, "defaults")
        if not isinstance(self.parameters_schema, dict):
            raise ValidationError({"parameters_schema": "The schema must be a JSON object."})
        if self.parameters_schema:
            import jsonschema_rs

            try:
                jsonschema_rs.meta.validate(self.parameters_schema)
                errors = schema_errors(self.parameters_schema, self.defaults)
            except (jsonschema_rs.ValidationError, ValueError, jsonschema_rs.ReferencingError) as exc:
                raise ValidationError({"parameters_schema": f"Not a valid JSON Schema: {exc}"}) from None
            if errors:
                raise ValidationError({"defaults": [f"Does not match the role's schema: {e}" for e in errors]})

    def ordered_dependencies(self) -> list["Role"]:
        return [link.depends_on for link in self.dependency_links.select_related("depends_on").order_by("position", "pk")]


class RoleChild(models.Model):
    """A part of a role; its tenant is the role's."""

    position = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def tenant_id(self):
        return self.role.tenant_id if self.role_id else None

    def save(self, *args, validate=True, **kwargs):
        # as TenantOwned.save: the model's rules hold for every writer, a plain save() included
        if validate:
            self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)


class RoleTemplate(RoleChild):
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="templates")
    path = models.CharField(max_length=500, help_text="Absolute destination path on the machine.")
    mode = models.CharField(max_length=5, default="0644", help_text="Octal file mode, e.g. 0644.")
    owner = models.CharField(max_length=64, blank=True, default="", help_text="Owner user; empty: unchanged.")
    group = models.CharField(max_length=64, blank=True, default="", help_text="Group; empty: unchanged.")
    content = models.TextField(blank=True, default="", help_text="Jinja2 template (sandboxed).")

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["role", "path"], name="roletemplate_unique_path")]

    def __str__(self):
        return self.path

    def clean(self):
        from ..rendering import RenderError, check_syntax

        errors = {}
        self.content = (self.content or "").replace("\r\n", "\n")  # browsers send CRLF from a textarea
        path = self.path or ""
        if not path.startswith("/") or posixpath.normpath(path) != path or "\x00" in path or path == "/":
            errors["path"] = "An absolute, normalised file path (e.g. /etc/nginx/nginx.conf)."
        if not MODE_RE.match(self.mode or ""):
            errors["mode"] = "An octal mode such as 0644."
        else:
            self.mode = self.mode.zfill(4)
        for name in ("owner", "group"):
            value = getattr(self, name)
            if value and not USER_RE.match(value):
                errors[name] = "A user or group name (lower case letters, digits, _ . -)."
        try:
            check_syntax(self.content or "", f"template {path}")
        except RenderError as exc:
            errors["content"] = f"Line {exc.line}: {exc.message}" if exc.line else exc.message
        if errors:
            raise ValidationError(errors)


class RoleStep(RoleChild):
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=200, blank=True, default="")
    type = models.CharField(max_length=64, help_text="A registered step type (inventory.configuration.steps).")
    args = models.JSONField(default=dict, blank=True, help_text="Arguments of the step type.")
    timeout = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1),
                                                                            MaxValueValidator(86400)],
                                          help_text="Seconds per command; empty: JOBS_COMMAND_TIMEOUT.")
    only_if = models.TextField(blank=True, default="", help_text="Guard command: run the step only if it exits 0.")
    unless = models.TextField(blank=True, default="", help_text="Guard command: skip the step if it exits 0.")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name or self.type

    @property
    def label(self) -> str:
        return self.name or self.type

    def clean(self):
        from .. import steps
        from ..rendering import RenderError, check_syntax

        kind = steps.get(self.type)
        if kind is None:
            raise ValidationError({"type": f"Unknown step type {self.type!r}; known: {', '.join(steps.names())}."})
        if not isinstance(self.args, dict):
            raise ValidationError({"args": "Arguments must be a JSON object."})
        errors = schema_errors(kind.schema, self.args)
        if errors:
            raise ValidationError({"args": errors})
        problems = {}
        for name in ("only_if", "unless"):
            try:
                check_syntax(getattr(self, name) or "", f"step {self.label} {name}")
            except RenderError as exc:
                problems[name] = f"Line {exc.line}: {exc.message}" if exc.line else exc.message
        for arg in kind.template_args:
            if isinstance(self.args.get(arg), str):
                try:
                    check_syntax(self.args[arg], f"step {self.label} {arg}")
                except RenderError as exc:
                    problems["args"] = f"{arg}: line {exc.line}: {exc.message}" if exc.line else f"{arg}: {exc.message}"
        if problems:
            raise ValidationError(problems)


class RoleDependency(RoleChild):
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="dependency_links")
    depends_on = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="dependent_links")

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "role dependencies"
        constraints = [models.UniqueConstraint(fields=["role", "depends_on"], name="roledependency_unique")]

    def __str__(self):
        return f"{self.role} needs {self.depends_on}"

    def clean(self):
        if not self.role_id or not self.depends_on_id:
            return
        dep = self.depends_on
        if dep.tenant_id is not None and dep.tenant_id != self.role.tenant_id:
            raise ValidationError({"depends_on": f"{dep} belongs to another tenant." if self.role.tenant_id
                                   else f"A global role can only depend on global roles; {dep} is a tenant's."})
        if self.depends_on_id == self.role_id or self.role_id in reachable(self.depends_on_id, exclude=self.pk):
            raise ValidationError({"depends_on": f"{dep} already depends on {self.role} (directly or indirectly); "
                                                 "dependencies cannot form a cycle."})


def reachable(role_id: int, exclude=None, extra: dict | None = None) -> set[int]:
    """Role ids ``role_id`` depends on, directly or not (``extra``: links not saved yet)."""
    seen, frontier = set(), {role_id}
    while frontier:
        links = RoleDependency.objects.filter(role_id__in=frontier)
        if exclude:
            links = links.exclude(pk=exclude)
        found = set(links.values_list("depends_on_id", flat=True))
        for rid in frontier:
            found |= set((extra or {}).get(rid, ()))
        frontier = found - seen
        seen |= found
    return seen


class RoleAssignment(TenantOwned):
    device = models.ForeignKey("inventory.Device", on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    position = models.PositiveIntegerField(default=0, help_text="Order among the device's roles.")
    variables = models.JSONField(default=dict, blank=True, help_text="Overrides of the role's defaults.")

    tenant_from = "device"
    tenant_links = ("device",)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["device", "role"], name="roleassignment_unique")]

    def __str__(self):
        return f"{self.role} on {self.device}"

    def clean(self):
        super().clean()
        if self.role_id and self.role.tenant_id is not None and self.role.tenant_id != self.tenant_id:
            raise ValidationError({"role": f"{self.role} belongs to another tenant."})
        check_variables(self.variables, "variables")
        if self.device_id and self.role_id:
            if RoleAssignment.objects.filter(device_id=self.device_id, role_id=self.role_id).exclude(pk=self.pk).exists():
                raise ValidationError({"role": f"{self.role} is already assigned to {self.device}."})

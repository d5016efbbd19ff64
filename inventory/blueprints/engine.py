"""Planning and running a blueprint: one walk over the steps, in two modes.

``plan`` (``apply=False``): every step renders its arguments, checks them and lists the concrete
changes it would make (which devices, roles, variables and secrets by name, mesh changes,
provisioning runs) and the outputs later steps see; nothing is written (a step that must try a
write to know, such as an inline role, does it in a savepoint that is rolled back). Values not
known before the run (overlay addresses of new peers) are ``«pending: …»`` placeholders.

``run`` (``apply=True``, in the blueprint job): the same walk, making the changes, each step's
result saved as it finishes. Steps are idempotent: what already is as wanted is left alone
(listed under ``unchanged``), so running the same blueprint with the same parameters again
changes nothing new, and ``resume`` after a failure continues at the failed step with the
earlier steps' recorded outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions as drf

from inventory.tenancy import Action, Principal

from . import documents


class StepFailed(Exception):
    def __init__(self, message: str, field: str = "", done: dict | None = None):
        super().__init__(message)
        self.message, self.field, self.done = message, field, done or {}


def pending(what: str) -> str:
    return f"«pending: {what}»"


def error_text(exc) -> str:
    """A DRF or Django validation error as one line."""
    detail = getattr(exc, "detail", None)
    if detail is None and isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    if detail is None:
        return str(exc)

    def flat(value, prefix=""):
        if isinstance(value, dict):
            return [m for k, v in value.items() for m in flat(v, f"{prefix}{k}: " if k != "non_field_errors" else prefix)]
        if isinstance(value, (list, tuple)):
            return [m for v in value for m in flat(v, prefix)]
        return [f"{prefix}{value}"]

    return "; ".join(flat(detail))


@dataclass
class StepContext:
    engine: "Engine"
    step: dict
    args: dict
    changes: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    done: dict = field(default_factory=dict)

    @property
    def apply(self) -> bool:
        return self.engine.apply

    def change(self, op: str, target: str, device=None, reprovision: bool = True, **detail):
        """A change the step makes; on ``device`` (a Device, or the name of a planned one) it
        counts as touching it (and, with ``reprovision``, as a reason to provision it again)."""
        self.changes.append({"op": op, "target": target, **detail})
        if device is not None:
            name = device.name if hasattr(device, "name") else str(device)
            self.engine.changed_devices.add(name)
            if reprovision:
                self.engine.reprovision.add(name)
            if getattr(device, "status", "") == "active":
                self.engine.touched_active.add(name)

    def same(self, op: str, target: str):
        self.unchanged.append({"op": op, "target": target})

    def log(self, message: str):
        if self.engine.ctx is not None:
            self.engine.ctx.log(message)


@dataclass
class Engine:
    principal: Principal
    tenant: object
    doc: dict
    params: dict
    apply: bool = False
    ctx: object = None  # JobContext when running
    outputs: dict = field(default_factory=dict)
    changed_devices: set = field(default_factory=set)
    reprovision: set = field(default_factory=set)
    changed_all: bool = False
    touched_active: set = field(default_factory=set)
    created_devices: list = field(default_factory=list)
    pending_devices: set = field(default_factory=set)
    pending_roles: set = field(default_factory=set)
    pending_meshes: set = field(default_factory=set)
    secrets: set = field(default_factory=set)

    def __post_init__(self):
        for name in documents.secret_names(self.doc):
            if isinstance(self.params.get(name), str) and self.params[name]:
                self.secrets.add(self.params[name])

    # --- rendering ---------------------------------------------------------------------------
    def data(self) -> dict:
        return {"params": self.params, "steps": self.outputs,
                "tenant": {"id": self.tenant.pk, "name": self.tenant.name, "slug": self.tenant.slug}}

    def render(self, value, where: str):
        from inventory.configuration.rendering import RenderError, render

        if isinstance(value, dict):
            return {k: self.render(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or "{" not in value:
            return value
        stripped = value.strip()
        try:
            if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
                expr = "(" + stripped[2:-2] + ")"
                # an undefined value is printed (StrictUndefined: the error names what is missing)
                text = render("{% if " + expr + " is defined %}{{ " + expr + " | tojson }}{% else %}{{ " + expr
                              + " }}{% endif %}", self.data(), where)
                return json.loads(text)
            return render(value, self.data(), where)
        except RenderError as exc:
            raise StepFailed(exc.message + (f" (line {exc.line})" if exc.line else ""), where) from None

    def redact(self, value):
        if isinstance(value, str):
            for secret in sorted(self.secrets, key=len, reverse=True):
                if len(secret) >= 4:
                    value = value.replace(secret, documents.MASK)
            return value
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value

    # --- lookups -------------------------------------------------------------------------------
    def device_qs(self):
        from inventory.models import Device

        return Device.objects.restrict(self.principal, Action.VIEW).filter(tenant=self.tenant)

    def devices(self, names, where: str = "args.devices") -> list:
        """[(name, Device or None when it is only planned)] in the given order."""
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise StepFailed("a list of device names", where)
        found = {d.name: d for d in self.device_qs().filter(name__in=names)}
        out = []
        for name in names:
            if name in found:
                out.append((name, found[name]))
            elif name in self.pending_devices and not self.apply:
                out.append((name, None))
            else:
                raise StepFailed(f"no device named {name!r} in tenant {self.tenant.name}", where)
        return out

    # --- the walk ------------------------------------------------------------------------------
    def step(self, index: int) -> dict:
        from . import actions

        step = self.doc["steps"][index]
        kind = actions.ACTIONS[step["action"]]
        raw = step.get("args") or {}
        args = {k: (v if k in kind.raw else self.render(v, f"args.{k}")) for k, v in raw.items()}
        errors = documents._schema_errors(kind.schema, args)
        if errors:
            raise StepFailed("; ".join(errors), "args")
        sc = StepContext(self, step, args)
        outputs = kind.run(sc) or {}
        self.outputs[step["id"]] = outputs
        return {"id": step["id"], "action": step["action"], "title": step.get("title") or kind.title(args),
                "changes": self.redact(sc.changes), "unchanged": self.redact(sc.unchanged),
                "checks": self.redact(sc.checks), "outputs": self.redact(outputs), **self.redact(sc.done),
                "state": self.state()}

    def state(self) -> dict:
        """What later steps need to know about earlier ones (kept with each step's result, so
        ``resume`` knows which devices the run changed before the failure)."""
        return {"changed": sorted(self.changed_devices), "reprovision": sorted(self.reprovision),
                "all": self.changed_all}

    def restore(self, state: dict | None):
        if state:
            self.changed_devices |= set(state.get("changed") or ())
            self.reprovision |= set(state.get("reprovision") or ())
            self.changed_all = self.changed_all or bool(state.get("all"))

    def plan(self) -> dict:
        """The plan, or ValidationError({"plan": ["step web (select_devices) args.count: ..."]})."""
        from django.db import transaction

        steps = []
        with transaction.atomic():
            point = transaction.savepoint_create()
            try:
                for i, step in enumerate(self.doc["steps"]):
                    try:
                        result = self.step(i)
                        result.pop("state")
                        steps.append(result)
                    except StepFailed as exc:
                        where = f" {exc.field}" if exc.field else ""
                        raise drf.ValidationError({"plan": [self.redact(
                            f"step {step['id']} ({step['action']}){where}: {exc.message}")]}) from None
                    except (drf.ValidationError, DjangoValidationError) as exc:
                        raise drf.ValidationError({"plan": [self.redact(
                            f"step {step['id']} ({step['action']}): {error_text(exc)}")]}) from None
            finally:
                transaction.savepoint_rollback(point)
        return self.summary(steps)

    def summary(self, steps: list) -> dict:
        from django.conf import settings

        reasons = []
        limit = settings.BLUEPRINTS_CONFIRM_CREATED_DEVICES
        if len(self.created_devices) > limit:
            reasons.append(f"creates {len(self.created_devices)} devices (more than {limit})")
        if self.touched_active:
            reasons.append("changes devices already in production (status active): "
                           + ", ".join(sorted(self.touched_active)))
        return {"steps": steps, "changes": sum(len(s["changes"]) for s in steps),
                "devices_created": list(self.created_devices), "confirmation_required": bool(reasons),
                "confirmation_reasons": reasons, "outputs": self.redact(collected_outputs(self.doc, self.outputs))}


def collected_outputs(doc: dict, outputs: dict) -> dict:
    """What the caller gets: the values of every ``output`` step (later ones win)."""
    out = {}
    for step in doc["steps"]:
        if step["action"] == "output":
            out.update(outputs.get(step["id"]) or {})
    return out

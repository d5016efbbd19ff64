"""Provisioning from roles: the plan provider and the ``role_step`` action run by the worker.

``role_plan(device, params)`` (first in ``JOBS_PLAN_PROVIDERS``) answers for devices with role
assignments: today's address allocation, then one ``role_step`` per step of each planned role
(dependencies first, then assignment order), then the device is marked active. Every role is
tested (rendered, secrets masked) first; a role that fails its test refuses the plan (400) unless
``force``. The plan holds ids only (no content, no secret); the worker renders each step with the
variables and secrets of that moment, decrypting secrets only there. Secret values are registered
with the job, so they are masked in its log, step outputs and error.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions

from inventory.jobs.plans import action, wrap
from inventory.jobs.runner import JobContext, JobFailed

from .models import Role, RoleAssignment, RoleStep
from .planning import device_plan_roles, preview, render_role
from .steps import get as step_type


def role_plan(device, params: dict) -> list[dict] | None:
    roles = device_plan_roles(device)
    if not roles:
        return None
    steps, failures = [], []
    for role, assignment in roles:
        if not params.get("force"):
            result = preview(role, device)
            if not result["ok"]:
                failures += [f"role {role.name}: {e['template']}" + (f" line {e['line']}" if e.get("line") else "")
                             + f": {e['message']}" for e in result["errors"]]
        for step in role.steps.all():
            steps.append({"name": f"{role.name}: {step.label}"[:200], "action": "role_step", "role": role.pk,
                          "step": step.pk, "assignment": assignment.pk if assignment else None})
    if failures:
        raise exceptions.ValidationError({"device": ["The device's roles fail their test (provision with force "
                                                     "to run anyway): " + "; ".join(failures[:20])]})
    return wrap(steps)


def _shell_result(ctx, target, command: str, timeout: int, stdin: bytes | None = None):
    from inventory.jobs.remote import execute

    return execute(ctx, target, command, timeout, stdin=stdin)


@action("role_step")
def role_step(ctx: JobContext, step: dict, state: dict) -> dict:
    from inventory.jobs.remote import ssh_target

    device = state["device"]
    row = RoleStep.objects.filter(pk=step.get("step"), role_id=step.get("role")).select_related("role").first()
    if row is None:
        raise JobFailed("this step was removed from its role after the job was queued")
    assignment = RoleAssignment.objects.filter(pk=step.get("assignment")).first() if step.get("assignment") else None
    rendered = render_role(row.role, device, assignment, reveal=True, steps=[row])
    masked = render_role(row.role, device, assignment, reveal=False, steps=[row])
    _register_secrets(ctx, device)
    entry, shown = rendered.steps[0], masked.steps[0]
    if entry["error"]:
        e = entry["error"]
        raise JobFailed(f"{e['template']}" + (f" line {e['line']}" if e.get("line") else "") + f": {e['message']}")
    target = ssh_target(ctx, device)
    timeout = int(row.timeout or settings.JOBS_COMMAND_TIMEOUT)
    out = {"commands": [], "files": []}
    for guard, skip_when in (("only_if", False), ("unless", True)):
        if entry[guard]:
            result = _shell_result(ctx, target, entry[guard], timeout)
            passed = result.exit_status == 0
            out[guard] = {"command": shown[guard], "exit_status": result.exit_status}
            if passed == skip_when:
                why = f"{guard} `{shown[guard]}` exited with status {result.exit_status}"
                return {**out, "skipped": True, "output": f"Skipped: {why}."}
    for op, op_shown in zip(entry["operations"], shown["operations"]):
        if op.kind == "file":
            result = _shell_result(ctx, target, op.upload_command(), timeout, stdin=op.content.encode())
            record = {"path": op.path, "mode": op.mode, "owner": op.owner, "group": op.group,
                      "bytes": len(op.content.encode()), **_outcome(result)}
            out["files"].append(record)
        else:
            result = _shell_result(ctx, target, op.command, timeout)
            record = {"command": op_shown.command, **_outcome(result)}
            out["commands"].append(record)
        if result.timed_out:
            raise JobFailed(f"timed out after {timeout} s", out)
        if result.exit_status != 0:
            what = f"writing {op.path}" if op.kind == "file" else f"`{op_shown.command[:200]}`"
            last = result.stderr.strip().splitlines()[-1][:300] if result.stderr.strip() else ""
            raise JobFailed(f"{what} exited with status {result.exit_status}" + (f": {last}" if last else ""), out)
    kind = step_type(row.type)
    if kind is not None and kind.after is not None:
        kind.after(device, row.args or {})
    written = [f["path"] for f in out["files"]]
    out["output"] = f"Ran {len(out['commands'])} command(s)" + (f", wrote {', '.join(written)}" if written else "") + "."
    return out


def _outcome(result) -> dict:
    data = result.as_dict()
    return {k: data[k] for k in ("exit_status", "stdout", "stderr", "timed_out", "stdout_truncated",
                                 "stderr_truncated")}


def _register_secrets(ctx: JobContext, device) -> None:
    """Every secret the system holds for the device (its configuration secrets, its mesh private
    keys: JOBS_SECRET_PROVIDERS) is masked in this job's log and results."""
    from inventory.jobs.masking import device_secrets

    for value in device_secrets(device):
        ctx.add_secret(value)


__all__ = ["role_plan", "role_step", "Role"]

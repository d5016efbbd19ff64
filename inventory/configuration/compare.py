"""``role_test(compare=true)``: a short read-only job (kind ``role_test``) that reads each file the
role would write over SSH and returns a unified diff per file with "would change" / "unchanged".
Files are rendered in the worker with the real secrets (so "unchanged" is exact); every secret
value of the device is masked in the diffs, the log and the result."""

from __future__ import annotations

import difflib
import shlex

from django.conf import settings

from inventory.jobs.runner import JobContext, JobFailed, handler
from inventory.tenancy import Action, Principal

from .models import Role
from .planning import file_operations, render_role


def start_compare(principal: Principal, role: Role, device):
    from inventory.jobs.models import JobKind
    from inventory.jobs.services import create_job, require_access
    from inventory.services.common import check

    check(principal, Action.EXECUTE, device, "role tests on this device")
    require_access(device)
    return create_job(principal, JobKind.ROLE_TEST, device, {"role": role.pk, "role_name": role.name})


def _read_command(path: str) -> str:
    q = shlex.quote(path)
    return f"[ -e {q} ] || exit 3; stat -c '%a %U %G' -- {q} && cat -- {q}"


@handler("role_test")
def run_compare(ctx: JobContext):
    from inventory.jobs.remote import execute, ssh_target

    from .plans import _register_secrets

    job = ctx.job
    device = job.device
    if device is None:
        raise JobFailed("The device of this job no longer exists.")
    role = Role.objects.filter(pk=job.params.get("role")).first()
    if role is None:
        raise JobFailed("The role of this job no longer exists.")
    rendered = render_role(role, device, reveal=True)
    _register_secrets(ctx, device)
    if rendered.errors:
        e = rendered.errors[0]
        raise JobFailed(f"The role does not render: {e['template']}" + (f" line {e['line']}" if e.get("line") else "")
                        + f": {e['message']}")
    target = ssh_target(ctx, device)
    files = file_operations(rendered)
    results = []
    for i, op in enumerate(files):
        ctx.check_cancel()
        ctx.progress(i * 100 / max(1, len(files)), f"Reading {op.path}")
        result = execute(ctx, target, _read_command(op.path), int(settings.JOBS_COMMAND_TIMEOUT))
        entry = {"path": op.path, "mode": op.mode}
        if result.exit_status == 3:
            current, meta = None, None
        elif result.exit_status != 0 or result.timed_out:
            entry.update(status="error", error=(result.stderr.strip() or f"exit status {result.exit_status}")[:500])
            results.append(entry)
            continue
        elif result.stdout_truncated:
            entry.update(status="error", error=f"larger than JOBS_OUTPUT_LIMIT ({settings.JOBS_OUTPUT_LIMIT} bytes); "
                                               "not compared")
            results.append(entry)
            continue
        else:
            meta, _, current = result.stdout.partition("\n")
        wanted = op.content
        diff = "".join(difflib.unified_diff(
            (current or "").splitlines(keepends=True), wanted.splitlines(keepends=True),
            fromfile=f"{op.path} (on the machine)" if current is not None else "/dev/null",
            tofile=f"{op.path} (rendered)"))
        mode_now = meta.split()[0].zfill(4) if meta else None
        owner_now = meta.split()[1:3] if meta else None
        changes = []
        if current is None:
            changes.append("would create")
        elif current != wanted:
            changes.append("content")
        if mode_now and mode_now != op.mode:
            changes.append(f"mode {mode_now} → {op.mode}")
        if owner_now and op.owner and owner_now[0] != op.owner:
            changes.append(f"owner {owner_now[0]} → {op.owner}")
        if owner_now and op.group and owner_now[1] != op.group:
            changes.append(f"group {owner_now[1]} → {op.group}")
        entry.update(status="would create" if current is None else ("would change" if changes else "unchanged"),
                     changes=changes, diff=diff, mode_now=mode_now)
        results.append(entry)
    changed = [r["path"] for r in results if r["status"] != "unchanged"]
    summary = ("unchanged" if not changed else f"would change {len(changed)} of {len(results)} file(s)")
    ctx.save_result(files=results, changed=bool(changed), summary=summary)
    ctx.log(f"Compared {len(results)} file(s): {summary}.")

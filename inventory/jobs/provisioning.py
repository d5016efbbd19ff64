"""Job handlers that reach devices over SSH: commands and provisioning plans."""

from __future__ import annotations

from django.conf import settings

from inventory.models import Device, DeviceStatus

from .plans import run_plan
from .remote import execute, ssh_target
from .runner import Cancelled, JobContext, JobFailed, handler


@handler("command")
def run_command(ctx: JobContext):
    job = ctx.job
    if job.device is None:
        raise JobFailed("The device of this job no longer exists.")
    target = ssh_target(ctx, job.device)
    timeout = int(job.params.get("timeout") or settings.JOBS_COMMAND_TIMEOUT)
    ctx.progress(10, f"Running the command on {target.host}")
    run = job.run_params()
    command = run["command"]
    if run.get("template"):  # a custom command tool using secret(): resolved here, in the worker
        from .command_templates import render_for_run

        command = render_for_run(ctx, job.device, run["template"])
    result = execute(ctx, target, command, timeout, shown=job.params.get("command"))
    ctx.save_result(**result.as_dict())
    if result.timed_out:
        raise JobFailed(f"The command timed out after {timeout} s; partial output is kept.")
    if result.exit_status != 0:
        raise JobFailed(f"The command exited with status {result.exit_status}"
                        + (f" (signal {result.signal})" if result.signal else "") + ".")


@handler("provisioning")
def run_provisioning(ctx: JobContext):
    job = ctx.job
    device = job.device
    if device is None:
        raise JobFailed("The device of this job no longer exists.")
    try:
        run_plan(ctx, job.params.get("plan") or [], {"device": device})
    except Cancelled:
        raise
    except JobFailed as exc:
        _record(device, job, DeviceStatus.FAILED, ctx.redact(str(exc)))
        raise
    _record(device, job, None, "")


def _record(device: Device, job, status: str | None, reason: str):
    """Note the outcome on the device (an audited save)."""
    device = Device.objects.get(pk=device.pk)
    if status:
        device.status = status
    device.facts = {**(device.facts or {}), "provisioning": {
        "job": job.pk, "status": "failed" if reason else "succeeded", **({"reason": reason} if reason else {})}}
    device.save()

"""Job handlers that reach devices over SSH: commands and provisioning plans."""

from __future__ import annotations

import asyncio

from django.conf import settings

from inventory.fields import DecryptionError
from inventory.models import Device, DeviceStatus

from . import masking, ssh
from .models import DeviceAccess
from .plans import primary_address, run_plan
from .runner import Cancelled, JobContext, JobFailed, handler


def ssh_target(ctx: JobContext, device: Device) -> ssh.Target:
    try:
        access = DeviceAccess.objects.get(device=device)
    except DeviceAccess.DoesNotExist:
        raise JobFailed(f"{device} has no SSH access settings.") from None
    except DecryptionError as exc:
        raise JobFailed(f"The stored credential of {device} cannot be decrypted: {exc}") from None
    for secret in {access.secret, *masking.device_secrets(device)}:
        ctx.add_secret(secret)
    if not access.secret:
        raise JobFailed(f"{device} has no SSH credential.")
    host = access.host or primary_address(device)
    if not host:
        raise JobFailed(f"{device} has no address to connect to; set a host in its SSH access settings.")
    ctx.ssh_access = access
    return ssh.Target(host=host, port=access.port, username=device.username, credential_type=access.credential_type,
                      secret=access.secret, host_key=access.host_key)


def execute(ctx: JobContext, target: ssh.Target, command: str, timeout: int,
            stdin: bytes | None = None, shown: str | None = None) -> ssh.CommandResult:
    """Run ``command`` over SSH (``stdin``: its input, e.g. a file with a secret in it; ``shown``:
    the command as logged, when it holds secrets)."""
    ctx.log(f"Running on {target.username}@{target.host}:{target.port}: {(shown or command)[:500]}")
    try:
        result = asyncio.run(ssh.run_command(
            target, command, timeout=timeout, output_limit=settings.JOBS_OUTPUT_LIMIT,
            connect_timeout=settings.JOBS_SSH_CONNECT_TIMEOUT, stdin=stdin))
    except ssh.HostKeyUnknown as exc:
        access = getattr(ctx, "ssh_access", None)
        if access is not None:
            DeviceAccess.objects.filter(pk=access.pk).update(pending_host_key=exc.presented)
        raise JobFailed(str(exc)) from None
    except ssh.SSHError as exc:
        raise JobFailed(str(exc)) from None
    notes = []
    if result.stdout_truncated:
        notes.append(f"stdout truncated to {settings.JOBS_OUTPUT_LIMIT} of {result.stdout_bytes} bytes")
    if result.stderr_truncated:
        notes.append(f"stderr truncated to {settings.JOBS_OUTPUT_LIMIT} of {result.stderr_bytes} bytes")
    status = "timed out" if result.timed_out else f"exit status {result.exit_status}"
    ctx.log(f"Finished with {status}" + (f" ({'; '.join(notes)})" if notes else "") + ".")
    return result


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

"""Reaching a device over SSH from a job: its target (host, credential, pinned host key) and one
command run with logging, output caps and host-key handling. Used by every job kind that runs
commands (commands, provisioning plans, roles, mesh joins, blueprints)."""

from __future__ import annotations

import asyncio

from django.conf import settings

from inventory.fields import DecryptionError
from inventory.models import Device

from . import masking, ssh
from .models import DeviceAccess
from .runner import JobContext, JobFailed


def primary_address(device: Device) -> str:
    first = device.addresses.order_by("created", "pk").values_list("address", flat=True).first()
    return first or ""


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

"""Job operations shared by REST, MCP and the admin.

Each takes a Principal first and enforces the tenancy rules through inventory.tenancy
(starting and cancelling need "execute" on the target's tenant, reading needs "view").
Failures are DRF exceptions, as in inventory.services (400/403/404/409).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions

from inventory.models import Device, IPAddress
from inventory.services.common import Conflict, as_drf_validation_error, check, get_for
from inventory.tenancy import Action, Principal

from . import masking, outbox
from .models import FINISHED, DeviceAccess, DiscoveredDevice, Job, JobKind, JobLogLine, JobStatus
from .serializers import (CommandRequestSerializer, DeviceAccessSerializer, ProvisionRequestSerializer,
                          ScanRequestSerializer)


def _validated(serializer_class, principal: Principal, data) -> dict:
    serializer = serializer_class(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def create_job(principal: Principal | None, kind: str, target, params: dict, *, via: str = "",
               secrets=(), sealed_only: dict | None = None) -> Job:
    """Record a queued job on ``target`` (a Network or Device) and send it after commit.

    ``secrets``: known secret values; ``params`` is stored with them masked, and as given in the
    encrypted ``sealed`` field for the worker (see inventory.jobs.masking). ``sealed_only``: more
    parameters for the worker alone (``run_params()``), kept only in ``sealed``."""
    import json

    from inventory.models import Network

    import uuid

    from auditlog.cid import get_cid

    masked = masking.mask(params, secrets) if secrets else params
    sealed = {**params, **(sealed_only or {})}
    job = Job(kind=kind, tenant_id=target.tenant_id, params=masked, target=str(target),
              sealed=json.dumps(sealed) if sealed != masked else "",
              correlation_id=(get_cid() or str(uuid.uuid4()))[:255])
    if isinstance(target, Network):
        job.network = target
    else:
        job.device = target
    if principal is not None:
        job.created_by = principal.user
        job.via = principal.via
        job.client_id = principal.client_id or getattr(principal.credential, "prefix", "") or ""
        job.client_name = principal.client_name or ""
    else:
        job.via = via
    outermost = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        job.save()
        JobLogLine.objects.create(job=job, message=f"Queued by {_who(job)}.")
        outbox.enqueue(job)
    if outermost and job.sent_ok is False:
        JobLogLine.objects.create(job=job, level="warning",
                                  message="The job queue was unreachable; the job waits in the outbox.")
        raise outbox.BrokerUnavailable(job)
    return job


def _who(job: Job) -> str:
    if job.created_by_id is None:
        return job.via or "the system"
    who = job.created_by.get_username()
    return f"{who} via {job.via}" + (f" ({job.client_name or job.client_id})" if (job.client_name or job.client_id) else "")


def start_scan(principal: Principal, data: dict) -> Job:
    attrs = _validated(ScanRequestSerializer, principal, data)
    network = attrs["network"]
    check(principal, Action.EXECUTE, network, "scans of this network")
    params = {"scan_type": attrs["scan_type"]}
    if attrs.get("ports"):
        params["ports"] = sorted(set(attrs["ports"]))
    return create_job(principal, JobKind.DISCOVERY_SCAN, network, params)


def start_command(principal: Principal, data: dict, *, template: dict | None = None) -> Job:
    """``template``: a command template using ``secret()`` (inventory.jobs.command_templates), which
    the worker renders with the secrets; ``data["command"]`` is then its masked rendering."""
    from django.conf import settings

    attrs = _validated(CommandRequestSerializer, principal, data)
    device = attrs["device"]
    check(principal, Action.EXECUTE, device, "commands on this device")
    require_access(device)
    params = {"command": attrs["command"], "timeout": attrs.get("timeout") or settings.JOBS_COMMAND_TIMEOUT}
    return create_job(principal, JobKind.COMMAND, device, params, secrets=masking.device_secrets(device),
                      sealed_only={"template": template} if template else None)


def start_provisioning(principal: Principal, data: dict) -> Job:
    from .plans import build_plan

    attrs = _validated(ProvisionRequestSerializer, principal, data)
    device = attrs["device"]
    check(principal, Action.EXECUTE, device, "provisioning of this device")
    require_access(device)
    if Job.objects.filter(device=device, kind=JobKind.PROVISIONING,
                          status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
        raise Conflict(f"{device} is already being provisioned.")
    params = {"network": attrs["network"].pk if attrs.get("network") else None}
    if attrs.get("force"):
        params["force"] = True
    params["plan"] = build_plan(device, params, scripts=attrs.get("scripts"))
    return create_job(principal, JobKind.PROVISIONING, device, params)


def require_access(device: Device) -> DeviceAccess:
    access = DeviceAccess.objects.filter(device=device).first()
    if access is None or not access.has_secret:
        raise exceptions.ValidationError(
            {"device": [f"{device} has no SSH access settings with a credential; set them first "
                        f"(admin: Device SSH access, or PUT /api/jobs/access/{device.pk}/)."]})
    return access


def visible_jobs(principal: Principal):
    return Job.objects.restrict(principal, Action.VIEW).select_related("created_by")


def get_job(principal: Principal, job_id) -> Job:
    return get_for(principal, Job, job_id, Action.VIEW)


def cancel_job(principal: Principal, job_id) -> Job:
    job = get_for(principal, Job, job_id, Action.EXECUTE)
    if job.status in FINISHED:
        raise Conflict(f"Job {job.pk} has already finished ({job.status}).")
    who = principal.user.get_username()
    if Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED, cancel_requested=True, finished=timezone.now(), error="Cancelled on request."):
        JobLogLine.objects.create(job=job, message=f"Cancelled by {who} before it started.")
        outbox.revoke(job)
    elif Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True):
        JobLogLine.objects.create(job=job, message=f"Cancellation requested by {who}; "
                                                   "the job stops at its next host or step.")
    job.refresh_from_db()
    return job


# --- discovery ---------------------------------------------------------------------------
def visible_discoveries(principal: Principal, network_id=None):
    qs = DiscoveredDevice.objects.restrict(principal, Action.VIEW).select_related("network")
    if network_id not in (None, ""):
        try:
            network_id = int(network_id)
        except (TypeError, ValueError):
            raise exceptions.ValidationError({"network": "Expected an integer id."}) from None
        from inventory.models import Network

        get_for(principal, Network, network_id, Action.VIEW)
        qs = qs.filter(network_id=network_id)
    return qs


def promote(principal: Principal, discovered_id, name: str) -> Device:
    """Create a Device named ``name`` with the discovered address (in its network) and link it."""
    found = get_for(principal, DiscoveredDevice, discovered_id, Action.VIEW)
    check(principal, Action.ADD, found, "devices in this tenant")
    name = (name or "").strip()
    if not name:
        raise exceptions.ValidationError({"name": ["A name is required."]})
    try:
        with transaction.atomic():
            locked = DiscoveredDevice.objects.select_for_update().get(pk=found.pk)
            if locked.device_id is not None:
                raise Conflict(f"{locked.ip} was already promoted to device {locked.device_id}.")
            if Device.objects.filter(tenant_id=locked.tenant_id, name=name).exists():
                raise exceptions.ValidationError({"name": [f"A device named '{name}' already exists in this tenant."]})
            facts = {"discovery": {"open_ports": locked.open_ports, "services": locked.services,
                                   "mac": locked.mac, "hostname": locked.hostname}}
            device = Device(tenant_id=locked.tenant_id, name=name, facts=facts,
                            datacenter_id=locked.network.datacenter_id)
            device.save()
            address = IPAddress.objects.filter(network_id=locked.network_id, address=locked.ip).first()
            if address is None:
                address = IPAddress(tenant_id=locked.tenant_id, network_id=locked.network_id, address=locked.ip,
                                    dns_name=locked.hostname[:255], description="discovered")
            elif address.device_id is not None:
                raise Conflict(f"{locked.ip} is already assigned to device {address.device_id}.")
            address.device = device
            address.save()
            DiscoveredDevice.objects.filter(pk=locked.pk).update(device=device)
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    except IntegrityError:
        raise Conflict("The device or address was created at the same moment by someone else; reload and retry.") from None
    device.refresh_search_text()
    return device


# --- SSH access --------------------------------------------------------------------------
def get_access(principal: Principal, device_id) -> DeviceAccess:
    device = get_for(principal, Device, device_id, Action.VIEW)
    access = DeviceAccess.objects.filter(device=device).first()
    if access is None:
        raise exceptions.NotFound(f"{device} has no SSH access settings yet.")
    return access


def save_access(principal: Principal, device_id, data: dict, *, partial: bool = False) -> DeviceAccess:
    device = get_for(principal, Device, device_id, Action.CHANGE)
    access = DeviceAccess.objects.filter(device=device).first() or DeviceAccess(device=device, tenant_id=device.tenant_id)
    serializer = DeviceAccessSerializer(access, data=data, partial=partial or access.pk is not None)
    serializer.is_valid(raise_exception=True)
    for key, value in serializer.validated_data.items():
        if key == "secret" and value == "" and "secret" not in data:
            continue
        setattr(access, key, value)
    if "host_key" in serializer.validated_data:
        access.pending_host_key = ""
    try:
        access.save()
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    return access


def approve_host_key(principal: Principal, device_id, fingerprint: str = "") -> DeviceAccess:
    """Pin the key the host presented on first use (optionally only if it has ``fingerprint``)."""
    access = get_access(principal, device_id)
    check(principal, Action.CHANGE, access, "SSH access of this device")
    if not access.pending_host_key:
        raise Conflict("No host key is waiting for approval; run a command or provisioning first.")
    if fingerprint and fingerprint not in access.pending_host_key_fingerprint:
        raise Conflict(f"The pending key is {access.pending_host_key_fingerprint}, not {fingerprint}.")
    access.host_key, access.pending_host_key = access.pending_host_key, ""
    access.save()
    return access

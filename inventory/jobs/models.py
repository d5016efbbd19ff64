"""Jobs (the source of truth for work done by Celery), discovery results, SSH access
settings of devices and scheduled scans."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from inventory import ipam
from inventory.fields import EncryptedTextField
from inventory.models.base import TenantOwned


class JobKind(models.TextChoices):
    DISCOVERY_SCAN = "discovery_scan", "Discovery scan"
    PROVISIONING = "provisioning", "Provisioning"
    COMMAND = "command", "Command"
    MESH_STATUS = "mesh_status", "Mesh status"
    MESH_CHECK = "mesh_check", "Mesh connectivity check"
    ROLE_TEST = "role_test", "Role test (compare with the machine)"
    BLUEPRINT = "blueprint", "Blueprint run"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(TenantOwned):
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    # who started it
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    via = models.CharField(max_length=16, blank=True, default="", help_text="session, api_key, oauth, stdio or schedule")
    client_id = models.CharField(max_length=200, blank=True, default="", help_text="API key prefix or OAuth client id")
    client_name = models.CharField(max_length=200, blank=True, default="")
    correlation_id = models.CharField(max_length=255, blank=True, default="",
                                      help_text="Of the request or MCP call that started it; its writes carry it in "
                                                "the audit log.")
    # what it works on
    network = models.ForeignKey("inventory.Network", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device = models.ForeignKey("inventory.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=200, blank=True, default="", help_text="What the job works on, as text.")
    params = models.JSONField(default=dict, blank=True)
    sealed = EncryptedTextField(blank=True, default="", editable=False,
                                help_text="The parameters as typed, when they held known secret values (masked in "
                                          "params); encrypted, read only by the worker.")
    # progress and outcome
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    step = models.CharField(max_length=200, blank=True, default="", help_text="Current step.")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    # execution bookkeeping
    task_id = models.CharField(max_length=64, unique=True, default="", blank=True)
    sent = models.DateTimeField(null=True, blank=True,
                                help_text="When the task was handed to the broker; empty: in the outbox (re-sent "
                                          "by beat and at worker start).")
    attempt = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, default="", help_text="host:pid holding the job")
    heartbeat = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    tenant_links = ("network", "device")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "kind"], name="job_tenant_status_idx"),
            models.Index(fields=["status", "heartbeat"], name="job_status_heartbeat_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} {self.target}".strip()

    def save(self, *args, **kwargs):
        if not self.task_id:
            self.task_id = str(uuid.uuid4())
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self._state.adding and self.kind == JobKind.DISCOVERY_SCAN and self.network is not None:
            _check_scan_allowed(self.network, "network")

    def run_params(self) -> dict:
        """The parameters as given (``params`` has known secrets masked): for the worker only."""
        if self.sealed:
            import json

            return json.loads(self.sealed)
        return self.params

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> timedelta | None:
        if self.started is None:
            return None
        return (self.finished or timezone.now()) - self.started


class JobLogLine(models.Model):
    """One log line of a job, written in its own short commit."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    time = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, default="info")
    message = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.time:%H:%M:%S} {self.level}: {self.message}"


class DiscoveredDevice(TenantOwned):
    network = models.ForeignKey("inventory.Network", on_delete=models.CASCADE, related_name="discovered")
    ip = models.GenericIPAddressField()
    ip_key = models.CharField(max_length=32, editable=False, default="")
    hostname = models.CharField(max_length=255, blank=True, default="")
    mac = models.CharField(max_length=17, blank=True, default="")
    open_ports = models.JSONField(default=list, blank=True)
    services = models.JSONField(default=dict, blank=True, help_text="port -> banner details (deep scans)")
    icmp = models.BooleanField(null=True, blank=True, help_text="Answered an ICMP echo (null: not tried).")
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    last_scan = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device = models.ForeignKey("inventory.Device", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="discoveries", help_text="The device it was promoted to.")

    tenant_from = "network"
    tenant_links = ("network", "device")

    class Meta:
        verbose_name = "discovered device"
        ordering = ["network__name", "ip_key"]
        constraints = [models.UniqueConstraint(fields=["network", "ip"], name="discovered_unique_ip")]

    def __str__(self):
        return f"{self.ip}" + (f" ({self.hostname})" if self.hostname else "")

    def clean(self):
        super().clean()
        if self.ip:
            self.ip = str(ipam.parse_address(self.ip))
            self.ip_key = ipam.key(self.ip)


class CredentialType(models.TextChoices):
    KEY = "key", "Private key"
    PASSWORD = "password", "Password"


class DeviceAccess(TenantOwned):
    """How jobs reach a device over SSH. The credential is encrypted at rest and never shown."""

    device = models.OneToOneField("inventory.Device", on_delete=models.CASCADE, related_name="access")
    host = models.CharField(max_length=255, blank=True, default="",
                            help_text="Host name or address; empty: the device's primary (first) address.")
    port = models.PositiveIntegerField(default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    credential_type = models.CharField(max_length=16, choices=CredentialType.choices, default=CredentialType.KEY)
    secret = EncryptedTextField(blank=True, default="",
                                help_text="OpenSSH private key (unencrypted) or password. Stored encrypted; never shown.")
    host_key = models.TextField(blank=True, default="",
                                help_text="Pinned SSH host public key ('ssh-ed25519 AAAA…'). Empty: not yet approved.")
    pending_host_key = models.TextField(blank=True, default="", editable=False,
                                        help_text="Key the host presented on first use, waiting for approval.")

    tenant_from = "device"
    tenant_links = ("device",)

    class Meta:
        verbose_name = "device SSH access"
        verbose_name_plural = "device SSH access"

    def __str__(self):
        return f"SSH access to {self.device}"

    def clean(self):
        super().clean()
        from inventory.jobs import ssh

        for name in ("host_key", "pending_host_key"):
            value = (getattr(self, name) or "").strip()
            if value:
                try:
                    setattr(self, name, ssh.normalize_public_key(value))
                except ValueError as exc:
                    raise ValidationError({name: str(exc)})
        if self.secret and self.credential_type == CredentialType.KEY:
            try:
                ssh.check_private_key(self.secret)
            except ValueError as exc:
                raise ValidationError({"secret": str(exc)})

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    @property
    def host_key_fingerprint(self) -> str:
        from inventory.jobs import ssh

        return ssh.fingerprint(self.host_key) if self.host_key else ""

    @property
    def pending_host_key_fingerprint(self) -> str:
        from inventory.jobs import ssh

        return ssh.fingerprint(self.pending_host_key) if self.pending_host_key else ""


class ScanType(models.TextChoices):
    QUICK = "quick", "Quick"
    FULL = "full", "Full"
    DEEP = "deep", "Deep"


class ScanSchedule(TenantOwned):
    """A network scanned every ``interval_minutes`` by Celery beat (jobs.enqueue_due_scans)."""

    network = models.OneToOneField("inventory.Network", on_delete=models.CASCADE, related_name="scan_schedule")
    scan_type = models.CharField(max_length=8, choices=ScanType.choices, default=ScanType.QUICK)
    interval_minutes = models.PositiveIntegerField(default=1440, validators=[MinValueValidator(5)])
    enabled = models.BooleanField(default=True)
    last_run = models.DateTimeField(null=True, blank=True)
    next_run = models.DateTimeField(null=True, blank=True, help_text="Empty: as soon as possible.")
    last_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    tenant_from = "network"
    tenant_links = ("network",)

    class Meta:
        ordering = ["network__name"]

    def __str__(self):
        return f"{self.get_scan_type_display()} scan of {self.network} every {self.interval_minutes} min"

    def clean(self):
        super().clean()
        if self.network_id is not None and self.enabled:
            _check_scan_allowed(self.network, "network")


def _check_scan_allowed(network, field: str) -> None:
    from .discovery import check_allowed

    try:
        check_allowed(network.ip_network, network.tenant_id)
    except ValueError as exc:
        raise ValidationError({field: str(exc)}) from None


class ScanPolicy(TenantOwned):
    """A tenant's own, narrower list of the networks its scans may reach."""

    allowed_networks = models.TextField(
        help_text="Networks (CIDR) this tenant's scans may reach, one a line or comma-separated; each must lie "
                  "inside JOBS_SCAN_ALLOWED_NETWORKS.")

    class Meta:
        verbose_name = "scan policy"
        verbose_name_plural = "scan policies"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="scanpolicy_one_per_tenant")]

    def __str__(self):
        return f"Scan policy of {self.tenant}"

    def networks(self) -> list:
        from .discovery import _parse_networks, split_networks

        return _parse_networks(split_networks(self.allowed_networks), "the scan policy")

    def clean(self):
        super().clean()
        from .discovery import _inside, global_allowed_networks

        try:
            networks = self.networks()
        except ValueError as exc:
            raise ValidationError({"allowed_networks": str(exc)}) from None
        if not networks:
            raise ValidationError({"allowed_networks": "Name at least one network (CIDR)."})
        outside = [str(n) for n in networks if not _inside(n, global_allowed_networks())]
        if outside:
            raise ValidationError({"allowed_networks": f"{', '.join(outside)} lie(s) outside JOBS_SCAN_ALLOWED_NETWORKS "
                                                       f"({', '.join(map(str, global_allowed_networks()))})."})
        self.allowed_networks = "\n".join(str(n) for n in networks)

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "inventory.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from auditlog.registry import auditlog

        from . import discovery, provisioning  # noqa: F401  (register the job handlers)
        from .models import DeviceAccess, DiscoveredDevice, ScanSchedule

        # the credential never reaches the audit log (not even masked)
        auditlog.register(DeviceAccess, exclude_fields=["secret", "updated"])
        auditlog.register(DiscoveredDevice, exclude_fields=["updated", "last_seen", "last_scan"])
        auditlog.register(ScanSchedule, exclude_fields=["updated", "last_run", "next_run", "last_job"])

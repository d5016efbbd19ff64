"""Job, discovery and SSH access serializers: the one schema for REST and MCP.

No serializer ever outputs a credential: DeviceAccess.secret is write-only (``has_secret``
says whether one is stored).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from inventory.api.serializers.base import RestrictedRelatedField, SelfLinkField, StrictInput
from inventory.models import Device, Network

from .models import CredentialType, DeviceAccess, DiscoveredDevice, Job, JobLogLine, ScanType

MAX_LOG_LINES = 1000


class JobLogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobLogLine
        fields = ["id", "time", "level", "message"]


class JobSerializer(serializers.ModelSerializer):
    url = SelfLinkField("jobs:job-detail")
    tenant = serializers.IntegerField(source="tenant_id", read_only=True)
    network = serializers.IntegerField(source="network_id", read_only=True, allow_null=True)
    device = serializers.IntegerField(source="device_id", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Job
        fields = ["id", "url", "kind", "status", "tenant", "target", "network", "device", "params", "progress", "step",
                  "error", "cancel_requested", "created_by", "via", "client_id", "client_name", "attempt",
                  "created", "started", "finished"]
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    """A job with its result and its log (``log_after``: only lines with a larger id)."""

    log = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["result", "log"]
        read_only_fields = fields

    def get_log(self, job) -> list[dict]:
        after = self.context.get("log_after") or 0
        lines = job.log_lines.filter(id__gt=after).order_by("id")[:MAX_LOG_LINES]
        return JobLogLineSerializer(lines, many=True).data


class ScanRequestSerializer(StrictInput, serializers.Serializer):
    network = RestrictedRelatedField(Network, help_text="Id of the network to scan.")
    scan_type = serializers.ChoiceField(choices=ScanType.choices, default=ScanType.QUICK,
                                        help_text="quick: common ports; full: 1-1024 and common higher ports; "
                                                  "deep: full plus service banners.")
    ports = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=65535), required=False,
                                  min_length=1, max_length=2048, help_text="Scan exactly these TCP ports instead.")

    def validate_network(self, network):
        from .discovery import check_allowed, check_size

        try:
            check_size(network.ip_network)
            check_allowed(network.ip_network, network.tenant_id)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        return network


class CommandRequestSerializer(StrictInput, serializers.Serializer):
    device = RestrictedRelatedField(Device, help_text="Id of the device to run the command on.")
    command = serializers.CharField(max_length=10000, trim_whitespace=False)
    timeout = serializers.IntegerField(min_value=1, required=False,
                                       help_text="Seconds before the command is stopped (default JOBS_COMMAND_TIMEOUT).")

    def validate_command(self, value):
        if not value.strip():
            raise serializers.ValidationError("The command is empty.")
        if "\x00" in value:
            raise serializers.ValidationError("The command contains a NUL character.")
        return value

    def validate_timeout(self, value):
        if value > settings.JOBS_COMMAND_MAX_TIMEOUT:
            raise serializers.ValidationError(f"At most {settings.JOBS_COMMAND_MAX_TIMEOUT} seconds.")
        return value


class ScriptStepSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    script = serializers.CharField(max_length=20000, trim_whitespace=False)
    timeout = serializers.IntegerField(min_value=1, required=False)

    def validate_script(self, value):
        from .plans import check_template

        try:
            check_template(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        return value


class ProvisionRequestSerializer(StrictInput, serializers.Serializer):
    device = RestrictedRelatedField(Device, help_text="Id of the device to provision.")
    network = RestrictedRelatedField(Network, required=False, allow_null=True,
                                     help_text="Network to allocate the primary address from (default: the "
                                               "device's datacenter's networks).")
    scripts = ScriptStepSerializer(many=True, required=False, max_length=50,
                                   help_text="Script steps instead of the configured plan (Django template syntax).")
    force = serializers.BooleanField(default=False, help_text="Run the device's roles even if one fails its "
                                                              "role test (rendering errors).")

    def validate(self, attrs):
        device, network = attrs["device"], attrs.get("network")
        if network is not None and network.tenant_id != device.tenant_id:
            raise serializers.ValidationError({"network": "The network belongs to another tenant than the device."})
        return attrs


class DiscoveredDeviceSerializer(serializers.ModelSerializer):
    network = serializers.IntegerField(source="network_id", read_only=True)
    tenant = serializers.IntegerField(source="tenant_id", read_only=True)
    device = serializers.IntegerField(source="device_id", read_only=True, allow_null=True)
    last_scan = serializers.IntegerField(source="last_scan_id", read_only=True, allow_null=True)

    class Meta:
        model = DiscoveredDevice
        fields = ["id", "tenant", "network", "ip", "hostname", "mac", "open_ports", "services", "icmp",
                  "first_seen", "last_seen", "last_scan", "device"]
        read_only_fields = fields


class PromoteRequestSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Name of the new device (unique in the tenant).")


class DeviceAccessSerializer(serializers.ModelSerializer):
    """SSH access settings; ``secret`` is write-only and never returned."""

    device = serializers.IntegerField(source="device_id", read_only=True)
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False,
                                   max_length=20000, style={"input_type": "password"},
                                   help_text="Private key (OpenSSH/PEM, unencrypted) or password; write-only.")
    has_secret = serializers.BooleanField(read_only=True)
    credential_type = serializers.ChoiceField(choices=CredentialType.choices, required=False)
    host_key_fingerprint = serializers.CharField(read_only=True)
    pending_host_key = serializers.CharField(read_only=True)
    pending_host_key_fingerprint = serializers.CharField(read_only=True)

    class Meta:
        model = DeviceAccess
        fields = ["device", "host", "port", "credential_type", "secret", "has_secret", "host_key",
                  "host_key_fingerprint", "pending_host_key", "pending_host_key_fingerprint", "updated"]
        read_only_fields = ["updated"]

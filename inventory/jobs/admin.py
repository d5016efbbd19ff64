"""Admin for jobs, discovery results, SSH access and scan schedules, plus the "Scan network",
"Provision device" and "Run command" actions added to the Network and Device changelists
(those admins live in inventory.admin; the actions are appended to their registered instances)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import APIException

from inventory.admin.base import ReadOnceMixin, TenantScopedAdmin, TenantSettingsAdmin
from inventory.models import Device, Network
from inventory.tenancy import Action, Principal

from . import admin_pages, services
from .models import DeviceAccess, DiscoveredDevice, Job, JobStatus, ScanPolicy, ScanSchedule
from .serializers import JobLogLineSerializer

STATUS_COLOURS = {"queued": "#777", "running": "#2a6ebb", "succeeded": "#2e7d32", "failed": "#c62828",
                  "cancelled": "#8d6e63"}


def _error_text(exc: APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(map(str, detail))
    return str(detail)


def _job_link(job: Job) -> str:
    return format_html('<a href="{}">job #{}</a>', reverse("admin:jobs_job_change", args=[job.pk]), job.pk)


def _start_each(modeladmin, request, objects, start, data_for):
    principal = Principal.of(request)
    started = []
    for obj in objects:
        try:
            started.append(start(principal, data_for(obj)))
        except APIException as exc:
            modeladmin.message_user(request, f"{obj}: {_error_text(exc)}", messages.ERROR)
    if started:
        links = format_html(", ".join(["{}"] * len(started)), *[_job_link(j) for j in started])
        modeladmin.message_user(request, format_html("Started {}.", links), messages.SUCCESS)


@admin.register(Job)
class JobAdmin(ReadOnceMixin, TenantScopedAdmin):
    list_display = ["id", "kind", "status_badge", "target", "progress_bar", "step", "created_by", "via", "created"]
    list_filter = ["status", "kind", "tenant"]
    list_select_related = ["created_by", "tenant"]
    search_fields = ["target", "step", "error"]
    actions = ["cancel_jobs"]
    change_form_template = "jobs/job_change_form.html"
    change_list_template = "jobs/job_change_list.html"
    readonly_fields = ["kind", "status", "tenant", "target", "network", "device", "params", "progress", "step",
                       "result", "error", "cancel_requested", "created_by", "via", "client_id", "client_name",
                       "attempt", "worker", "created", "started", "finished", "task_id"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only; cancelling is an action

    @admin.display(description="Status", ordering="status")
    def status_badge(self, job):
        return format_html('<span style="color:#fff;background:{};padding:1px 6px;border-radius:8px">{}</span>',
                           STATUS_COLOURS.get(job.status, "#777"), job.get_status_display())

    @admin.display(description="Progress", ordering="progress")
    def progress_bar(self, job):
        return format_html(
            '<div style="width:120px;background:#eee;border-radius:3px" title="{}%">'
            '<div style="width:{}%;background:{};height:10px;border-radius:3px"></div></div>',
            job.progress, job.progress, STATUS_COLOURS.get(job.status, "#777"))

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        principal = Principal.of(request)
        for job in queryset.exclude(status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]):
            try:
                services.cancel_job(principal, job.pk)
                self.message_user(request, f"Cancellation of job #{job.pk} requested.")
            except APIException as exc:
                self.message_user(request, f"Job #{job.pk}: {_error_text(exc)}", messages.ERROR)

    def get_urls(self):
        return [
            path("<int:pk>/log/", self.admin_site.admin_view(self.log_view), name="jobs_job_log"),
            path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view), name="jobs_job_cancel"),
        ] + super().get_urls()

    def _job(self, request, pk) -> Job:
        job = self.get_queryset(request).filter(pk=pk).first()
        if job is None:
            raise Http404(f"No job with id {pk!r}.")
        return job

    def log_view(self, request, pk):
        """JSON for the live log: status, progress and the lines after ``?after=``."""
        job = self._job(request, pk)
        try:
            after = int(request.GET.get("after") or 0)
        except ValueError:
            after = 0
        lines = job.log_lines.filter(id__gt=after).order_by("id")[:500]
        return JsonResponse({"status": job.status, "status_display": job.get_status_display(),
                             "progress": job.progress, "step": job.step, "error": job.error,
                             "duration": admin_pages.duration_text(job),
                             "finished": job.is_finished, "log": JobLogLineSerializer(lines, many=True).data})

    def cancel_view(self, request, pk):
        job = self._job(request, pk)
        if request.method == "POST":
            try:
                services.cancel_job(Principal.of(request), job.pk)
                self.message_user(request, f"Cancellation of job #{job.pk} requested.")
            except APIException as exc:
                self.message_user(request, _error_text(exc), messages.ERROR)
        return redirect("admin:jobs_job_change", job.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        lines = list(job.log_lines.order_by("-id")[:2000])[::-1] if job else []
        extra = {"job": job, "log_lines": lines, "last_log_id": lines[-1].id if lines else 0,
                 "can_cancel": bool(job and not job.is_finished and Principal.of(request).can(Action.EXECUTE, job)),
                 "bar_colour": STATUS_COLOURS.get(job.status, "#777"), "duration": admin_pages.duration_text(job),
                 "result_html": admin_pages.result_html(request, job) if job.is_finished else ""}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:  # the list reloads itself while a listed job is queued or running
            response.context_data["jobs_running"] = any(not j.is_finished for j in cl.result_list)
            response.context_data["empty_state"] = admin_pages.empty_jobs()
        return response


@admin.register(DiscoveredDevice)
class DiscoveredDeviceAdmin(TenantScopedAdmin):
    list_display = ["ip", "hostname", "mac", "ports", "network", "last_seen", "first_seen", "device"]
    list_filter = ["tenant", "network"]
    list_select_related = ["network", "device", "tenant"]
    search_fields = ["ip", "hostname", "mac"]
    readonly_fields = ["tenant", "network", "ip", "hostname", "mac", "open_ports", "services", "icmp", "first_seen",
                       "last_seen", "last_scan", "device"]
    fields = readonly_fields
    actions = ["promote"]
    change_list_template = "jobs/discovereddevice_change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"empty_state": admin_pages.empty_discovered(), **(extra_context or {})})

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Open ports")
    def ports(self, obj):
        return ", ".join(map(str, obj.open_ports))

    @admin.action(description="Promote to devices (named after the host name or address)")
    def promote(self, request, queryset):
        principal = Principal.of(request)
        for found in queryset:
            name = (found.hostname.split(".")[0] if found.hostname else "") or f"host-{found.ip}".replace(":", "-")
            try:
                device = services.promote(principal, found.pk, name)
                self.message_user(request, f"{found.ip} → device {device.name}.")
            except APIException as exc:
                self.message_user(request, f"{found.ip}: {_error_text(exc)}", messages.ERROR)


class DeviceAccessForm(forms.ModelForm):
    secret = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Private key (paste it; newlines are kept) or password. Leave empty to keep the stored one; "
                  "it is never shown.")

    class Meta:
        model = DeviceAccess
        fields = ["device", "host", "port", "credential_type", "secret", "host_key"]

    def clean_secret(self):
        value = self.cleaned_data.get("secret") or ""
        if not value and self.instance.pk:
            return self.instance.secret  # keep
        return value.replace("\\n", "\n") if "-----BEGIN" in value and "\n" not in value else value


@admin.register(DeviceAccess)
class DeviceAccessAdmin(TenantScopedAdmin):
    form = DeviceAccessForm
    list_display = ["device", "host", "port", "credential_type", "credential_set", "host_key_fingerprint",
                    "pending_host_key_fingerprint"]
    list_select_related = ["device"]
    list_filter = ["tenant", "credential_type"]
    search_fields = ["device__name", "host"]
    autocomplete_fields = ["device"]
    readonly_fields = ["pending_host_key_fingerprint"]
    actions = ["approve_pending"]

    @admin.display(description="Credential", boolean=True)
    def credential_set(self, obj):
        return obj.has_secret

    @admin.action(description="Approve the pending host key")
    def approve_pending(self, request, queryset):
        principal = Principal.of(request)
        for access in queryset:
            try:
                services.approve_host_key(principal, access.device_id)
                self.message_user(request, f"{access.device}: pinned {access.pending_host_key_fingerprint}.")
            except APIException as exc:
                self.message_user(request, f"{access.device}: {_error_text(exc)}", messages.ERROR)


@admin.register(ScanSchedule)
class ScanScheduleAdmin(TenantScopedAdmin):
    list_display = ["network", "scan_type", "interval_minutes", "enabled", "last_run", "next_run", "last_job"]
    list_editable = ["scan_type", "interval_minutes", "enabled"]
    list_filter = ["enabled", "scan_type", "tenant"]
    list_select_related = ["network", "last_job"]
    autocomplete_fields = ["network"]
    readonly_fields = ["last_run", "last_job"]
    fields = ["network", "scan_type", "interval_minutes", "enabled", "next_run", "last_run", "last_job"]

    def save_model(self, request, obj, form, change):
        obj.derive_tenant()
        if not Principal.of(request).can(Action.EXECUTE, obj):
            raise Http404("You may not schedule scans of this network.")
        super().save_model(request, obj, form, change)


@admin.register(ScanPolicy)
class ScanPolicyAdmin(TenantSettingsAdmin):
    """A tenant's admins narrow where its scans may go (never wider than JOBS_SCAN_ALLOWED_NETWORKS)."""

    list_display = ["tenant", "allowed_networks"]
    fields = ["tenant", "allowed_networks"]


# --- actions on the inventory's Network and Device changelists ---------------------------
def _scan_action(scan_type: str):
    def scan(modeladmin, request, queryset):
        _start_each(modeladmin, request, queryset, services.start_scan,
                    lambda n: {"network": n.pk, "scan_type": scan_type})

    scan.__name__ = f"scan_network_{scan_type}"
    return admin.action(description=f"Scan network ({scan_type})")(scan)


@admin.action(description="Provision device")
def provision_device(modeladmin, request, queryset):
    _start_each(modeladmin, request, queryset, services.start_provisioning, lambda d: {"device": d.pk})


class CommandForm(forms.Form):
    command = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=10000, strip=False)
    timeout = forms.IntegerField(min_value=1, required=False, help_text="Seconds (default: JOBS_COMMAND_TIMEOUT).")


@admin.action(description="Run command")
def run_command(modeladmin, request, queryset):
    form = CommandForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = {"command": form.cleaned_data["command"]}
        if form.cleaned_data.get("timeout"):
            data["timeout"] = form.cleaned_data["timeout"]
        _start_each(modeladmin, request, queryset, services.start_command, lambda d: {**data, "device": d.pk})
        return None
    return TemplateResponse(request, "jobs/run_command.html", {
        **modeladmin.admin_site.each_context(request), "title": "Run a command", "form": form,
        "devices": queryset, "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    })


def _add_actions(model, *actions):
    model_admin = admin.site._registry.get(model)
    if model_admin is None:  # pragma: no cover - inventory.admin not loaded
        return
    existing = list(model_admin.actions or [])
    names = {getattr(a, "__name__", a) for a in existing}
    model_admin.actions = existing + [a for a in actions if a.__name__ not in names]


import inventory.admin  # noqa: E402,F401  (make sure the Network/Device admins are registered)

_add_actions(Network, _scan_action("quick"), _scan_action("full"), _scan_action("deep"))
_add_actions(Device, provision_device, run_command)

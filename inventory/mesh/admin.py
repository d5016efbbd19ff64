"""Admin for meshes and peers, on the tenant-safe admin base: the mesh's picture (SVG), the last
connectivity matrix, peers with status badges, and actions that start the mesh jobs."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.utils.html import format_html
from rest_framework.exceptions import APIException

from inventory.admin.base import TenantScopedAdmin, TenantScopedInline
from inventory.jobs.admin import _error_text, _job_link
from inventory.tenancy import Action, Principal

from . import config, picture, services
from .models import Mesh, MeshPeer


def badge(status: str, label: str) -> str:
    return format_html('<span class="mesh-badge" data-status="{}" style="color:#fff;background:{};padding:1px 6px;'
                       'border-radius:8px">{}</span>', status, picture.STATUS_COLOURS.get(status, "#757575"), label)


class MeshPeerInline(TenantScopedInline):
    model = MeshPeer
    fields = ["device", "address_text", "status_badge", "last_handshake", "endpoint_text", "enabled", "is_hub"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # peers are added on their own page (an address is allocated)

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device", "address", "mesh")

    @admin.display(description="Overlay address")
    def address_text(self, peer):
        return peer.address.address

    @admin.display(description="Status")
    def status_badge(self, peer):
        return badge(peer.last_status, peer.get_last_status_display())

    @admin.display(description="Endpoint")
    def endpoint_text(self, peer):
        return config.endpoint_of(peer)


def _start(modeladmin, request, queryset, start):
    principal = Principal.of(request)
    for mesh in queryset:
        try:
            jobs = start(principal, mesh.pk)
        except APIException as exc:
            modeladmin.message_user(request, f"{mesh}: {_error_text(exc)}", messages.ERROR)
            continue
        jobs = jobs if isinstance(jobs, list) else [jobs]
        links = format_html(", ".join(["{}"] * len(jobs)), *[_job_link(j) for j in jobs]) if jobs else "no job"
        modeladmin.message_user(request, format_html("{}: started {}.", mesh, links), messages.SUCCESS)


@admin.register(Mesh)
class MeshAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "overlay_cidr", "topology", "listen_port", "peers_text", "last_check"]
    list_filter = ["tenant", "topology"]
    search_fields = ["name", "overlay_cidr", "description"]
    inlines = [MeshPeerInline]
    actions = ["apply_mesh", "refresh_status", "check_connectivity"]
    readonly_fields = ["network", "interface_name", "picture", "matrix", "last_check"]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "overlay_cidr", "network", "topology", "description"]}),
        ("WireGuard", {"fields": ["interface", "interface_name", "listen_port", "mtu", "dns", "persistent_keepalive"]}),
        ("Connectivity", {"fields": ["picture", "matrix", "last_check"]}),
    ]

    @admin.display(description="Peers")
    def peers_text(self, mesh):
        return mesh.peers.count()

    def _peers(self, mesh):
        return list(MeshPeer.objects.filter(mesh=mesh).select_related("device", "address")
                    .order_by("address__address_key", "pk"))

    @admin.display(description="Picture")
    def picture(self, mesh):
        return picture.svg(self._peers(mesh), mesh.last_matrix or {}) if mesh.pk else "-"

    @admin.display(description="Connectivity matrix")
    def matrix(self, mesh):
        return picture.matrix_table(self._peers(mesh), mesh.last_matrix or {}) if mesh.pk else "-"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["tenant"] if obj is not None else fields

    def delete_queryset(self, request, queryset):
        for mesh in queryset:  # Mesh.delete() takes its overlay network along
            mesh.delete()

    @admin.action(description="Install the configurations (join / update peers)")
    def apply_mesh(self, request, queryset):
        _start(self, request, queryset, services.apply)

    @admin.action(description="Refresh peer status (wg show)")
    def refresh_status(self, request, queryset):
        _start(self, request, queryset, services.start_status)

    @admin.action(description="Check connectivity")
    def check_connectivity(self, request, queryset):
        _start(self, request, queryset, services.start_check)


class MeshPeerForm(forms.ModelForm):
    class Meta:
        model = MeshPeer
        fields = ["mesh", "device", "endpoint", "allowed_ips", "enabled", "is_hub", "interface"]

    def _post_clean(self):
        if self._errors:  # e.g. a mesh that is not a choice: the model has nothing to check yet
            return
        if self.instance.pk is None and self.cleaned_data.get("mesh") is not None:
            self.instance.tenant_id = self.cleaned_data["mesh"].tenant_id
        super()._post_clean()


@admin.register(MeshPeer)
class MeshPeerAdmin(TenantScopedAdmin):
    form = MeshPeerForm
    list_display = ["device", "mesh", "address_text", "status_badge", "last_handshake", "rx_bytes", "tx_bytes",
                    "endpoint_text", "reported_endpoint", "enabled"]
    list_filter = ["tenant", "mesh", "last_status", "enabled"]
    list_select_related = ["device", "mesh", "address"]
    search_fields = ["device__name", "mesh__name", "public_key"]
    autocomplete_fields = ["device"]
    readonly_fields = ["address_text", "public_key", "status_badge", "last_handshake", "rx_bytes", "tx_bytes",
                       "reported_endpoint", "last_check", "last_result", "rendered_config"]
    actions = ["rotate_keys"]

    @admin.display(description="Overlay address", ordering="address__address_key")
    def address_text(self, peer):
        return peer.address.address if peer.address_id else "(allocated when saved)"

    @admin.display(description="Status", ordering="last_status")
    def status_badge(self, peer):
        return badge(peer.last_status, peer.get_last_status_display())

    @admin.display(description="Endpoint")
    def endpoint_text(self, peer):
        return config.endpoint_of(peer)

    @admin.display(description="Configuration (private key masked)")
    def rendered_config(self, peer):
        if not peer.pk:
            return "-"
        return format_html("<pre id=\"mesh-config\">{}</pre>", config.render(peer))

    def get_fields(self, request, obj=None):
        editable = ["endpoint", "allowed_ips", "enabled", "is_hub", "interface"]
        return (["mesh", "device"] if obj is None else []) + editable + (self.readonly_fields if obj else [])

    def save_model(self, request, obj, form, change):
        principal = Principal.of(request)
        data = {k: form.cleaned_data.get(k) for k in ("endpoint", "allowed_ips", "enabled", "is_hub", "interface")}
        data["allowed_ips"] = data["allowed_ips"] or []
        data["endpoint"], data["interface"] = data["endpoint"] or "", data["interface"] or ""
        try:
            if change:
                saved = services.update_peer(principal, obj.pk, data)
            else:
                saved = services.add_peer(principal, {**data, "mesh": obj.mesh_id, "device": obj.device_id})
        except APIException as exc:
            raise Http404(_error_text(exc)) from None
        obj.pk, obj.address_id = saved.pk, saved.address_id
        outdated = services.outdated(saved.mesh)
        if outdated:
            self.message_user(request, f"{len(outdated)} peer configuration(s) changed: run “Install the "
                                       f"configurations” on mesh {saved.mesh} to apply them.", messages.WARNING)

    def delete_model(self, request, obj):
        principal = Principal.of(request)
        gone = services.remove_peer(principal, obj.pk)
        if gone["installed"] and principal.can(Action.EXECUTE, gone["device"]):
            try:
                job = services.leave(principal, gone)
                self.message_user(request, format_html("Removed; {} takes the interface down.", _job_link(job)))
            except APIException as exc:
                self.message_user(request, _error_text(exc), messages.WARNING)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    @admin.action(description="Rotate keys (then install the configurations)")
    def rotate_keys(self, request, queryset):
        principal = Principal.of(request)
        for peer in queryset:
            try:
                services.rotate_key(principal, peer.pk)
                self.message_user(request, f"{peer}: new key; install the configurations to use it.")
            except APIException as exc:
                self.message_user(request, f"{peer}: {_error_text(exc)}", messages.ERROR)

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery

from inventory.models import Membership, Tenant
from inventory.tenancy import Action, Principal

from .base import TenantScopedAdmin, TenantScopedInline


class MembershipInline(TenantScopedInline):
    model = Membership
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created"]
    readonly_fields = ["created"]

    def _can(self, request, action, obj=None):
        # members are managed by tenant admins
        return Principal.of(request).can(Action.VIEW if action == Action.VIEW else Action.MANAGE, obj)


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    list_display = ["name", "slug", "member_count", "device_count", "created"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        from inventory.models import Device

        devices = Device.objects.filter(tenant=OuterRef("pk")).order_by().values("tenant")
        return super().get_queryset(request).annotate(
            _members=Count("memberships", distinct=True),
            _devices=Subquery(devices.annotate(n=Count("pk")).values("n")),
        )

    @admin.display(description="Members", ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description="Devices", ordering="_devices")
    def device_count(self, obj):
        return obj._devices or 0

    def has_add_permission(self, request):
        return Principal.of(request).can_create_tenants()

    def has_change_permission(self, request, obj=None):
        return Principal.of(request).can(Action.MANAGE, obj)

    def has_delete_permission(self, request, obj=None):
        return Principal.of(request).can_create_tenants()


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role", "created"]
    list_filter = ["role", "tenant"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]

    def has_add_permission(self, request):
        return Principal.of(request).can(Action.MANAGE)

    def has_change_permission(self, request, obj=None):
        return Principal.of(request).can(Action.MANAGE, obj)

    def has_delete_permission(self, request, obj=None):
        return Principal.of(request).can(Action.MANAGE, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "tenant":
            field.queryset = Tenant.objects.restrict(request, Action.MANAGE)
        return field

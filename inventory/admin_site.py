"""The admin site: members may sign in without staff status; the index is a dashboard."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Count

from inventory.tenancy import Action, Principal


def may_use_admin(user) -> bool:
    """Staff, superusers and members of any tenant may sign in; data access is the
    tenancy layer's business, not the staff flag's."""
    if not (user.is_active and user.is_authenticated):
        return False
    return user.is_staff or user.is_superuser or user.memberships.exists()


class MemberAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct username and password. Note that both fields may be case-sensitive.",
    }

    def confirm_login_allowed(self, user):
        if not user.is_active:
            raise ValidationError(self.error_messages["inactive"], code="inactive")
        if not may_use_admin(user):
            raise ValidationError(
                "This account is not a member of any tenant yet. Ask a tenant admin to add you.",
                code="no_membership",
            )


class InventoryAdminSite(admin.AdminSite):
    site_header = "Infrastructure inventory"
    site_title = "Inventory"
    index_title = "Dashboard"
    index_template = "admin/inventory_index.html"
    login_form = MemberAuthenticationForm

    def has_permission(self, request):
        return may_use_admin(request.user)

    def index(self, request, extra_context=None):
        extra = {"dashboard": dashboard(request), **(extra_context or {})}
        return super().index(request, extra_context=extra)


def dashboard(request) -> dict:
    """Counts per kind, per tenant the user can see."""
    from inventory.models import Datacenter, Device, IPAddress, IPPool, Network, Tenant

    principal = Principal.of(request)
    tenants = list(Tenant.objects.restrict(principal, Action.VIEW).values("id", "name"))
    kinds = [("devices", Device), ("datacenters", Datacenter), ("networks", Network),
             ("pools", IPPool), ("addresses", IPAddress)]
    rows = {t["id"]: {"tenant": t["name"], **{k: 0 for k, _ in kinds}} for t in tenants}
    for label, model in kinds:
        counts = (model.objects.restrict(principal, Action.VIEW).order_by()
                  .values("tenant_id").annotate(n=Count("pk")).values_list("tenant_id", "n"))
        for tenant_id, n in counts:
            if tenant_id in rows:
                rows[tenant_id][label] = n
    totals = {k: sum(r[k] for r in rows.values()) for k, _ in kinds}
    return {"rows": list(rows.values()), "totals": totals, "kinds": [k for k, _ in kinds]}

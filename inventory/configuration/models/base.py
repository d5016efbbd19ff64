"""Rows that belong to a tenant or, with no tenant, to everybody (global roles, variables, secrets).

The tenancy rule for them (one door, :mod:`inventory.tenancy`):
- ``view``: the rows of the tenants the principal may view, plus the global rows (for anyone
  who may view at least one tenant);
- any other action: the rows of the tenants where the principal may do it; global rows only
  for superusers with an unnarrowed credential (``Principal.can_create_tenants()``-like reach).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from inventory.models.base import TenantOwned
from inventory.tenancy import Action, Principal, RestrictedQuerySet


class ScopeLevel(models.TextChoices):
    """Where a variable or secret applies, weakest first. Role defaults and role-assignment
    overrides sit between datacenter and device (variables only)."""

    GLOBAL = "global", "Global"
    TENANT = "tenant", "Tenant"
    DATACENTER = "datacenter", "Datacenter"
    DEVICE = "device", "Device"


def may_write_global(principal: Principal, action: str) -> bool:
    principal = Principal.of(principal)
    return principal.is_superuser and principal.tenant_ids is None and principal.allows_action(action)


def can(principal, action: str, obj) -> bool:
    """``principal.can(action, obj)`` that knows global rows (tenant None) are not "any tenant"."""
    principal = Principal.of(principal)
    if obj is not None and getattr(obj, "tenant_id", 0) is None and getattr(obj, "is_global", False):
        return principal.allows_action(action) if action == Action.VIEW else may_write_global(principal, action)
    return principal.can(action, obj)


class GlobalOrTenantQuerySet(RestrictedQuerySet):
    def restrict(self, who, action: str = Action.VIEW):
        principal = Principal.of(who)
        allowed = principal.tenant_ids_for(action)
        if allowed is None:
            return self if may_write_global(principal, action) or action == Action.VIEW else \
                self.filter(tenant__isnull=False)
        if action == Action.VIEW:
            if not principal.allows_action(action):
                return self.none()
            return self.filter(Q(tenant_id__in=allowed) | Q(tenant__isnull=True))
        return self.restrict_to(allowed)


class MaybeGlobal(TenantOwned):
    tenant = models.ForeignKey("inventory.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                               help_text="Empty: global (shipped with the product or made by a superuser; "
                                         "read-only for tenant users).")

    objects = GlobalOrTenantQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None and not self.tenant_from_parent()

    def tenant_from_parent(self):
        return None

    def clean(self):
        self.derive_tenant()
        self.clean_tenant_links()

    def clean_tenant_links(self, names=None):
        """A global row links only to global rows; a tenant row to its tenant's or global ones."""
        errors = {}
        for name in self.tenant_links if names is None else names:
            related = getattr(self, name, None)
            if related is None:
                continue
            if related.tenant_id is not None and related.tenant_id != self.tenant_id:
                errors[name] = f"{related} belongs to another tenant." if self.tenant_id else \
                    f"{related} belongs to a tenant; a global row cannot use it."
        if errors:
            raise ValidationError(errors)

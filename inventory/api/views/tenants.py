from rest_framework import exceptions

from inventory.api.filtersets import MembershipFilter, TenantsFilter
from inventory.api.serializers import MembershipSerializer, TenantSerializer
from inventory.models import Membership, Tenant
from inventory.services.common import check, forbidden
from inventory.tenancy import Action

from .base import InventoryViewSet, documented


@documented
class TenantViewSet(InventoryViewSet):
    """Tenants you are a member of. Superusers create and delete tenants; tenant admins update them."""

    model = Tenant
    serializer_class = TenantSerializer
    filterset_class = TenantsFilter
    tenancy_actions = {"update": Action.MANAGE, "partial_update": Action.MANAGE}

    def check_create(self, principal):
        if not principal.can_create_tenants():
            if principal.missing_scopes(Action.ADD):
                raise forbidden(principal, Action.ADD, "tenants")
            raise exceptions.PermissionDenied("Only superusers may create tenants.")

    def check_object(self, obj, action):
        if action == Action.DELETE:
            if self.principal.missing_scopes(Action.DELETE):
                raise forbidden(self.principal, Action.DELETE, "tenants")
            if not self.principal.can_create_tenants():
                raise exceptions.PermissionDenied("Only superusers may delete tenants.")
            return
        check(self.principal, action, obj, "this tenant")


@documented
class MembershipViewSet(InventoryViewSet):
    """Who may do what in a tenant. Members see them; tenant admins manage them."""

    model = Membership
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilter
    create_action = Action.MANAGE
    tenancy_actions = {"create": Action.MANAGE, "update": Action.MANAGE, "partial_update": Action.MANAGE}
    ordering_fields = ["id", "created", "role"]

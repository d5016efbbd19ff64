"""``/api/mcp/confirmation-policies``: which MCP tools ask for confirmation, per tenant.

Members see their tenants' policies; tenant admins (``manage``) create, change and delete them.
The model's ``clean()`` checks the tool names, so the admin and REST refuse the same input.
"""

from rest_framework import serializers

from inventory.api.serializers.base import RestrictedRelatedField, SelfLinkField, TenantOwnedSerializer
from inventory.api.views.base import InventoryViewSet, documented
from inventory.models import Tenant
from inventory.tenancy import Action

from .models import ConfirmationPolicy


class ConfirmationPolicySerializer(TenantOwnedSerializer):
    url = SelfLinkField("mcp:confirmationpolicy-detail")
    brief_fields = ("id", "display", "url")
    display_columns = ("tenant",)
    related = {"display": ("select", "tenant")}
    add_action = Action.MANAGE
    change_action = Action.MANAGE

    tenant = RestrictedRelatedField(Tenant, required=False, help_text="Tenant id; fixed after creation.")
    extra_tools = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200,
                                       help_text="Other write tools that ask first.")
    exempt_tools = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200,
                                        help_text="Destructive tools that do not ask.")
    impact_threshold = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False,
                                                help_text="A write whose impact counts more objects asks (0: off).")

    class Meta:
        model = ConfirmationPolicy
        fields = ["id", "url", "display", "tenant", "confirm_destructive", "extra_tools", "exempt_tools",
                  "impact_threshold", "created", "updated"]
        read_only_fields = ["created", "updated"]
        validators = []


@documented
class ConfirmationPolicyViewSet(InventoryViewSet):
    """Per-tenant MCP confirmation policy (no row: every destructive tool asks)."""

    model = ConfirmationPolicy
    serializer_class = ConfirmationPolicySerializer
    create_action = Action.MANAGE
    tenancy_actions = {"create": Action.MANAGE, "update": Action.MANAGE, "partial_update": Action.MANAGE,
                       "destroy": Action.MANAGE}
    ordering_fields = ["id", "created"]

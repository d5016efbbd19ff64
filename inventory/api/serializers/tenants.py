from django.contrib.auth import get_user_model
from django.utils.text import slugify
from rest_framework import exceptions, serializers

from inventory.models import Membership, Tenant
from inventory.services.common import check
from inventory.tenancy import Action, Role

from .base import InventorySerializer, RestrictedRelatedField, SelfLinkField


class TenantSerializer(InventorySerializer):
    display_columns = ("name",)  # what __str__ reads
    url = SelfLinkField("api:tenant-detail")
    change_action = Action.MANAGE

    class Meta:
        model = Tenant
        fields = ["id", "url", "display", "name", "slug", "description", "created", "updated"]
        read_only_fields = ["created", "updated"]
        extra_kwargs = {"slug": {"required": False}}
        validators = []  # uniqueness is checked by the model (save_model), with field messages

    def check_write(self, instance, action):
        if instance.pk is None:
            if not self.principal.can_create_tenants():
                if self.principal.missing_scopes(Action.ADD):
                    check(self.principal, Action.ADD, instance, "tenants")
                raise exceptions.PermissionDenied("Only superusers may create tenants.", code="permission_denied")
        else:
            check(self.principal, Action.MANAGE, instance, "this tenant")

    def apply(self, instance, validated_data):
        super().apply(instance, validated_data)
        if not instance.slug:
            instance.slug = slugify(instance.name)[:100]
            if not instance.slug:
                raise serializers.ValidationError({"slug": "Give a slug: none can be derived from this name."})


class MembershipSerializer(InventorySerializer):
    """A user's role in a tenant; tenant admins manage them."""

    display_columns = ("user", "tenant", "role")  # what __str__ reads

    url = SelfLinkField("api:membership-detail")
    brief_fields = ("id", "display", "url")
    related = {"display": ("select", "user"), "user": ("select", "user")}
    add_action = Action.MANAGE
    change_action = Action.MANAGE

    tenant = RestrictedRelatedField(Tenant, help_text="Tenant id; fixed after creation.")
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True),
        help_text="Username of an active user; fixed after creation.",
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER,
                                   help_text="viewer reads; operator also writes and runs jobs; admin also deletes and manages members.")

    class Meta:
        model = Membership
        fields = ["id", "url", "display", "tenant", "user", "role", "created"]
        read_only_fields = ["created"]
        validators = []

    def check_write(self, instance, action):
        check(self.principal, Action.MANAGE, instance.tenant_id, "members of this tenant")

"""Serializers of roles, assignments, variables and secrets: the one schema of REST and MCP.

No serializer ever renders a secret value: ``SecretSerializer.value`` is write-only and lists
show name, scope and who/when changed it.
"""

from __future__ import annotations

from rest_framework import serializers

from inventory.api.serializers.base import RestrictedRelatedField
from inventory.models import Datacenter, Device, Tenant

from . import steps as step_types
from .models import Role, RoleAssignment, RoleStep, RoleTemplate, ScopeLevel, Secret, Variable


class RoleTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoleTemplate
        fields = ["path", "mode", "owner", "group", "content"]
        extra_kwargs = {"mode": {"required": False}, "owner": {"required": False}, "group": {"required": False},
                        "content": {"required": False, "trim_whitespace": False}}


class RoleStepSerializer(serializers.ModelSerializer):
    type = serializers.CharField(max_length=64, help_text="Step type: " + ", ".join(
        f"{t.name} ({t.description})" for t in step_types.all_types()))

    class Meta:
        model = RoleStep
        fields = ["name", "type", "args", "timeout", "only_if", "unless"]
        extra_kwargs = {"name": {"required": False}, "args": {"required": False}, "timeout": {"required": False},
                        "only_if": {"required": False, "trim_whitespace": False},
                        "unless": {"required": False, "trim_whitespace": False}}


class RoleSerializer(serializers.ModelSerializer):
    """A role with its templates, steps and dependencies (ids of roles, in order).

    Writing ``templates``, ``steps`` or ``dependencies`` replaces that whole list.
    """

    tenant = RestrictedRelatedField(Tenant, required=False, allow_null=True,
                                    help_text="Owning tenant; null: a global role (superusers only). "
                                              "Default: your only tenant.")
    is_global = serializers.BooleanField(read_only=True)
    templates = RoleTemplateSerializer(many=True, required=False)
    steps = RoleStepSerializer(many=True, required=False)
    dependencies = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                         help_text="Ids of the roles this one needs first, in order.")

    brief_fields = ("id", "name", "display")

    class Meta:
        model = Role
        fields = ["id", "name", "display", "tenant", "is_global", "description", "defaults", "parameters_schema",
                  "templates", "steps", "dependencies", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []  # uniqueness is the model's (clean() and constraints)

    display = serializers.CharField(source="__str__", read_only=True)

    def to_representation(self, role):
        data = super().to_representation(role)
        data["dependencies"] = [r.pk for r in role.ordered_dependencies()]
        return data

    def create(self, validated_data):  # pragma: no cover - writes go through services.save_role
        raise NotImplementedError

    def save(self, **kwargs):
        from .services import save_role

        principal = self.context["principal"]
        self.instance = save_role(principal, self.instance, self.validated_data, given=set(self.initial_data))
        return self.instance


class RoleBriefSerializer(serializers.ModelSerializer):
    is_global = serializers.BooleanField(read_only=True)
    display = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = Role
        fields = ["id", "name", "display", "tenant", "is_global", "description"]
        read_only_fields = fields


class RoleAssignmentSerializer(serializers.ModelSerializer):
    role = RestrictedRelatedField(Role, help_text="Id of the role (the device's tenant's, or a global one).")
    role_name = serializers.CharField(source="role.name", read_only=True)
    device = serializers.IntegerField(source="device_id", read_only=True)
    position = serializers.IntegerField(min_value=0, required=False,
                                        help_text="Order among the device's roles (default: last).")

    class Meta:
        model = RoleAssignment
        fields = ["id", "device", "role", "role_name", "position", "variables", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []
        extra_kwargs = {"variables": {"required": False}}


class ScopedSerializer(serializers.ModelSerializer):
    scope = serializers.ChoiceField(choices=ScopeLevel.choices)
    tenant = RestrictedRelatedField(Tenant, required=False, allow_null=True, help_text="For scope 'tenant'.")
    datacenter = RestrictedRelatedField(Datacenter, required=False, allow_null=True,
                                        help_text="For scope 'datacenter'.")
    device = RestrictedRelatedField(Device, required=False, allow_null=True, help_text="For scope 'device'.")


class VariableSerializer(ScopedSerializer):
    value = serializers.JSONField(help_text="Any JSON value.")

    class Meta:
        model = Variable
        fields = ["id", "scope", "tenant", "datacenter", "device", "key", "value", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []


class SecretSerializer(ScopedSerializer):
    value = serializers.CharField(write_only=True, required=False, trim_whitespace=False, max_length=65536,
                                  style={"input_type": "password"},
                                  help_text="The secret (write-only; never shown again). Or use generate.")
    generate = serializers.BooleanField(write_only=True, required=False, default=False,
                                        help_text="Generate a random value server-side instead of giving one.")
    length = serializers.IntegerField(write_only=True, required=False, min_value=8, max_value=256, default=32)
    alphabet = serializers.CharField(write_only=True, required=False, min_length=2, max_length=256,
                                     help_text="Characters to generate from (default letters and digits).")
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    has_value = serializers.SerializerMethodField()

    class Meta:
        model = Secret
        fields = ["id", "scope", "tenant", "datacenter", "device", "name", "value", "generate", "length", "alphabet",
                  "has_value", "changed_by", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []

    def get_has_value(self, obj) -> bool:
        return True

    def validate(self, attrs):
        if attrs.get("generate") and attrs.get("value"):
            raise serializers.ValidationError({"value": ["Give a value or generate: true, not both."]})
        if not attrs.get("generate") and not attrs.get("value"):
            raise serializers.ValidationError({"value": ["A value is required (or generate: true)."]})
        return attrs


class RoleTestRequestSerializer(serializers.Serializer):
    device = RestrictedRelatedField(Device, help_text="The device to render the role for.")
    compare = serializers.BooleanField(default=False, help_text="Also read each destination file over SSH "
                                                                "(a short job) and diff it.")

"""REST endpoints: /api/roles/, /api/variables/, /api/secrets/, /api/devices/{id}/roles/,
/api/devices/{id}/variables/, /api/roles/{id}/test/ (rules in services.py)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from inventory.fields import MAX_ID
from inventory.tenancy import Action, Principal

from . import documents, services
from .models import Role, ScopeLevel, Secret, Variable
from .resolve import effective_variables
from .serializers import (RoleAssignmentSerializer, RoleSerializer, RoleTestRequestSerializer, SecretSerializer,
                          VariableSerializer)

WRITE = {"get": Action.VIEW, "post": Action.ADD, "put": Action.CHANGE, "patch": Action.CHANGE,
         "delete": Action.DELETE}


class ConfigView(GenericAPIView):
    action = "rest"
    tenancy_actions = {"rest": WRITE, "test": Action.VIEW, "assign": {"get": Action.VIEW, "post": Action.CHANGE},
                       "unassign": Action.CHANGE, "import": Action.ADD}

    @property
    def principal(self) -> Principal:
        return Principal.of(self.request)

    def filter_queryset(self, queryset):
        return queryset

    def get_object(self):
        """The detail's object as its handlers read it (DRF's OPTIONS metadata asks for it)."""
        model = getattr(self.get_serializer_class().Meta, "model", None)
        if model is None or "pk" not in self.kwargs:
            raise Http404("No single object here.")
        return services.get_visible(self.principal, model, self.kwargs["pk"], Action.CHANGE)

    def page(self, qs, serializer_class):
        rows = self.paginate_queryset(qs)
        return self.get_paginated_response(serializer_class(rows, many=True, context={"principal": self.principal}).data)


class RoleListView(ConfigView):
    serializer_class = RoleSerializer
    queryset = Role.objects.none()

    @extend_schema(parameters=[OpenApiParameter("name", str), OpenApiParameter("global", bool)],
                   responses=RoleSerializer(many=True))
    def get(self, request):
        qs = Role.objects.restrict(self.principal, Action.VIEW).prefetch_related("templates", "steps")
        if request.query_params.get("name"):
            qs = qs.filter(name=request.query_params["name"])
        flag = request.query_params.get("global", "").lower()
        if flag in ("1", "true"):
            qs = qs.filter(tenant__isnull=True)
        elif flag in ("0", "false"):
            qs = qs.filter(tenant__isnull=False)
        return self.page(qs, RoleSerializer)

    @extend_schema(request=RoleSerializer, responses={201: RoleSerializer})
    def post(self, request):
        serializer = RoleSerializer(data=request.data, context={"principal": self.principal})
        serializer.is_valid(raise_exception=True)
        role = serializer.save()
        return Response(RoleSerializer(role, context={"principal": self.principal}).data,
                        status=status.HTTP_201_CREATED)


class RoleDetailView(ConfigView):
    serializer_class = RoleSerializer

    def get(self, request, pk):
        return Response(RoleSerializer(services.get_visible(self.principal, Role, pk),
                                       context={"principal": self.principal}).data)

    def put(self, request, pk, partial=False):
        role = services.get_visible(self.principal, Role, pk, Action.CHANGE)
        serializer = RoleSerializer(role, data=request.data, partial=partial, context={"principal": self.principal})
        serializer.is_valid(raise_exception=True)
        return Response(RoleSerializer(serializer.save(), context={"principal": self.principal}).data)

    def patch(self, request, pk):
        return self.put(request, pk, partial=True)

    def delete(self, request, pk):
        services.delete_role(self.principal, pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoleTestView(ConfigView):
    action = "test"
    serializer_class = RoleTestRequestSerializer

    @extend_schema(request=RoleTestRequestSerializer, responses={200: inline_serializer("RoleTestResult", {
        "ok": serializers.BooleanField(), "files": serializers.ListField(), "steps": serializers.ListField(),
        "variables": serializers.ListField(), "errors": serializers.ListField()})})
    def post(self, request, pk):
        return Response(services.role_test(self.principal, pk, request.data))


class RoleExportView(ConfigView):
    serializer_class = RoleSerializer

    @extend_schema(responses={(200, "application/yaml"): str})
    def get(self, request, pk):
        role = services.get_visible(self.principal, Role, pk)
        return HttpResponse(documents.export_yaml(role), content_type="application/yaml; charset=utf-8")


class RoleImportSerializer(serializers.Serializer):
    document = serializers.CharField(help_text="The role as a YAML document (the export's shape).",
                                     trim_whitespace=False, max_length=documents.MAX_DOCUMENT_BYTES)
    tenant = serializers.IntegerField(required=False, allow_null=True,
                                      help_text="Tenant to import into; null: global (superusers).")


class RoleImportView(ConfigView):
    action = "import"
    serializer_class = RoleImportSerializer

    @extend_schema(request=RoleImportSerializer, responses={201: RoleSerializer})
    def post(self, request):
        data = RoleImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = import_role(self.principal, data.validated_data)
        return Response(RoleSerializer(role, context={"principal": self.principal}).data,
                        status=status.HTTP_201_CREATED)


def import_role(principal, attrs: dict):
    from inventory.models import Tenant

    given = "tenant" in attrs
    tenant = None
    if attrs.get("tenant") is not None:
        tenant = Tenant.objects.restrict(principal, Action.VIEW).filter(pk=attrs["tenant"]).first()
        if tenant is None:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"tenant": [f"No tenant with id {attrs['tenant']} (or it is not visible to you)."]})
    elif not given:
        allowed = principal.tenant_ids_for(Action.ADD)
        if allowed is not None and len(allowed) == 1:
            tenant, given = Tenant.objects.get(pk=next(iter(allowed))), True
    return documents.import_document(principal, attrs["document"], tenant, given_tenant=given)


SCOPE_PARAMS = [OpenApiParameter("scope", enum=ScopeLevel.values),
                OpenApiParameter("scope_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description="Tenant, datacenter or device id of the scope.")]


class ScopedListView(ConfigView):
    """List (optionally at one scope) and set (create or replace at that scope and key)."""

    model = None
    setter = None

    def rows(self, request):
        return services.scoped_rows(self.principal, self.model, request.query_params.get("scope"),
                                    request.query_params.get("scope_id"))

    def get(self, request):
        return self.page(self.rows(request), self.serializer_class)

    def post(self, request):
        row = type(self).setter(self.principal, request.data)
        return Response(self.serializer_class(row, context={"principal": self.principal}).data)


class ScopedDetailView(ConfigView):
    model = None

    def get(self, request, pk):
        return Response(self.serializer_class(services.get_visible(self.principal, self.model, pk),
                                              context={"principal": self.principal}).data)

    def delete(self, request, pk):
        services.delete_scoped(self.principal, self.model, pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(get=extend_schema(parameters=SCOPE_PARAMS, responses=VariableSerializer(many=True)),
                    post=extend_schema(request=VariableSerializer, responses={200: VariableSerializer}))
class VariableListView(ScopedListView):
    model, serializer_class, queryset = Variable, VariableSerializer, Variable.objects.none()
    setter = staticmethod(services.set_variable)


@extend_schema_view(get=extend_schema(parameters=SCOPE_PARAMS, responses=SecretSerializer(many=True)),
                    post=extend_schema(request=SecretSerializer, responses={200: SecretSerializer}))
class SecretListView(ScopedListView):
    model, serializer_class, queryset = Secret, SecretSerializer, Secret.objects.none()
    setter = staticmethod(services.set_secret)

    def rows(self, request):
        return super().rows(request).select_related("changed_by").defer("value")


class VariableDetailView(ScopedDetailView):
    model, serializer_class = Variable, VariableSerializer


class SecretDetailView(ScopedDetailView):
    model, serializer_class = Secret, SecretSerializer


class DeviceRolesView(ConfigView):
    action = "assign"
    serializer_class = RoleAssignmentSerializer

    def get(self, request, device_id):
        device = services.get_device(self.principal, device_id)
        rows = device.role_assignments.select_related("role").order_by("position", "pk")
        return Response(RoleAssignmentSerializer(rows, many=True, context={"principal": self.principal}).data)

    def post(self, request, device_id):
        assignment = services.assign_role(self.principal, device_id, request.data)
        return Response(RoleAssignmentSerializer(assignment, context={"principal": self.principal}).data,
                        status=status.HTTP_201_CREATED)


class DeviceRoleDetailView(ConfigView):
    action = "unassign"
    serializer_class = RoleAssignmentSerializer

    def delete(self, request, device_id, role_id):
        services.remove_role(self.principal, device_id, role_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def effective_view(device) -> dict:
    from .planning import device_plan_roles

    roles = device_plan_roles(device)
    variables = effective_variables(device, roles)
    from .resolve import effective_secrets

    return {"device": {"id": device.pk, "name": device.name},
            "roles": [{"id": r.pk, "name": r.name, "assigned": a is not None} for r, a in roles],
            "variables": [{"key": k, "value": v["value"], "scope": v["scope"], "source": v["source"],
                           "overrides": v["overrides"]} for k, v in sorted(variables.items())],
            "secrets": [{"name": n, "scope": s.scope, "id": s.pk} for n, s in sorted(effective_secrets(device).items())],
            "precedence": ["global", "tenant", "datacenter", "role_default", "role_assignment", "device"]}


class DeviceVariablesView(ConfigView):
    serializer_class = VariableSerializer

    @extend_schema(responses={200: inline_serializer("EffectiveVariables", {
        "variables": serializers.ListField(), "secrets": serializers.ListField(), "roles": serializers.ListField()})})
    def get(self, request, device_id):
        return Response(effective_view(services.get_device(self.principal, device_id)))

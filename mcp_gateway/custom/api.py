"""REST: ``/api/mcp/tools/`` (the one catalog: built-ins read-only, custom tools CRUD and test) and
``/api/mcp/tool-groups/`` (per-tenant tool-group policies).

Permissions are the tenancy layer's: a tenant's custom tools are read by its members, created and
changed by its operators and deleted by its admins; global tools (no tenant) are written by
superusers only. A built-in tool is addressed by its name and is read-only.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.api.serializers.base import RestrictedRelatedField, principal_of
from inventory.models import Tenant
from inventory.services.common import as_drf_validation_error, check, forbidden
from inventory.tenancy import Action, Principal

from ..models import ToolGroupPolicy
from ..registry import ToolError
from .models import CustomTool, ToolKind
from .provider import Row, as_tool, preview_command

MAX_LIMIT = 500


def _scope(principal: Principal, action: str):
    missing = principal.missing_scopes(action)
    if missing:
        raise exceptions.PermissionDenied(f"This credential lacks the scope {' '.join(missing)}.")


# --- serializers -------------------------------------------------------------------------------
class CustomToolSerializer(serializers.ModelSerializer):
    builtin = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    tenant = RestrictedRelatedField(Tenant, required=False, allow_null=True,
                                    help_text="Owner tenant id; null for a global tool (superusers only). "
                                              "Default: your only tenant where you may add.")
    groups = serializers.SlugRelatedField(slug_field="name", many=True, required=False, queryset=Group.objects.all(),
                                          help_text="Django group names; if set, only their members may use it.")
    group = serializers.SerializerMethodField(help_text="The MCP tool group (always 'custom').")
    annotations = serializers.SerializerMethodField()

    class Meta:
        model = CustomTool
        fields = ["id", "url", "name", "builtin", "title", "description", "kind", "group", "parameters", "definition",
                  "roles", "groups", "enabled", "version", "tenant", "annotations", "created", "updated"]
        read_only_fields = ["version", "created", "updated"]

    def get_builtin(self, obj) -> bool:
        return False

    def get_group(self, obj) -> str:
        return "custom"

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = f"/api/mcp/tools/{obj.pk}/"
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_annotations(self, obj) -> dict:
        destructive = obj.kind != ToolKind.QUERY and bool(obj.definition.get("destructive", True))
        return {"readOnlyHint": obj.kind == ToolKind.QUERY, "destructiveHint": destructive,
                "idempotentHint": obj.kind == ToolKind.QUERY, "openWorldHint": obj.kind != ToolKind.QUERY}

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return attrs


def builtin_entry(tool) -> dict:
    from ..tools.catalog import definition

    wire = definition(tool)
    return {"id": None, "name": tool.name, "builtin": True, "title": tool.title, "description": tool.description,
            "kind": "builtin", "group": tool.group, "scope": tool.scope, "parameters": wire["inputSchema"],
            "output_schema": wire.get("outputSchema"), "annotations": wire["annotations"], "enabled": True}


# --- the catalog ---------------------------------------------------------------------------------
def _visible_tools(principal: Principal):
    return CustomTool.objects.restrict(principal, Action.VIEW).select_related("tenant").prefetch_related("groups")


def _get_custom(principal: Principal, pk, action: str = Action.VIEW) -> CustomTool:
    try:
        obj = _visible_tools(principal).get(pk=pk)
    except (CustomTool.DoesNotExist, ValueError, TypeError, OverflowError):
        raise exceptions.NotFound(f"No custom tool with id {pk!r}.") from None
    if action != Action.VIEW:
        _may_write(principal, obj.tenant_id, action)
    return obj


def _may_write(principal: Principal, tenant_id, action: str):
    _scope(principal, action)
    if tenant_id is None:
        if not (principal.is_superuser and principal.tenant_ids is None):
            raise exceptions.PermissionDenied("Only superusers may create or change global custom tools.")
        return
    check(principal, action, tenant_id, "custom tools of this tenant")


def _save(serializer, principal: Principal, **extra) -> CustomTool:
    """Validate with the model's rules (the one door) and save; Django errors become 400s."""
    attrs = {**serializer.validated_data, **extra}
    groups = attrs.pop("groups", None)
    instance = serializer.instance or CustomTool()
    for name, value in attrs.items():
        setattr(instance, name, value)
    try:
        with transaction.atomic():
            instance.save()
            if groups is not None:
                instance.groups.set(groups)
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    return instance


def _default_tenant(principal: Principal):
    _scope(principal, Action.ADD)
    allowed = principal.tenant_ids_for(Action.ADD)
    if allowed is not None and not allowed:
        raise forbidden(principal, Action.ADD, "custom tools")
    if allowed is not None and len(allowed) == 1:
        return Tenant.objects.get(pk=next(iter(allowed)))
    raise exceptions.ValidationError({"tenant": ["Say which tenant owns the tool (an id), or null for a global "
                                                 "tool (superusers only)."]})


class ToolsView(APIView):
    """``GET /api/mcp/tools/``: built-in and custom tools; ``POST``: declare a custom tool."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[
        OpenApiParameter("builtin", bool, description="Only built-in (true) or only custom (false) tools."),
        OpenApiParameter("kind", str, enum=[*ToolKind.values, "builtin"]),
        OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        OpenApiParameter("offset", {"type": "integer", "minimum": 0, "maximum": 10**9})],
        responses={200: inline_serializer("McpToolPage", {
            "count": serializers.IntegerField(), "next": serializers.CharField(allow_null=True),
            "previous": serializers.CharField(allow_null=True),
            "results": serializers.ListField(child=serializers.DictField())})},
        summary="The tool catalog: built-in tools (read-only) and custom tools")
    def get(self, request):
        from ..server import visible_tools

        principal = Principal.of(request)
        _scope(principal, Action.VIEW)
        params = request.query_params
        unknown = set(params) - {"builtin", "kind", "limit", "offset", "format"}
        if unknown:
            raise exceptions.ValidationError({name: ["Unknown filter."] for name in sorted(unknown)})
        limit, offset = _int(params, "limit", 100, 1, MAX_LIMIT), _int(params, "offset", 0, 0, 10**9)
        builtin = params.get("builtin")
        if builtin not in (None, "true", "false"):
            raise exceptions.ValidationError({"builtin": ["true or false."]})
        kind = params.get("kind")
        if kind is not None and kind not in [*ToolKind.values, "builtin"]:
            raise exceptions.ValidationError({"kind": [f"One of: {', '.join([*ToolKind.values, 'builtin'])}."]})
        entries = []
        if builtin != "false" and kind in (None, "builtin"):
            entries += [builtin_entry(t) for t in visible_tools(principal) if t.custom is None]
        if builtin != "true" and kind != "builtin":
            qs = _visible_tools(principal)
            if kind:
                qs = qs.filter(kind=kind)
            entries += CustomToolSerializer(qs, many=True, context={"request": request, "principal": principal}).data
        page = entries[offset:offset + limit]
        base = request.build_absolute_uri(request.path)
        nxt = f"{base}?limit={limit}&offset={offset + limit}" if offset + limit < len(entries) else None
        prev = f"{base}?limit={limit}&offset={max(0, offset - limit)}" if offset else None
        return Response({"count": len(entries), "next": nxt, "previous": prev, "results": page})

    @extend_schema(request=CustomToolSerializer, responses={201: CustomToolSerializer},
                   summary="Declare a custom tool (query or command)")
    def post(self, request):
        principal = Principal.of(request)
        serializer = CustomToolSerializer(data=request.data, context={"request": request, "principal": principal})
        serializer.is_valid(raise_exception=True)
        if "tenant" in serializer.validated_data:
            tenant = serializer.validated_data["tenant"]  # None: a global tool
        else:
            tenant = _default_tenant(principal)
        _may_write(principal, getattr(tenant, "pk", None), Action.ADD)
        obj = _save(serializer, principal, tenant=tenant, created_by=principal.user)
        return Response(CustomToolSerializer(obj, context={"request": request, "principal": principal}).data,
                        status=status.HTTP_201_CREATED)


def _int(params, name, default, low, high):
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["A whole number."]}) from None
    if not low <= value <= high:
        raise exceptions.ValidationError({name: [f"From {low} to {high}."]})
    return value


class ToolView(APIView):
    """``/api/mcp/tools/{id}/``: a custom tool by id, or a built-in by name (read-only)."""

    permission_classes = [IsAuthenticated]

    def _builtin(self, request, key):
        from ..registry import registry
        from ..server import visible_tools

        tool = registry.get(key)
        if tool is None or tool not in visible_tools(Principal.of(request)):
            raise exceptions.NotFound(f"No tool {key!r}.")
        return tool

    def _writable(self, request, principal: Principal, key, action: str) -> CustomTool:
        """The custom tool to change or delete; a built-in one (by name) is read-only: 405 (404 if unseen)."""
        if not key.isdigit():
            self._builtin(request, key)
            raise exceptions.MethodNotAllowed(request.method, detail="Built-in tools are read-only.")
        return _get_custom(principal, key, action)

    @extend_schema(responses={200: CustomToolSerializer}, summary="A tool (custom by id, built-in by name)")
    def get(self, request, key):
        principal = Principal.of(request)
        _scope(principal, Action.VIEW)
        if not key.isdigit():
            return Response(builtin_entry(self._builtin(request, key)))
        obj = _get_custom(principal, key)
        return Response(CustomToolSerializer(obj, context={"request": request, "principal": principal}).data)

    @extend_schema(request=CustomToolSerializer, responses={200: CustomToolSerializer},
                   summary="Change a custom tool (its version is bumped)")
    def patch(self, request, key):
        principal = Principal.of(request)
        obj = self._writable(request, principal, key, Action.CHANGE)
        serializer = CustomToolSerializer(obj, data=request.data, partial=True,
                                          context={"request": request, "principal": principal})
        serializer.is_valid(raise_exception=True)
        obj = _save(serializer, principal)
        return Response(CustomToolSerializer(obj, context={"request": request, "principal": principal}).data)

    @extend_schema(responses={204: None}, summary="Delete a custom tool")
    def delete(self, request, key):
        principal = Principal.of(request)
        obj = self._writable(request, principal, key, Action.DELETE)
        obj.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolTestView(APIView):
    """``POST /api/mcp/tools/{id}/test/`` ``{"params": {...}}``: a query tool runs (read-only); a
    command tool is rendered for the devices it would select, and nothing runs."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=inline_serializer("McpToolTest", {"params": serializers.DictField(required=False)}),
                   responses={200: OpenApiTypes.OBJECT}, summary="Try a custom tool without side effects")
    def post(self, request, key):
        principal = Principal.of(request)
        if not key.isdigit():
            raise exceptions.NotFound("Only custom tools can be tested.")
        obj = _get_custom(principal, key)
        params = request.data.get("params", {}) if isinstance(request.data, dict) else None
        if not isinstance(params, dict):
            raise exceptions.ValidationError({"params": ["An object of the tool's parameters."]})
        try:
            return Response(run_test(principal, obj, params))
        except ToolError as exc:  # the same refusal an MCP call gets, in REST's shapes
            if exc.code == "FORBIDDEN":
                raise exceptions.PermissionDenied(exc.message) from None
            if exc.code == "NOT_FOUND":
                raise exceptions.NotFound(exc.message) from None
            details = exc.details if isinstance(exc.details, dict) and exc.details else {}
            raise exceptions.ValidationError(details or {"non_field_errors": [exc.message]}) from None


def run_test(principal: Principal, obj: CustomTool, params: dict) -> dict:
    """What the admin's and REST's Test show: the query's result, or the commands a command tool
    would run (nothing runs). Raises ToolError (invalid parameters, no permission)."""
    from ..registry import Forbidden
    from ..registry import tool_error as _tool_error
    from ..server import validate_arguments

    row = Row(obj.pk, obj.tenant_id, obj.name, obj.title, obj.description, obj.kind, obj.parameters, obj.definition,
              tuple(obj.allowed_roles), frozenset(obj.groups.values_list("pk", flat=True)), obj.version)
    tool = as_tool(row)
    validate_arguments(tool, params)
    if not tool.visible(principal):
        raise Forbidden("Your role (or group, or credential scope) does not allow this tool.")
    try:
        if obj.kind == ToolKind.QUERY:
            from ..registry import ToolContext

            with transaction.atomic():
                result = tool.handler(ToolContext(principal=principal, tool=tool, base_principal=principal), params)
                transaction.set_rollback(True)
            return {"kind": "query", "result": result}
        if obj.kind == ToolKind.BLUEPRINT:  # the plan (a dry run: nothing changes)
            from ..registry import ToolContext

            result = tool.handler(ToolContext(principal=principal, tool=tool, base_principal=principal),
                                  {**params, "dry_run": True})
            return {"kind": "blueprint", "result": result}
        return {"kind": "command", **preview_command(principal, row, params)}
    except Exception as exc:  # noqa: BLE001 - the same mapping as an MCP call
        raise _tool_error(exc) from None


# --- tool-group policies ---------------------------------------------------------------------------
class ToolGroupPolicySerializer(serializers.ModelSerializer):
    tenant = RestrictedRelatedField(Tenant)

    class Meta:
        model = ToolGroupPolicy
        fields = ["id", "tenant", "client_id", "mode", "enabled_groups", "disabled_groups", "created", "updated"]
        read_only_fields = ["created", "updated"]

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        principal = principal_of(self.context)
        tenant = attrs.get("tenant") or getattr(self.instance, "tenant", None)
        if self.instance is not None and "tenant" in attrs and attrs["tenant"].pk != self.instance.tenant_id:
            raise serializers.ValidationError({"tenant": ["A policy cannot move to another tenant."]})
        _scope(principal, Action.MANAGE)
        if tenant is not None and not principal.can(Action.MANAGE, tenant):
            raise forbidden(principal, Action.MANAGE, "tool groups of this tenant")
        return attrs


def _policies(principal: Principal):
    return ToolGroupPolicy.objects.restrict(principal, Action.VIEW).select_related("tenant")


class ToolGroupsView(APIView):
    """``GET /api/mcp/tool-groups/``: the known groups and the policies you can see; ``POST``: a policy."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Tool groups and per-tenant policies")
    def get(self, request):
        from ..registry import registry

        principal = Principal.of(request)
        _scope(principal, Action.VIEW)
        rows = _policies(principal)
        return Response({"groups": [{"name": g, "description": d} for g, d in registry.groups().items()],
                         "count": rows.count(), "next": None, "previous": None,
                         "results": ToolGroupPolicySerializer(rows, many=True, context={"principal": principal}).data})

    @extend_schema(request=ToolGroupPolicySerializer, responses={201: ToolGroupPolicySerializer},
                   summary="Create a tool-group policy (tenant admins)")
    def post(self, request):
        principal = Principal.of(request)
        serializer = ToolGroupPolicySerializer(data=request.data, context={"principal": principal})
        serializer.is_valid(raise_exception=True)
        obj = _save_policy(ToolGroupPolicy(), serializer.validated_data)
        return Response(ToolGroupPolicySerializer(obj, context={"principal": principal}).data,
                        status=status.HTTP_201_CREATED)


def _save_policy(obj: ToolGroupPolicy, attrs: dict) -> ToolGroupPolicy:
    for name, value in attrs.items():
        setattr(obj, name, value)
    try:
        obj.full_clean()
        obj.save()
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    return obj


class ToolGroupView(APIView):
    permission_classes = [IsAuthenticated]

    def _get(self, request, pk, action):
        principal = Principal.of(request)
        try:
            obj = _policies(principal).get(pk=pk)
        except (ToolGroupPolicy.DoesNotExist, ValueError, OverflowError):
            raise exceptions.NotFound(f"No tool-group policy with id {pk!r}.") from None
        if action != Action.VIEW:
            _scope(principal, action)
            check(principal, Action.MANAGE, obj, "tool groups of this tenant")
        return principal, obj

    @extend_schema(responses={200: ToolGroupPolicySerializer})
    def get(self, request, pk):
        principal, obj = self._get(request, pk, Action.VIEW)
        return Response(ToolGroupPolicySerializer(obj, context={"principal": principal}).data)

    @extend_schema(request=ToolGroupPolicySerializer, responses={200: ToolGroupPolicySerializer})
    def patch(self, request, pk):
        principal, obj = self._get(request, pk, Action.MANAGE)
        serializer = ToolGroupPolicySerializer(obj, data=request.data, partial=True, context={"principal": principal})
        serializer.is_valid(raise_exception=True)
        obj = _save_policy(obj, serializer.validated_data)
        return Response(ToolGroupPolicySerializer(obj, context={"principal": principal}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        _principal, obj = self._get(request, pk, Action.MANAGE)
        obj.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

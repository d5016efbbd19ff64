"""REST endpoints of the gateway: client configuration and the audit log."""

from __future__ import annotations

from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from inventory.api import csv_export
from inventory.api.pagination import MAX_OFFSET
from inventory.tenancy import Action, Principal

from . import clients
from .models import McpCall, Outcome

MAX_LIMIT = 500


class ConfigView(APIView):
    """``GET /api/mcp/config``: endpoint URL, transport, auth discovery, client snippets (no secrets)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="MCP endpoint and client configuration snippets")
    def get(self, request):
        return Response(clients.describe())


def audit_queryset(principal: Principal):
    """Calls a principal may read: every call in tenants it manages, plus its own."""
    managed = McpCall.objects.restrict(principal, Action.MANAGE)
    if principal.tenant_ids_for(Action.MANAGE) is None:
        return managed  # superuser without narrowing: everything
    return McpCall.objects.filter(Q(pk__in=managed.values("pk")) | Q(user_id=principal.user.pk))


class McpCallSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="username", read_only=True)
    tenant_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = McpCall
        fields = ["call_id", "created", "user", "tenant_id", "auth_kind", "client_id", "client_name", "transport",
                  "tool", "arguments", "outcome", "error_code", "error_message", "duration_ms", "ip", "user_agent", "served_by"]


class AuditQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    tool = serializers.CharField(max_length=100, required=False)
    user = serializers.CharField(max_length=150, required=False, help_text="Username.")
    client = serializers.CharField(max_length=255, required=False, help_text="OAuth client id or name.")
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    since = serializers.CharField(required=False, help_text="ISO date or date-time.")

    def validate_since(self, value):
        parsed = parse_datetime(value) or (parse_date(value) and parse_datetime(value + "T00:00:00+00:00"))
        if parsed is None:
            raise serializers.ValidationError("Expected an ISO 8601 date or date-time, e.g. 2026-11-23T08:00:00Z.")
        return parsed


class AuditLogView(APIView):
    """``GET /api/mcp/audit/logs?limit=50&tool=&user=&client=&outcome=&since=``, newest first;
    ``?format=csv``: every matching row, streamed."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, csv_export.CSVRenderer]

    @extend_schema(parameters=[AuditQuerySerializer], responses={200: inline_serializer("McpAuditPage", {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": McpCallSerializer(many=True)})})
    def get(self, request):
        principal = Principal.of(request)
        if principal.missing_scopes(Action.VIEW):
            raise exceptions.PermissionDenied(f"This credential lacks the scope {' '.join(principal.missing_scopes(Action.VIEW))}.")
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        unknown = set(request.query_params) - set(AuditQuerySerializer().fields) - {"format"}
        if unknown:
            raise exceptions.ValidationError({name: ["Unknown filter."] for name in sorted(unknown)})
        qs = audit_queryset(principal)
        if "tool" in q:
            qs = qs.filter(tool=q["tool"])
        if "user" in q:
            qs = qs.filter(username=q["user"])
        if "client" in q:
            qs = qs.filter(Q(client_id=q["client"]) | Q(client_name=q["client"]))
        if "outcome" in q:
            qs = qs.filter(outcome=q["outcome"])
        if "since" in q:
            qs = qs.filter(created__gte=q["since"])
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return csv_export.stream(qs.order_by("-created", "-id"), McpCallSerializer, {}, "mcp-audit-logs")
        # the envelope of every other list: count, next, previous, results
        paginator = AuditPagination()
        rows = paginator.paginate_queryset(qs.order_by("-created", "-id"), request, self)
        return paginator.get_paginated_response(McpCallSerializer(rows, many=True).data)


class AuditPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = MAX_LIMIT

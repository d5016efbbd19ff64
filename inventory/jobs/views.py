"""REST endpoints for jobs, discovery and SSH access (mounted at /api/jobs/).

Authentication and the scope check come from the project's DRF defaults (TenancyPermission
reads ``action``/``tenancy_actions``); tenant rules are in inventory.jobs.services.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.settings import api_settings

from inventory.api import csv_export
from inventory.fields import MAX_ID
from inventory.tenancy import Action, Principal

from . import services
from .models import Job, JobKind, JobStatus
from .serializers import (CommandRequestSerializer, DeviceAccessSerializer, DiscoveredDeviceSerializer,
                          JobDetailSerializer, JobSerializer, PromoteRequestSerializer, ProvisionRequestSerializer,
                          ScanRequestSerializer)


class JobsView(GenericAPIView):
    action = "read"
    tenancy_actions = {"read": Action.VIEW, "start": Action.EXECUTE, "cancel": Action.EXECUTE,
                       "promote": Action.ADD,
                       "access": {"get": Action.VIEW, "put": Action.CHANGE, "patch": Action.CHANGE},
                       "approve": Action.CHANGE}

    @property
    def principal(self) -> Principal:
        return Principal.of(self.request)

    def filter_queryset(self, queryset):  # our filters are explicit below
        return queryset


def _choice(request, name, choices):
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if value not in choices:
        raise ValidationError({name: [f"{value!r} is not one of: {', '.join(choices)}."]})
    return value


class JobListView(JobsView):
    serializer_class = JobSerializer
    queryset = Job.objects.none()  # for the schema only; rows come from services.visible_jobs
    #: ``?format=csv`` as on every other list (every matching job, streamed)
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, csv_export.CSVRenderer]

    @extend_schema(operation_id="jobs_list", parameters=[
        OpenApiParameter("status", enum=JobStatus.values), OpenApiParameter("kind", enum=JobKind.values)],
        responses=JobSerializer(many=True))
    def get(self, request):
        qs = services.visible_jobs(self.principal)
        for name, choices in (("status", JobStatus.values), ("kind", JobKind.values)):
            value = _choice(request, name, choices)
            if value:
                qs = qs.filter(**{name: value})
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return csv_export.stream(qs, JobSerializer, {"request": request}, "jobs")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(JobSerializer(page, many=True, context={"request": request}).data)


class JobDetailView(JobsView):
    serializer_class = JobDetailSerializer

    @extend_schema(parameters=[OpenApiParameter("log_after", {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                                                description="Only log lines with a larger id.")])
    def get(self, request, pk):
        job = services.get_job(self.principal, pk)
        try:
            log_after = int(request.query_params.get("log_after") or 0)
        except ValueError:
            raise ValidationError({"log_after": ["Expected an integer."]}) from None
        if not 0 <= log_after <= MAX_ID:
            raise ValidationError({"log_after": [f"Expected an integer from 0 to {MAX_ID}."]})
        return Response(JobDetailSerializer(job, context={"log_after": log_after, "request": request}).data)


class JobCancelView(JobsView):
    action = "cancel"
    serializer_class = JobSerializer

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, pk):
        return Response(JobSerializer(services.cancel_job(self.principal, pk), context={"request": request}).data)


class StartView(JobsView):
    action = "start"
    start = None

    def post(self, request):
        job = type(self).start(self.principal, request.data)
        return accepted(request, job)


def accepted(request, job) -> Response:
    """202 Accepted for a job that was queued: the job, and where to watch it (``Location``)."""
    data = JobSerializer(job, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class ScanStartView(StartView):
    serializer_class = ScanRequestSerializer
    start = staticmethod(services.start_scan)

    @extend_schema(request=ScanRequestSerializer, responses={202: JobSerializer})
    def post(self, request):
        return super().post(request)


class CommandStartView(StartView):
    serializer_class = CommandRequestSerializer
    start = staticmethod(services.start_command)

    @extend_schema(request=CommandRequestSerializer, responses={202: JobSerializer})
    def post(self, request):
        return super().post(request)


class ProvisionStartView(StartView):
    serializer_class = ProvisionRequestSerializer
    start = staticmethod(services.start_provisioning)

    @extend_schema(request=ProvisionRequestSerializer, responses={202: JobSerializer})
    def post(self, request):
        return super().post(request)


class DiscoveredListView(JobsView):
    serializer_class = DiscoveredDeviceSerializer

    @extend_schema(parameters=[OpenApiParameter("network", {"type": "integer", "minimum": 1, "maximum": MAX_ID})])
    def get(self, request):
        qs = services.visible_discoveries(self.principal, request.query_params.get("network"))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DiscoveredDeviceSerializer(page, many=True).data)


class PromoteView(JobsView):
    action = "promote"
    serializer_class = PromoteRequestSerializer

    @extend_schema(request=PromoteRequestSerializer, responses={201: DiscoveredDeviceSerializer})
    def post(self, request, pk):
        data = PromoteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.promote(self.principal, pk, data.validated_data["name"])
        found = services.visible_discoveries(self.principal).get(pk=pk)
        return Response({**DiscoveredDeviceSerializer(found).data, "device_name": device.name},
                        status=status.HTTP_201_CREATED)


class AccessView(JobsView):
    action = "access"
    serializer_class = DeviceAccessSerializer

    def get_object(self):  # DRF's OPTIONS metadata asks for it (404/403 are answers, not errors)
        return services.get_access(self.principal, self.kwargs["device_id"])

    def get(self, request, device_id):
        return Response(DeviceAccessSerializer(services.get_access(self.principal, device_id)).data)

    def put(self, request, device_id):
        return Response(DeviceAccessSerializer(services.save_access(self.principal, device_id, request.data)).data)

    def patch(self, request, device_id):
        access = services.save_access(self.principal, device_id, request.data, partial=True)
        return Response(DeviceAccessSerializer(access).data)


class ApproveHostKeySerializer(serializers.Serializer):
    fingerprint = serializers.CharField(required=False, allow_blank=True,
                                        help_text="Approve only if the pending key has this fingerprint.")


class ApproveHostKeyView(JobsView):
    action = "approve"
    serializer_class = ApproveHostKeySerializer

    def post(self, request, device_id):
        data = ApproveHostKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access = services.approve_host_key(self.principal, device_id, data.validated_data.get("fingerprint", ""))
        return Response(DeviceAccessSerializer(access).data)

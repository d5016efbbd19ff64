"""REST: /api/blueprints/ (catalog, create), /api/blueprints/{id}/ (get, replace, delete),
/api/blueprints/{id}/publish|import|listed/, /api/blueprints/use/ (plan or run),
/api/blueprint-runs/ and /api/blueprint-runs/{id}/ (with /resume/). Rules in services.py."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from inventory.tenancy import Action, Principal

from . import services
from .models import Blueprint, BlueprintRun
from .serializers import BlueprintSaveSerializer, ImportSerializer, ListedSerializer, PublishSerializer, UseSerializer

WRITE = {"get": Action.VIEW, "post": Action.ADD, "put": Action.CHANGE, "patch": Action.CHANGE,
         "delete": Action.DELETE}


def _page(name: str):
    """The schema of a list answer whose items are plain objects (services.blueprint_view/run_view)."""
    return inline_serializer(name, {"count": serializers.IntegerField(),
                                    "next": serializers.URLField(allow_null=True),
                                    "previous": serializers.URLField(allow_null=True),
                                    "results": serializers.ListField(child=serializers.DictField())})


class BlueprintView(GenericAPIView):
    action = "rest"
    tenancy_actions = {"rest": WRITE, "publish": Action.MANAGE, "import": Action.ADD, "listed": Action.CHANGE,
                       "use": Action.VIEW, "resume": Action.EXECUTE}
    queryset = Blueprint.objects.none()

    @property
    def principal(self) -> Principal:
        return Principal.of(self.request)

    def filter_queryset(self, queryset):
        return queryset

    def valid(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class BlueprintListView(BlueprintView):
    serializer_class = BlueprintSaveSerializer

    @extend_schema(parameters=[OpenApiParameter("source", str), OpenApiParameter("query", str),
                               OpenApiParameter("name", str)], responses=_page("BlueprintPage"))
    def get(self, request):
        qs = services.catalog(self.principal, request.query_params.get("source") or None,
                              request.query_params.get("query") or None)
        if request.query_params.get("name"):
            qs = qs.filter(name=request.query_params["name"])
        rows = self.paginate_queryset(qs)
        return self.get_paginated_response([services.blueprint_view(bp) for bp in rows])

    @extend_schema(request=BlueprintSaveSerializer, responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = self.valid(BlueprintSaveSerializer)
        bp, created = services.save(self.principal, data["document"], data.get("tenant"))
        return Response(services.blueprint_view(bp, full=True),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class BlueprintDetailView(BlueprintView):
    serializer_class = BlueprintSaveSerializer

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(services.blueprint_view(services.get_by_id(self.principal, pk), full=True))

    @extend_schema(request=BlueprintSaveSerializer, responses=OpenApiTypes.OBJECT)
    def put(self, request, pk):
        data = self.valid(BlueprintSaveSerializer)
        bp, _ = services.save(self.principal, data["document"], pk=pk)
        return Response(services.blueprint_view(bp, full=True))

    def delete(self, request, pk):
        services.delete(self.principal, pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublishView(BlueprintView):
    action = "publish"
    serializer_class = PublishSerializer

    @extend_schema(request=PublishSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        data = self.valid(PublishSerializer)
        bp = services.publish(self.principal, pk, data.get("changelog", ""))
        return Response(services.blueprint_view(bp, full=True), status=status.HTTP_201_CREATED)


class ImportView(BlueprintView):
    action = "import"
    serializer_class = ImportSerializer

    @extend_schema(request=ImportSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        data = self.valid(ImportSerializer)
        bp = services.import_copy(self.principal, pk, data.get("tenant"), data.get("name") or None)
        return Response(services.blueprint_view(bp, full=True), status=status.HTTP_201_CREATED)


class ListedView(BlueprintView):
    action = "listed"
    serializer_class = ListedSerializer

    @extend_schema(request=ListedSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        data = self.valid(ListedSerializer)
        return Response(services.blueprint_view(services.unlist(self.principal, pk, data["listed"])))


class UseView(BlueprintView):
    action = "use"
    serializer_class = UseSerializer

    @extend_schema(request=UseSerializer, responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def post(self, request):
        data = self.valid(UseSerializer)
        result = services.use(self.principal, data["name"], data.get("params") or {}, source=data.get("source") or None,
                              version=data.get("version") or None, tenant=data.get("tenant"),
                              dry_run=data["dry_run"], confirm=data.get("confirm", ""))
        return Response(result, status=status.HTTP_200_OK if data["dry_run"] else status.HTTP_202_ACCEPTED)


class RunListView(BlueprintView):
    queryset = BlueprintRun.objects.none()

    @extend_schema(responses=_page("BlueprintRunPage"))
    def get(self, request):
        rows = self.paginate_queryset(services.visible_runs(self.principal))
        return self.get_paginated_response([services.run_view(r) for r in rows])


class RunDetailView(BlueprintView):
    queryset = BlueprintRun.objects.none()

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(services.run_view(services.get_run(self.principal, pk)))


class RunResumeView(BlueprintView):
    action = "resume"
    queryset = BlueprintRun.objects.none()
    serializer_class = serializers.Serializer  # no body (DRF's OPTIONS metadata describes one)

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        return Response(services.run_view(services.resume(self.principal, pk)), status=status.HTTP_202_ACCEPTED)

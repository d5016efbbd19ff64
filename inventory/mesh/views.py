"""REST endpoints of the mesh (mounted at /api/mesh/), mirroring the MCP tools:

- meshes/ and meshes/{id}/: CRUD (the serializer; the overlay network is created with the mesh)
- meshes/{id}/peers/: GET the peers, POST add one (mesh_add_peer)
- meshes/{id}/apply/, status/, check/: POST starts the jobs (202); GET status/ is the last observed
- peers/{id}/: GET, PATCH (endpoint, allowed_ips, enabled, is_hub, interface), DELETE (mesh_remove_peer)
- peers/{id}/config/: the rendered configuration, key masked; peers/{id}/rotate-key/: POST
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from inventory.api.filtersets import TenantFilterSet, ref_filters
from inventory.api.views.base import InventoryViewSet, documented
from inventory.jobs.serializers import JobSerializer
from inventory.models import Device
from inventory.tenancy import Action, Principal

from . import services
from .models import Mesh, MeshPeer, PeerStatus, Topology
from .serializers import AddPeerSerializer, MeshPeerSerializer, MeshSerializer, PeerConfigSerializer


class MeshFilter(TenantFilterSet):
    name = django_filters.CharFilter()
    topology = django_filters.ChoiceFilter(choices=Topology.choices)

    class Meta:
        model = Mesh
        fields = ["tenant_id", "tenant", "name", "topology"]


class MeshPeerFilter(TenantFilterSet):
    # another tenant's mesh or device is no different from none at all ("not visible", a 400)
    mesh_id, mesh = ref_filters("mesh", Mesh)
    device_id, device = ref_filters("device", Device)
    enabled = django_filters.BooleanFilter()
    last_status = django_filters.ChoiceFilter(choices=PeerStatus.choices)

    class Meta:
        model = MeshPeer
        fields = ["tenant_id", "tenant", "mesh_id", "mesh", "device_id", "device", "enabled", "last_status"]


def _jobs(jobs) -> Response:
    return Response(JobSerializer(jobs, many=True).data, status=status.HTTP_202_ACCEPTED)


@documented
class MeshViewSet(InventoryViewSet):
    model = Mesh
    serializer_class = MeshSerializer
    filterset_class = MeshFilter
    detail_query_params = InventoryViewSet.detail_query_params | {"only_outdated"}
    tenancy_actions = {"peers": {"get": Action.VIEW, "post": Action.CHANGE}, "apply": Action.EXECUTE,
                       "status": {"get": Action.VIEW, "post": Action.EXECUTE}, "check": Action.EXECUTE}

    @extend_schema(methods=["GET"], request=None, responses=MeshPeerSerializer(many=True))
    @extend_schema(methods=["POST"], request=AddPeerSerializer, responses={201: MeshPeerSerializer})
    @action(detail=True, methods=["get", "post"])
    def peers(self, request, pk=None):
        context = self.get_base_context()
        if request.method == "GET":
            _mesh, qs = services.peers(self.principal, pk)
            return Response(MeshPeerSerializer(qs, many=True, context=context).data)
        self.check_detail_query_params()
        data = {**(request.data if isinstance(request.data, dict) else {}), "mesh": pk}
        peer = services.add_peer(self.principal, data)
        return Response(MeshPeerSerializer(peer, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, parameters=[OpenApiParameter("only_outdated", bool)],
                   responses={202: JobSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        only = str(request.query_params.get("only_outdated", "")).lower() in ("1", "true", "yes")
        peer_ids = request.data.get("peers") if isinstance(request.data, dict) else None
        return _jobs(services.apply(self.principal, pk, peer_ids, only_outdated=only))

    @extend_schema(methods=["GET"], request=None, responses=MeshPeerSerializer(many=True))
    @extend_schema(methods=["POST"], request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["get", "post"])
    def status(self, request, pk=None):
        if request.method == "GET":
            _mesh, qs = services.peers(self.principal, pk)
            return Response(MeshPeerSerializer(qs, many=True, context=self.get_base_context()).data)
        return Response(JobSerializer(services.start_status(self.principal, pk)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        return Response(JobSerializer(services.start_check(self.principal, pk)).data, status=status.HTTP_202_ACCEPTED)


@documented
class MeshPeerViewSet(InventoryViewSet):
    model = MeshPeer
    serializer_class = MeshPeerSerializer
    filterset_class = MeshPeerFilter
    detail_query_params = InventoryViewSet.detail_query_params | {"leave"}
    http_method_names = ["get", "patch", "delete", "post", "head", "options"]
    tenancy_actions = {"destroy": Action.CHANGE, "config": Action.VIEW, "rotate_key": Action.CHANGE}

    def get_queryset(self):
        return super().get_queryset().select_related("mesh", "device", "address", "second_address")

    @extend_schema(exclude=True)  # peers are added under their mesh: POST /api/mesh/meshes/{id}/peers/
    def create(self, request, *args, **kwargs):
        return Response({"detail": "Add peers with POST /api/mesh/meshes/{id}/peers/."},
                        status=status.HTTP_405_METHOD_NOT_ALLOWED)

    def destroy(self, request, *args, **kwargs):
        gone = services.remove_peer(self.principal, kwargs["pk"])
        body = {"removed": True, "id": gone["id"]}
        if gone["installed"] and str(request.query_params.get("leave", "1")).lower() not in ("0", "false", "no"):
            body["leave_job"] = services.leave(self.principal, gone).pk
        return Response(body, status=status.HTTP_200_OK)

    @extend_schema(request=None, responses=PeerConfigSerializer)
    @action(detail=True, methods=["get"])
    def config(self, request, pk=None):
        return Response(services.peer_config(self.principal, pk))

    @extend_schema(request=None, responses=MeshPeerSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-key", url_name="rotate-key")
    def rotate_key(self, request, pk=None):
        peer = services.rotate_key(self.principal, pk)
        return Response(MeshPeerSerializer(peer, context=self.get_base_context()).data)

"""/api/mesh/…: meshes, peers, configurations, status and checks."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "mesh"

router = DefaultRouter()
router.register("meshes", views.MeshViewSet, basename="mesh")
router.register("peers", views.MeshPeerViewSet, basename="peer")

urlpatterns = [path("", include(router.urls))]

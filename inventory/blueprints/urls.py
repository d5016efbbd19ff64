"""Blueprint REST endpoints, included under /api/ before the main router."""

from django.urls import path

from . import views

app_name = "blueprints"

urlpatterns = [
    path("blueprints/", views.BlueprintListView.as_view(), name="blueprint-list"),
    path("blueprints/use/", views.UseView.as_view(), name="blueprint-use"),
    path("blueprints/<int:pk>/", views.BlueprintDetailView.as_view(), name="blueprint-detail"),
    path("blueprints/<int:pk>/publish/", views.PublishView.as_view(), name="blueprint-publish"),
    path("blueprints/<int:pk>/import/", views.ImportView.as_view(), name="blueprint-import"),
    path("blueprints/<int:pk>/listed/", views.ListedView.as_view(), name="blueprint-listed"),
    path("blueprint-runs/", views.RunListView.as_view(), name="run-list"),
    path("blueprint-runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("blueprint-runs/<int:pk>/resume/", views.RunResumeView.as_view(), name="run-resume"),
]

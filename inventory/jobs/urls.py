"""/api/jobs/…: jobs, starting scans/commands/provisioning, discovery results, SSH access."""

from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("", views.JobListView.as_view(), name="job-list"),
    path("<int:pk>/", views.JobDetailView.as_view(), name="job-detail"),
    path("<int:pk>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("scan/", views.ScanStartView.as_view(), name="scan"),
    path("command/", views.CommandStartView.as_view(), name="command"),
    path("provision/", views.ProvisionStartView.as_view(), name="provision"),
    path("discovered/", views.DiscoveredListView.as_view(), name="discovered-list"),
    path("discovered/<int:pk>/promote/", views.PromoteView.as_view(), name="discovered-promote"),
    path("access/<int:device_id>/", views.AccessView.as_view(), name="access"),
    path("access/<int:device_id>/approve-host-key/", views.ApproveHostKeyView.as_view(), name="access-approve"),
]

"""Blueprints (parameterized multi-step recipes, stored as their document) and their runs.

Sources:
- ``official``: shipped as YAML files in ``official/`` (installed on migrate, read-only, no tenant);
- ``private``: a tenant's own (visible in that tenant only);
- ``community``: a published copy of a private one (no tenant: every tenant may view and use it;
  ``author_name`` shows who published it; only a superuser may unlist it).

Every rule is in ``clean()``: the document is checked (documents.validate) and name, version,
title and description are taken from it, so admin, REST, MCP and imports refuse the same input.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from inventory.configuration.models.base import MaybeGlobal
from inventory.fields import EncryptedTextField
from inventory.models.base import TenantOwned


class Source(models.TextChoices):
    OFFICIAL = "official", "Official"
    PRIVATE = "private", "Private"
    COMMUNITY = "community", "Community"


class Blueprint(MaybeGlobal):
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PRIVATE)
    name = models.CharField(max_length=100, editable=False, help_text="From the document.")
    version = models.CharField(max_length=40, editable=False, help_text="From the document (semver).")
    title = models.CharField(max_length=200, editable=False, blank=True, default="")
    description = models.TextField(editable=False, blank=True, default="")
    document = models.JSONField(default=dict, help_text="The blueprint document (YAML or JSON).")
    changelog = models.CharField(max_length=500, blank=True, default="",
                                 help_text="Community copies: what changed in this version.")
    author_name = models.CharField(max_length=200, blank=True, default="", editable=False,
                                   help_text="Community copies: the tenant that published it.")
    author_tenant = models.ForeignKey("inventory.Tenant", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", editable=False)
    listed = models.BooleanField(default=True, help_text="Community copies: shown in the catalog.")
    origin = models.CharField(max_length=200, blank=True, default="", editable=False,
                              help_text="Where an imported copy came from (source:name@version).")

    class Meta:
        ordering = ["name", "source", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], condition=Q(source="private"),
                                    name="blueprint_unique_private_name"),
            models.UniqueConstraint(fields=["name"], condition=Q(source="official"),
                                    name="blueprint_unique_official_name"),
            models.UniqueConstraint(fields=["name", "version"], condition=Q(source="community"),
                                    name="blueprint_unique_community_version"),
        ]

    def __str__(self):
        return f"{self.name} {self.version} ({self.source})"

    @property
    def is_global(self) -> bool:
        return self.source != Source.PRIVATE

    def clean(self):
        from .documents import validate

        if self.source == Source.PRIVATE:
            if self.tenant_id is None:
                raise ValidationError({"tenant": "A private blueprint belongs to a tenant."})
        elif self.tenant_id is not None:
            raise ValidationError({"tenant": "Official and community blueprints belong to no tenant."})
        super().clean()
        doc = validate(self.document)  # ValidationError({"document": [...]})
        self.name, self.version = doc["name"], doc["version"]
        self.title, self.description = doc.get("title", "")[:200], doc.get("description", "")
        same = Blueprint.objects.filter(source=self.source, name=self.name).exclude(pk=self.pk)
        if self.source == Source.PRIVATE and same.filter(tenant_id=self.tenant_id).exists():
            raise ValidationError({"document": [f"A blueprint named '{self.name}' already exists in this tenant."]})
        if self.source == Source.COMMUNITY and same.filter(version=self.version).exists():
            raise ValidationError({"document": [f"Version {self.version} of '{self.name}' is already published; "
                                                f"raise the version."]})
        if self.source == Source.COMMUNITY and self.author_tenant_id and same.exclude(
                author_tenant_id=self.author_tenant_id).exists():
            raise ValidationError({"document": [f"'{self.name}' is published by another tenant; choose another name."]})


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class BlueprintRun(TenantOwned):
    """One use of a blueprint: what ran (name, source, version, the document as it was), with
    which parameters (secret ones masked; their values sealed, encrypted at rest, for the
    worker and ``resume`` only), the plan, each step's result and the outputs."""

    blueprint_name = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=Source.choices)
    version = models.CharField(max_length=40)
    document = models.JSONField(default=dict)
    params = models.JSONField(default=dict, blank=True, help_text="Secret parameters masked.")
    sealed_params = EncryptedTextField(blank=True, default="", editable=False,
                                       help_text="The secret parameters (JSON), encrypted; never shown.")
    plan = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    results = models.JSONField(default=list, blank=True, help_text="Per step: status, changes, outputs, error.")
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            help_text="The job of the latest attempt (resume starts a new one).")
    jobs = models.JSONField(default=list, blank=True, help_text="Ids of every job of this run.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    via = models.CharField(max_length=16, blank=True, default="")

    tenant_links = ("job",)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "blueprint run"

    def __str__(self):
        return f"run #{self.pk} of {self.blueprint_name} {self.version}"

    def clean(self):
        super().clean()
        if not isinstance(self.params, dict):
            raise ValidationError({"params": "Parameters are a JSON object."})
        if not isinstance(self.results, list):
            raise ValidationError({"results": "A list of step results."})

from django.core.exceptions import ValidationError
from django.db import models

from .base import TenantOwned


class DeviceStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    OFFLINE = "offline", "Offline"
    FAILED = "failed", "Failed"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


class Tag(TenantOwned):
    name = models.CharField(max_length=64, help_text="Unique within the tenant.")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tag_unique_name")]

    def __str__(self):
        return self.name


class Device(TenantOwned):
    name = models.CharField(max_length=100, help_text="Unique within the tenant.")
    description = models.TextField(blank=True, default="")
    make_model = models.CharField(max_length=100, blank=True, default="", help_text="Vendor and model, e.g. 'Dell R640'.")
    os = models.CharField(max_length=100, blank=True, default="", help_text="Operating system, e.g. 'Ubuntu 24.04'.")
    datacenter = models.ForeignKey(
        "inventory.Datacenter", null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    username = models.CharField(max_length=64, blank=True, default="", help_text="Login user for SSH access.")
    location = models.CharField(max_length=200, blank=True, default="", help_text="Rack, room or free text.")
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.PLANNED)
    tags = models.ManyToManyField(Tag, blank=True, related_name="devices")
    domains = models.JSONField(default=list, blank=True, help_text="DNS domains the device serves or belongs to.")
    facts = models.JSONField(default=dict, blank=True, help_text="Hardware and network facts, filled by discovery.")
    #: denormalised text of the device and its tags, domains and addresses, for search
    search_text = models.TextField(editable=False, default="")

    tenant_links = ("datacenter",)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="device_unique_name")]
        indexes = [
            models.Index(fields=["tenant", "status"], name="device_tenant_status_idx"),
            models.Index(fields=["name"], name="device_name_idx"),  # list order across several tenants
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if not isinstance(self.domains, list) or not all(isinstance(d, str) for d in self.domains):
            raise ValidationError({"domains": "Domains must be a list of names."})
        self.domains = sorted({d.strip().lower().rstrip(".") for d in self.domains if d.strip()})
        if not isinstance(self.facts, dict):
            raise ValidationError({"facts": "Facts must be a JSON object."})

    def build_search_text(self, tags=None, addresses=None) -> str:
        if self.pk:
            tags = [t.name for t in self.tags.all()] if tags is None else tags
            addresses = list(self.addresses.values_list("address", flat=True)) if addresses is None else addresses
        parts = [self.name, self.description, self.make_model, self.os, self.location,
                 *(self.domains or []), *(tags or []), *(addresses or [])]
        return "\n".join(p for p in parts if p).lower()

    def save(self, *args, **kwargs):
        self.search_text = self.build_search_text() if self.pk else self.build_search_text([], [])
        super().save(*args, **kwargs)

    def refresh_search_text(self):
        text = self.build_search_text()
        Device.objects.filter(pk=self.pk).update(search_text=text)
        self.search_text = text


class RelationshipType(models.TextChoices):
    CONTAINS = "contains", "contains"
    CONNECTED_TO = "connected_to", "connected to"
    DEPENDS_ON = "depends_on", "depends on"


class DeviceRelationship(TenantOwned):
    parent = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="child_links")
    child = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="parent_links")
    type = models.CharField(max_length=16, choices=RelationshipType.choices)

    tenant_from = "parent"
    tenant_links = ("parent", "child")

    class Meta:
        ordering = ["parent__name", "type", "child__name"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "child", "type"], name="relationship_unique"),
            models.CheckConstraint(condition=~models.Q(parent=models.F("child")), name="relationship_no_self_link"),
        ]

    def __str__(self):
        return f"{self.parent} {self.get_type_display()} {self.child}"

    def clean(self):
        super().clean()
        if self.parent_id and self.parent_id == self.child_id:
            raise ValidationError({"child": "A device cannot be related to itself."})
        if self.parent_id and self.child_id and self.type:
            dup = DeviceRelationship.objects.filter(parent_id=self.parent_id, child_id=self.child_id, type=self.type)
            if dup.exclude(pk=self.pk).exists():
                raise ValidationError({"child": f"{self.parent} already {self.get_type_display()} {self.child}."})
            if self.type == RelationshipType.CONTAINS and self.creates_cycle():
                raise ValidationError({"child": f"{self.child} already contains {self.parent} (directly or indirectly); 'contains' cannot form a cycle."})

    def creates_cycle(self) -> bool:
        """Would parent→child close a loop, i.e. does child already contain parent?"""
        frontier, seen = {self.child_id}, set()
        while frontier:
            if self.parent_id in frontier:
                return True
            seen |= frontier
            frontier = set(
                DeviceRelationship.objects.filter(parent_id__in=frontier, type=RelationshipType.CONTAINS)
                .exclude(pk=self.pk).values_list("child_id", flat=True)
            ) - seen
        return False

import re

from django.core.exceptions import ValidationError
from django.db import models

from .base import TenantOwned


#: a DNS name (labels of letters, digits, "-" and "_", 1-63 characters each, 253 in all)
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$")


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
    rack = models.ForeignKey(
        "inventory.Rack", null=True, blank=True, on_delete=models.SET_NULL, related_name="devices",
        help_text="The rack the device stands in (in the device's datacenter).",
    )
    rack_position = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The lowest rack unit the device occupies (1 = bottom); needs a rack.",
    )
    username = models.CharField(max_length=64, blank=True, default="", help_text="Login user for SSH access.")
    location = models.CharField(max_length=200, blank=True, default="", help_text="Rack, room or free text.")
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.PLANNED)
    tags = models.ManyToManyField(Tag, blank=True, related_name="devices")
    domains = models.JSONField(default=list, blank=True, help_text="DNS domains the device serves or belongs to.")
    facts = models.JSONField(default=dict, blank=True, help_text="Hardware and network facts, filled by discovery.")
    #: denormalised text of the device and its tags, domains and addresses, for search
    search_text = models.TextField(editable=False, default="")

    tenant_links = ("datacenter", "rack")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="device_unique_name")]
        indexes = [
            models.Index(fields=["tenant", "status"], name="device_tenant_status_idx"),
            models.Index(fields=["name"], name="device_name_idx"),  # list order across several tenants
            # a tenant's devices in id order, from the index alone: the admin's capped count of a
            # filtered list (?tags__name=prod) merges it with the tag links (1M devices: 16 -> 12 ms)
            models.Index(fields=["tenant", "id"], name="device_tenant_id_idx"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if not isinstance(self.domains, list) or not all(isinstance(d, str) for d in self.domains):
            raise ValidationError({"domains": "Domains must be a list of names."})
        bad = [d for d in self.domains if not HOSTNAME_RE.match(d.strip())]
        if bad:
            raise ValidationError({"domains": f"Not a valid DNS domain: {', '.join(map(repr, bad))}."})
        self.domains = sorted({d.strip().lower().rstrip(".") for d in self.domains if d.strip()})
        if not isinstance(self.facts, dict):
            raise ValidationError({"facts": "Facts must be a JSON object."})
        self.clean_rack()

    def clean_rack(self):
        """A device's rack stands in the device's datacenter (taken from the rack when none is
        given); its position, which needs a rack, lies within the rack's height."""
        if self.rack_id is None:
            if self.rack_position is not None:
                raise ValidationError({"rack_position": "A position needs a rack."})
            return
        rack = self.rack
        if self.datacenter_id is None:
            self.datacenter_id = rack.datacenter_id
        elif self.datacenter_id != rack.datacenter_id:
            raise ValidationError({"rack": f"Rack {rack} is in another datacenter than the device."})
        if self.rack_position is not None and not 1 <= self.rack_position <= rack.height_u:
            raise ValidationError({"rack_position": f"Rack {rack} has positions 1-{rack.height_u}."})

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

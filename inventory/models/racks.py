from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .base import TenantOwned

MAX_RACK_HEIGHT = 100


class Rack(TenantOwned):
    """A rack in a datacenter (the datacenter's tenant); devices stand in it at a position."""

    datacenter = models.ForeignKey("inventory.Datacenter", on_delete=models.CASCADE, related_name="racks",
                                   help_text="The datacenter the rack stands in; fixed after creation.")
    name = models.CharField(max_length=100, help_text="Unique within the datacenter.")
    height_u = models.PositiveSmallIntegerField(
        default=42, validators=[MinValueValidator(1), MaxValueValidator(MAX_RACK_HEIGHT)],
        help_text=f"Height in rack units (U), 1-{MAX_RACK_HEIGHT}.",
    )
    description = models.TextField(blank=True, default="")

    tenant_from = "datacenter"
    tenant_links = ("datacenter",)
    fixed_fields = {**TenantOwned.fixed_fields, "datacenter": "A rack cannot move to another datacenter."}

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["datacenter", "name"], name="rack_unique_name"),
            models.CheckConstraint(condition=models.Q(height_u__gte=1, height_u__lte=MAX_RACK_HEIGHT),
                                   name="rack_height_range"),
        ]

    def __str__(self):
        return self.name

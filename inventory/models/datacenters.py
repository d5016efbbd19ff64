from django.db import models

from .base import TenantOwned


class Datacenter(TenantOwned):
    name = models.CharField(max_length=100, help_text="Unique within the tenant.")
    location = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="datacenter_unique_name")]

    def __str__(self):
        return self.name

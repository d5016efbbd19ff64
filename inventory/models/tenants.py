from django.conf import settings
from django.db import models
from django.utils.text import slugify

from .base import clean_fixed_fields
from inventory.tenancy import RestrictedQuerySet, Role, TenantQuerySet


class Tenant(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Display name, unique.")
    slug = models.SlugField(max_length=100, unique=True, blank=True, help_text="URL-safe short name; derived from the name when empty.")
    description = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def tenant_id(self):  # a tenant "belongs" to itself for permission checks
        return self.pk

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:100]
        super().save(*args, **kwargs)


class MembershipQuerySet(RestrictedQuerySet):
    pass


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    #: fields fixed once the membership exists (see inventory.models.base.clean_fixed_fields)
    fixed_fields = {name: "Cannot be changed; delete the membership and create another." for name in ("user", "tenant")}

    class Meta:
        ordering = ["tenant__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.role})"

    def clean(self):
        super().clean()
        clean_fixed_fields(self)

    def save(self, *args, **kwargs):
        clean_fixed_fields(self)  # every writer, as TenantOwned.save() validates
        super().save(*args, **kwargs)

"""What every tenant-owned model shares: its tenant, timestamps, the restricted manager
and validation that runs on every ORM save (so no surface can skip it)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from inventory import runtime
from inventory.runtime import precompiled
from inventory.tenancy import RestrictedQuerySet


class TenantOwned(models.Model):
    tenant = models.ForeignKey("inventory.Tenant", on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    #: foreign keys (attribute names) that must point into the same tenant
    tenant_links: tuple[str, ...] = ()
    #: foreign key the tenant is taken from when none is given (children of another object)
    tenant_from: str | None = None

    class Meta:
        abstract = True

    def derive_tenant(self):
        if self.tenant_id is None and self.tenant_from:
            parent = getattr(self, self.tenant_from, None)
            if parent is not None:
                self.tenant_id = parent.tenant_id

    def clean_tenant_links(self, names: tuple[str, ...] | None = None):
        """The linked objects (``tenant_links``, or only ``names``) belong to this object's tenant."""
        errors = {}
        for name in self.tenant_links if names is None else names:
            related = getattr(self, name, None)
            if related is not None and self.tenant_id is not None and related.tenant_id != self.tenant_id:
                errors[name] = f"{related} belongs to another tenant."
        if errors:
            raise ValidationError(errors)

    def clean(self):
        self.derive_tenant()
        if self.tenant_id is None:
            raise ValidationError({"tenant": "A tenant is required."})
        self.clean_tenant_links()

    _do_insert = precompiled.do_insert  # the same INSERT, compiled once per model and field set

    @classmethod
    def from_db(cls, db, field_names, values, *, fetch_mode=None):
        """A row as an instance, without ``__init__``: it walks every field of the model for
        each row, which costs more than rendering it in a page of 50 (seen here). The same
        instance: loaded attributes set, the others deferred, the state of a loaded row. With
        a ``pre_init``/``post_init`` receiver for the model, Django's own way."""
        if pre_init.has_listeners(cls) or post_init.has_listeners(cls) or not runtime.enabled("from_db"):
            return super().from_db(db, field_names, values, fetch_mode=fetch_mode)
        new = cls.__new__(cls)
        new.__dict__.update(zip(field_names, values))
        state = new._state = ModelState()
        state.adding, state.db = False, db
        if fetch_mode is not None:
            state.fetch_mode = fetch_mode
        return new

    def save(self, *args, validate=True, **kwargs):
        self.derive_tenant()
        if validate:
            # Model rules hold for every writer (admin, REST, MCP, jobs, shell); the
            # database's unique constraints remain the last line for races.
            self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)

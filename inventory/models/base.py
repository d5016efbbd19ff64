"""What every tenant-owned model shares: its tenant, timestamps, the restricted manager
and validation that runs on every ORM save (so no surface can skip it)."""

from django.core.exceptions import ValidationError
from django.db import models

from inventory.tenancy import RestrictedQuerySet


def stored_values(instance, names) -> dict | None:
    """The stored values (by attribute name, e.g. ``tenant_id``) of ``names`` for a saved
    ``instance``, in one query; None for an object not saved yet (or gone)."""
    if instance._state.adding or instance.pk is None:
        return None
    return type(instance)._base_manager.filter(pk=instance.pk).values(*names).first()


def clean_fixed_fields(instance, also: tuple[str, ...] = ()) -> dict | None:
    """Refuse a change of any of ``instance.fixed_fields`` (name -> message) once it exists.
    Returns the stored values read (those of the fixed fields and of the attributes ``also``),
    None for a new object."""
    fixed = getattr(instance, "fixed_fields", {})
    attnames = {name: instance._meta.get_field(name).attname for name in fixed}
    if not attnames and not also:
        return None
    stored = stored_values(instance, [*attnames.values(), *also])
    if stored is None:
        return None
    errors = {name: message for name, message in fixed.items()
              if getattr(instance, attnames[name]) != stored[attnames[name]]}
    if errors:
        raise ValidationError(errors)
    return stored


def check_same_tenant(name: str, tenant_id, related) -> None:
    """Refuse linking the objects ``related`` through the many-to-many ``name`` to an object of
    tenant ``tenant_id`` unless they are all of that tenant (the admin form and the
    ``m2m_changed`` guard in inventory.signals share it)."""
    foreign = sorted(str(obj) for obj in related if obj.tenant_id != tenant_id)
    if foreign:
        raise ValidationError({name: f"{', '.join(foreign)} belong{'s' if len(foreign) == 1 else ''} to another tenant."})


class TenantOwned(models.Model):
    tenant = models.ForeignKey("inventory.Tenant", on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    #: foreign keys (attribute names) that must point into the same tenant
    tenant_links: tuple[str, ...] = ()
    #: foreign key the tenant is taken from when none is given (children of another object)
    tenant_from: str | None = None
    #: fields fixed once the object exists (field name -> the refusal); the admin shows them read-only
    fixed_fields: dict[str, str] = {"tenant": "Objects cannot move between tenants."}

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
        self.clean_stored()
        self.clean_tenant_links()

    def clean_stored(self) -> dict | None:
        """Rules against the stored row (``fixed_fields``); subclasses extend it (one read)."""
        return clean_fixed_fields(self)

    def save(self, *args, validate=True, **kwargs):
        self.derive_tenant()
        if validate:
            # Model rules hold for every writer (admin, REST, MCP, jobs, shell); the
            # database's unique constraints remain the last line for races.
            self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)

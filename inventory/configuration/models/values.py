"""Variables and secrets at a scope: global, a tenant, a datacenter or a device.

``scope_key`` ("global", "tenant:3", "datacenter:5", "device:9") makes one unique constraint
cover every scope. Secret values are encrypted at rest (EncryptedTextField, MultiFernet; covered
by ``manage.py rotate_field_keys``) and never rendered by any serializer, admin page or log.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from inventory.fields import EncryptedTextField

from .base import MaybeGlobal, ScopeLevel
from .roles import KEY_RE


class ScopedValue(MaybeGlobal):
    scope = models.CharField(max_length=16, choices=ScopeLevel.choices)
    datacenter = models.ForeignKey("inventory.Datacenter", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="+")
    device = models.ForeignKey("inventory.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    scope_key = models.CharField(max_length=40, editable=False, default="")

    tenant_links = ("datacenter", "device")

    class Meta:
        abstract = True

    @property
    def is_global(self) -> bool:
        return self.scope == ScopeLevel.GLOBAL

    def derive_tenant(self):
        for parent in (self.device if self.device_id else None, self.datacenter if self.datacenter_id else None):
            if parent is not None:
                self.tenant_id = parent.tenant_id

    def clean(self):
        errors = {}
        need = {ScopeLevel.GLOBAL: (), ScopeLevel.TENANT: ("tenant",), ScopeLevel.DATACENTER: ("datacenter",),
                ScopeLevel.DEVICE: ("device",)}.get(self.scope)
        if need is None:
            raise ValidationError({"scope": f"One of {', '.join(ScopeLevel.values)}."})
        for name in ("datacenter", "device"):
            if name not in need and getattr(self, f"{name}_id") is not None:
                errors[name] = f"Only for scope '{name}'."
        if self.scope == ScopeLevel.GLOBAL and self.tenant_id is not None:
            errors["tenant"] = "A global value has no tenant."
        for name in need:
            if getattr(self, f"{name}_id") is None:
                errors[name] = f"Required for scope '{self.scope}'."
        if errors:
            raise ValidationError(errors)
        if self.scope != ScopeLevel.TENANT:
            if self.scope == ScopeLevel.GLOBAL:
                self.tenant_id = None
            else:
                self.derive_tenant()
        self.clean_tenant_links()
        target = {ScopeLevel.GLOBAL: None, ScopeLevel.TENANT: self.tenant_id,
                  ScopeLevel.DATACENTER: self.datacenter_id, ScopeLevel.DEVICE: self.device_id}[self.scope]
        self.scope_key = self.scope if target is None else f"{self.scope}:{target}"

    def scope_display(self) -> str:
        if self.scope == ScopeLevel.GLOBAL:
            return "global"
        obj = {ScopeLevel.TENANT: "tenant", ScopeLevel.DATACENTER: "datacenter", ScopeLevel.DEVICE: "device"}[self.scope]
        return f"{self.scope} {getattr(self, obj)}"


class Variable(ScopedValue):
    key = models.CharField(max_length=100)
    value = models.JSONField(default=None, null=True, blank=True, help_text="Any JSON value.")

    class Meta:
        ordering = ["scope_key", "key"]
        constraints = [models.UniqueConstraint(fields=["scope_key", "key"], name="variable_unique_key")]

    def __str__(self):
        return f"{self.key} ({self.scope_display()})"

    def clean(self):
        super().clean()
        check_key(self.key, "key")
        if Variable.objects.filter(scope_key=self.scope_key, key=self.key).exclude(pk=self.pk).exists():
            raise ValidationError({"key": f"'{self.key}' is already set at this scope; change that variable."})


class Secret(ScopedValue):
    name = models.CharField(max_length=100)
    value = EncryptedTextField(help_text="Stored encrypted; write-only.")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["scope_key", "name"]
        constraints = [models.UniqueConstraint(fields=["scope_key", "name"], name="secret_unique_name")]

    def __str__(self):
        return f"secret {self.name} ({self.scope_display()})"

    def clean(self):
        super().clean()
        check_key(self.name, "name", reserved=False)
        if not self.value:
            raise ValidationError({"value": "A value is required (or generate one)."})
        if Secret.objects.filter(scope_key=self.scope_key, name=self.name).exclude(pk=self.pk).exists():
            raise ValidationError({"name": f"A secret '{self.name}' already exists at this scope; set it again "
                                           "to change its value."})



def check_key(value: str, field: str, reserved: bool = True) -> None:
    from ..facts import RESERVED

    if not KEY_RE.match(value or ""):
        raise ValidationError({field: "Letters, digits and _ (not starting with a digit)."})
    if reserved and value in RESERVED:
        raise ValidationError({field: f"'{value}' is a built-in fact name."})

"""Admin registrations, one module per domain concept; all go through the tenancy layer."""

from django.contrib import admin
from django.utils.module_loading import import_string

from inventory import kinds

from . import datacenters, devices, networks, tenants  # noqa: F401
from .importing import add_import_export


def register_kinds(site=admin.site) -> None:
    """Register the ModelAdmin of every kind that declares one (inventory/kinds.py)."""
    for kind in kinds.all_kinds():
        if kind.admin and not site.is_registered(kind.get_model()):
            site.register(kind.get_model(), import_string(kind.admin))
    add_import_export(site, kinds.all_kinds())  # inventory/admin/importing.py


register_kinds()

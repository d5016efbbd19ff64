"""Tenant tools (group "tenants"): list, inspect, create (superusers), change (tenant admins), delete."""

from dataclasses import replace

from inventory.api.serializers import TenantSerializer
from inventory.models import Tenant
from inventory.tenancy import Action

from ..registry import register
from .factories import Resource, delete_tool, get_tool, list_tool, save_tool

tenants = Resource(name="tenant", model=Tenant, serializer=TenantSerializer, group="tenants",
                   brief_fields=("id", "name", "slug", "display"))

register(list_tool(tenants, description="List the tenants you are a member of (all of them for superusers)."))
register(get_tool(tenants, description="Get one tenant."))
_save = save_tool(tenants, description="Create a tenant (superusers only) or rename/describe one (tenant admins).")
register(replace(_save, action=Action.MANAGE, visible=lambda p: p.can(Action.MANAGE) or p.can_create_tenants()))
_delete = delete_tool(tenants, description="Delete a tenant and everything in it (superusers only).")
register(replace(_delete, visible=lambda p: p.can_create_tenants() and p.has_scope("inventory:delete")))

"""Tool visibility: credential scope ∩ tenant role ∩ tool groups enabled per tenant (and client).

Group policy does not add a rule of its own: it narrows the caller's :class:`Principal` to the
tenants where the tool's group is enabled, and the tenancy layer does the rest.
"""

from __future__ import annotations

from inventory.runtime.caching import cached
from inventory.tenancy import Principal

from .registry import Tool


POLICIES = "toolgroups"  # the generation ToolGroupPolicy changes bump (see apps.py)


def all_policy_rows() -> list[tuple[int, str, frozenset, str]]:
    """Every (tenant id, client id, listed groups, mode) row: a small table, read from the shared
    cache until a row changes. Opt-in rows list the enabled groups, opt-out rows the disabled ones."""

    def build():
        from .models import ToolGroupPolicy

        rows = ToolGroupPolicy.objects.values_list("tenant_id", "client_id", "mode", "enabled_groups",
                                                   "disabled_groups")
        return [(t, c, frozenset(on if mode == ToolGroupPolicy.Mode.OPT_IN else off), mode)
                for t, c, mode, on, off in rows], 3600

    return cached("inv:toolgroups:v2", (POLICIES,), build)


class GroupPolicy:
    """The group policy rows that concern one principal."""

    def __init__(self, principal: Principal):
        self.principal = principal
        self._narrowed: dict[str, Principal] = {}
        self.rows: list[tuple[int, str, frozenset]] = []
        if not principal.is_authenticated:
            return
        clients = {"", principal.client_id or ""}
        everywhere = principal.is_superuser and principal.tenant_ids is None
        tenants = principal.roles
        self.rows = [row for row in all_policy_rows()
                     if row[1] in clients and (everywhere or row[0] in tenants)]

    def disabled_tenants(self, group: str) -> set[int]:
        return {tenant for tenant, _client, groups, mode in self.rows
                if (group in groups) == (mode == "opt_out")}

    def narrow(self, group: str) -> Principal:
        """The principal restricted to the tenants where ``group`` is enabled."""
        if group in self._narrowed:
            return self._narrowed[group]
        principal = self.principal
        disabled = self.disabled_tenants(group)
        if disabled:
            roles = {t: r for t, r in principal.roles.items() if t not in disabled}
            principal = Principal(
                principal.user, scopes=principal.scopes, tenant_ids=roles, via=principal.via,
                credential=principal.credential, client_id=principal.client_id, client_name=principal.client_name,
            )
            principal.__dict__["roles"] = roles  # already known: spare the query
        self._narrowed[group] = principal
        return principal

    def visible(self, tool: Tool) -> bool:
        principal = self.narrow(tool.group)
        if tool.visible is not None:
            return bool(tool.visible(principal))
        return principal.can(tool.action)

"""The one tenancy and permission rule, used by the admin, REST, MCP and jobs.

Everything that asks "may this caller do X to that object?" goes through a
:class:`Principal`: a user plus whatever narrowed it (API key or OAuth token scopes,
a tenant restriction). Querysets are filtered with ``Model.objects.restrict(principal,
action)``; single objects are checked with ``principal.can(action, obj)``.

Rules:
- superusers see every tenant; anybody else sees exactly the tenants they are a member of;
- viewers read, operators also add/change and run jobs, tenant admins also delete and
  manage members; staff status alone grants no data;
- a credential may narrow that further (scopes, tenants) but never widen it.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Iterable

from django.db import models

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class Action(models.TextChoices):
    VIEW = "view", "view"
    ADD = "add", "add"
    CHANGE = "change", "change"
    DELETE = "delete", "delete"
    MANAGE = "manage", "manage members and settings"
    EXECUTE = "execute", "run jobs"


class Scope(models.TextChoices):
    READ = "inventory:read", "Read the inventory"
    WRITE = "inventory:write", "Create and change inventory objects"
    DELETE = "inventory:delete", "Delete inventory objects"
    EXECUTE = "jobs:execute", "Run jobs: scans, provisioning and commands"


ALL_SCOPES = frozenset(Scope.values)

#: the least role a member needs for an action
ROLE_FOR_ACTION = {
    Action.VIEW: Role.VIEWER,
    Action.ADD: Role.OPERATOR,
    Action.CHANGE: Role.OPERATOR,
    Action.EXECUTE: Role.OPERATOR,
    Action.DELETE: Role.ADMIN,
    Action.MANAGE: Role.ADMIN,
}

#: the credential scope an action needs
SCOPE_FOR_ACTION = {
    Action.VIEW: Scope.READ,
    Action.ADD: Scope.WRITE,
    Action.CHANGE: Scope.WRITE,
    Action.MANAGE: Scope.WRITE,
    Action.DELETE: Scope.DELETE,
    Action.EXECUTE: Scope.EXECUTE,
}


class Principal:
    """Who is acting, through what, and how far that credential reaches.

    ``scopes=None`` means the full reach of the user (an interactive session);
    ``tenant_ids=None`` means no tenant narrowing beyond the user's memberships.
    """

    def __init__(
        self,
        user: "AbstractBaseUser",
        *,
        scopes: Iterable[str] | None = None,
        tenant_ids: Iterable[int] | None = None,
        via: str = "session",
        credential=None,
        client_id: str = "",
        client_name: str = "",
    ):
        self.user = user
        self.scopes = None if scopes is None else frozenset(scopes) & ALL_SCOPES
        self.tenant_ids = None if tenant_ids is None else frozenset(int(t) for t in tenant_ids)
        self.via = via
        self.credential = credential
        self.client_id = client_id
        self.client_name = client_name
        #: action -> tenant ids it is allowed in (see tenant_ids_for): answered once per principal
        self._allowed: dict[str, frozenset[int] | None] = {}

    def __repr__(self) -> str:
        return f"<Principal {getattr(self.user, 'username', '?')} via {self.via}>"

    # --- construction -----------------------------------------------------------------
    @classmethod
    def of(cls, who) -> "Principal":
        """Coerce a user, a request or a principal into a principal."""
        if isinstance(who, Principal):
            return who
        # a request whose credential was already resolved: DRF puts the Principal returned
        # by our authentication classes in ``request.auth``; plain requests may carry
        # ``request.principal``
        for attr in ("auth", "principal"):
            principal = getattr(who, attr, None)
            if isinstance(principal, Principal):
                return principal
        user = getattr(who, "user", who)  # a request or a user
        if user is who:
            return cls(user)
        # a request: one principal per request and user, so memberships and roles are read
        # once per request, not once per row or permission check
        cached = getattr(who, "_tenancy_principal", None)
        if cached is not None and cached.user is user:
            return cached
        principal = cls(user)
        try:
            who._tenancy_principal = principal
        except AttributeError:  # pragma: no cover - objects with __slots__
            pass
        return principal

    # --- facts ------------------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return bool(self.user and self.user.is_authenticated and self.user.is_active)

    @property
    def is_superuser(self) -> bool:
        return self.is_authenticated and self.user.is_superuser

    @cached_property
    def roles(self) -> dict[int, str]:
        """tenant id -> the user's role there, narrowed by the credential's tenants."""
        if not self.is_authenticated:
            return {}
        from inventory.models import Membership, Tenant

        if self.user.is_superuser:
            qs = Tenant.objects.all()
            if self.tenant_ids is not None:
                qs = qs.filter(id__in=self.tenant_ids)
            return {tid: Role.ADMIN for tid in qs.values_list("id", flat=True)}
        rows = Membership.objects.filter(user_id=self.user.pk)
        if self.tenant_ids is not None:
            rows = rows.filter(tenant_id__in=self.tenant_ids)
        return dict(rows.values_list("tenant_id", "role"))

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def allows_action(self, action: str) -> bool:
        """Does the credential's scope allow this kind of action at all?"""
        return self.is_authenticated and self.has_scope(SCOPE_FOR_ACTION[Action(action)])

    def missing_scopes(self, action: str) -> list[str]:
        scope = SCOPE_FOR_ACTION[Action(action)]
        return [] if self.has_scope(scope) else [str(scope)]

    def tenant_ids_for(self, action: str) -> frozenset[int] | None:
        """Tenants in which the action is allowed; ``None`` means every tenant.

        Worked out once per principal and action (a principal lives for one request, see
        ``of``): the admin asks it for every row and permission check of a page."""
        try:
            return self._allowed[action]
        except KeyError:
            pass
        if not self.allows_action(action):
            allowed = frozenset()
        elif self.user.is_superuser and self.tenant_ids is None:
            allowed = None
        else:
            need = ROLE_RANK[ROLE_FOR_ACTION[Action(action)]]
            allowed = frozenset(t for t, role in self.roles.items() if ROLE_RANK[Role(role)] >= need)
        self._allowed[action] = allowed
        return allowed

    def can(self, action: str, target=None) -> bool:
        """May the principal do ``action`` on ``target``?

        ``target`` is a tenant-owned object, a Tenant, a tenant id, or ``None`` for
        "in at least one tenant" (used to show or hide whole screens and tools).
        """
        allowed = self.tenant_ids_for(action)
        if target is None:
            return allowed is None or bool(allowed)
        tenant_id = tenant_id_of(target)
        if tenant_id is None:  # an object not yet attached to a tenant
            return allowed is None or bool(allowed)
        return allowed is None or tenant_id in allowed

    def can_create_tenants(self) -> bool:
        return self.is_superuser and self.tenant_ids is None and self.has_scope(Scope.WRITE)

    def restrict(self, queryset, action: str = Action.VIEW):
        return queryset.restrict(self, action)


def tenant_id_of(target) -> int | None:
    from inventory.models import Tenant

    if target is None:
        return None
    if isinstance(target, int):
        return target
    if isinstance(target, Tenant):
        return target.pk
    return getattr(target, "tenant_id", None)


class RestrictedQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to what a principal may touch."""

    #: the lookup that leads from this model to its tenant's id
    tenant_field = "tenant_id"

    def restrict(self, who, action: str = Action.VIEW):
        return self.restrict_to(Principal.of(who).tenant_ids_for(action))

    def restrict_to(self, tenant_ids):
        """Narrow to objects of these tenants (``None``: every tenant), as ``restrict()`` does
        with the tenants a principal may act in."""
        if tenant_ids is None:
            return self
        if not tenant_ids:
            return self.none()
        return self.filter(**{f"{self.tenant_field}__in": tenant_ids})


class TenantQuerySet(RestrictedQuerySet):
    tenant_field = "id"

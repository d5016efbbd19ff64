"""Configuration models: roles (templates, steps, dependencies, assignments), variables, secrets."""

from .base import GlobalOrTenantQuerySet, MaybeGlobal, ScopeLevel
from .roles import Role, RoleAssignment, RoleDependency, RoleStep, RoleTemplate
from .values import Secret, Variable

__all__ = ["GlobalOrTenantQuerySet", "MaybeGlobal", "ScopeLevel", "Role", "RoleAssignment", "RoleDependency",
           "RoleStep", "RoleTemplate", "Secret", "Variable"]

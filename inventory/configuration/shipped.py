"""Global roles shipped with the product: the YAML documents in ``roles/`` (base-hardening,
nginx, postgresql). Installed, or brought up to date, after every ``migrate`` (and test
database flush); a superuser may edit them, and a later upgrade rewrites them from the files."""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction

logger = logging.getLogger(__name__)

ROLES_DIR = Path(__file__).resolve().parent / "roles"


def shipped_files() -> list[Path]:
    return sorted(ROLES_DIR.glob("*.yaml"))


def install_global_roles(*args, using="default", **kwargs) -> list:
    """Create or update each shipped role as a global role (dependencies first: files sort by
    a numeric prefix)."""
    from .documents import parse, resolve_dependencies
    from .models import Role, RoleDependency, RoleStep, RoleTemplate

    installed = []
    with transaction.atomic(using=using):
        for path in shipped_files():
            doc = parse(path.read_text())
            role = Role.objects.filter(name=doc["name"], tenant__isnull=True).first() or Role(name=doc["name"])
            for field in ("description", "defaults", "parameters_schema"):
                setattr(role, field, doc.get(field) or ({} if field != "description" else ""))
            role.save()
            role.templates.all().delete()
            role.steps.all().delete()
            role.dependency_links.all().delete()
            for i, item in enumerate(doc.get("templates") or []):
                template = RoleTemplate(role=role, position=i, **item)
                template.full_clean()
                template.save()
            for i, item in enumerate(doc.get("steps") or []):
                step = RoleStep(role=role, position=i, **item)
                step.full_clean()
                step.save()
            for i, rid in enumerate(resolve_dependencies(doc.get("dependencies") or [], None, None)):
                link = RoleDependency(role=role, depends_on_id=rid, position=i)
                link.full_clean()
                link.save()
            installed.append(role)
    return installed

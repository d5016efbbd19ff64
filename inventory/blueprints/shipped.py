"""Official blueprints: the YAML files in ``official/``, installed (created or updated) as
read-only rows without a tenant after every migrate, so they are versioned with the code."""

from __future__ import annotations

from pathlib import Path

OFFICIAL_DIR = Path(__file__).resolve().parent / "official"


def official_files() -> list[Path]:
    return sorted(OFFICIAL_DIR.glob("*.yaml"))


def install_official(sender=None, using="default", **kwargs):
    from django.db import transaction

    from .documents import parse
    from .models import Blueprint, Source

    installed = []
    with transaction.atomic(using=using):
        names = []
        for path in official_files():
            doc = parse(path.read_text())
            names.append(doc["name"])
            bp = Blueprint.objects.filter(source=Source.OFFICIAL, name=doc["name"]).first() or \
                Blueprint(source=Source.OFFICIAL, tenant=None)
            if bp.pk is None or bp.document != doc:
                bp.document = doc
                bp.save()
            installed.append(bp)
        Blueprint.objects.filter(source=Source.OFFICIAL).exclude(name__in=names).delete()  # removed from the code
    return installed

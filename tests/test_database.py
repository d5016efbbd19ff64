"""Database connection settings: prepared statements on PostgreSQL, and the switch that turns them off."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.postgres
@pytest.mark.django_db
def test_repeated_queries_are_prepared_once_per_connection(tenant_a):
    from django.conf import settings

    from inventory.models import Tenant

    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    probe = Tenant.objects.filter(name="Tenant A").values_list("pk", flat=True)
    sql = str(probe.query).split(" WHERE ")[0]

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if sql.replace('"', "") in row[0].replace('"', "")]

    assert prepared() == []
    for _ in range(threshold + 1):
        assert list(probe.all()) == [tenant_a.pk]  # the same text each time, values sent apart
    statements = prepared()
    assert len(statements) == 1 and "$1" in statements[0]  # server-side parameters, prepared once



@pytest.mark.postgres
@pytest.mark.django_db
def test_pattern_queries_are_planned_with_their_values(tenant_a):
    """A statement with LIKE is never prepared (a generic plan of ``search_text LIKE $1 ORDER BY
    name LIMIT n`` walks the name index through a million devices; inventory/statements.py),
    even when PostgreSQL is told to use generic plans, while other statements are."""
    from django.conf import settings

    from inventory.models import Device
    from inventory.services.search import filter_devices

    Device.objects.create(tenant=tenant_a, name="pattern-probe", description="zebracorn")
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    words = filter_devices(Device.objects.order_by("name"), "zebracorn").values_list("name", flat=True)[:20]
    by_id = Device.objects.filter(name="pattern-probe").values_list("name", flat=True)

    def prepared(fragment: str) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if fragment in row[0]]

    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    try:
        for _ in range(threshold + 6):
            assert list(words.all()) == ["pattern-probe"]
            assert list(by_id.all()) == ["pattern-probe"]
        assert prepared("LIKE") == []
        assert len(prepared('"name" = $1')) == 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET plan_cache_mode")
    assert connection.connection.prepare_threshold == threshold  # put back after each pattern query

def _database_options(**env) -> dict:
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {}), default=str))")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")},
             "DJANGO_SETTINGS_MODULE": "inventory.settings", **env},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_prepared_statements_setting():
    url = "postgres://postgres@127.0.0.1:5432/inventory"
    on = _database_options(DATABASE_URL=url)
    assert on["server_side_binding"] is True and on["prepare_threshold"] == 2
    assert _database_options(DATABASE_URL=url, DATABASE_PREPARE_THRESHOLD="7")["prepare_threshold"] == 7
    off = _database_options(DATABASE_URL=url, DATABASE_PREPARED="off")
    assert "server_side_binding" not in off and "prepare_threshold" not in off
    assert "server_side_binding" not in _database_options(DATABASE_URL="sqlite:////tmp/x.sqlite3")

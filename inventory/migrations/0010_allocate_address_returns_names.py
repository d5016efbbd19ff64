# The allocation function (inventory.services.allocation), version 4, from
# inventory/sql/allocate_address.v4.sql: version 3 (migration 0006) that also returns the names and
# the pool's range the response shows, read with the rows it locks and reads anyway. Its result's
# columns changed, so the function is dropped and created again; backwards, version 3 likewise.

from pathlib import Path

from django.conf import settings
from django.db import migrations

from inventory.migrations._postgres import on_postgres, sql_file_on_postgres, sql_file_statements

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQL_FILE = SQL_DIR / "allocate_address.v4.sql"
PREVIOUS = SQL_DIR / "allocate_address.v3.sql"
DROP = "DROP FUNCTION IF EXISTS inventory_allocate_address(bigint, bigint, text, inet, inet, int, jsonb, jsonb, text, text, text, text)"


def statements(schema_editor) -> list[str]:
    """The file's statements, with the log entry model's table filled in."""
    return sql_file_statements(SQL_FILE, schema_editor)


def _backwards(apps, schema_editor):
    on_postgres(DROP)(apps, schema_editor)
    sql_file_on_postgres(PREVIOUS)(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0009_device_tenant_id_index"),
        migrations.swappable_dependency(getattr(settings, "AUDITLOG_LOGENTRY_MODEL", "auditlog.LogEntry")),
    ]

    operations = [migrations.RunPython(sql_file_on_postgres(SQL_FILE), _backwards)]

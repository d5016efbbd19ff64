# The allocation function (inventory.services.allocation), version 3: the same function as 0004's,
# its SQL now in one versioned file, inventory/sql/allocate_address.v3.sql, and writing its log
# entries into the table of django-auditlog's log entry model (auditlog.get_logentry_model(), which
# AUDITLOG_LOGENTRY_MODEL may swap) instead of a hard-coded auditlog_logentry. A later change of the
# function is a new file (v4) and a new migration reading it; this one keeps reading v3.

from pathlib import Path

from django.conf import settings
from django.db import migrations

from inventory.migrations._postgres import sql_file_on_postgres, sql_file_statements

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "allocate_address.v3.sql"


def statements(schema_editor) -> list[str]:
    """The file's statements, with the log entry model's table filled in."""
    return sql_file_statements(SQL_FILE, schema_editor)


create = sql_file_on_postgres(SQL_FILE)


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0005_ipaddress_composite_indexes_only"),
        migrations.swappable_dependency(getattr(settings, "AUDITLOG_LOGENTRY_MODEL", "auditlog.LogEntry")),
    ]

    # backwards: 0004's function stays (the same function, with auditlog's default table)
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]

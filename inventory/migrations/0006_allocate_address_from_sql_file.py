# The allocation function (inventory.services.allocation), version 3: the same function as 0004's,
# its SQL now in one versioned file, inventory/sql/allocate_address.v3.sql, and writing its log
# entries into the table of django-auditlog's log entry model (auditlog.get_logentry_model(), which
# AUDITLOG_LOGENTRY_MODEL may swap) instead of a hard-coded auditlog_logentry. A later change of the
# function is a new file (v4) and a new migration reading it; this one keeps reading v3.

from pathlib import Path

from django.conf import settings
from django.db import migrations

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "allocate_address.v3.sql"


def statements(schema_editor) -> list[str]:
    """The file's statements, with the log entry model's table filled in."""
    from auditlog import get_logentry_model

    table = schema_editor.quote_name(get_logentry_model()._meta.db_table)
    text = SQL_FILE.read_text().replace("{logentry}", table)
    return [part.strip() for part in text.split("\n-- statement\n") if part.strip()]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in statements(schema_editor):
            schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0005_ipaddress_composite_indexes_only"),
        migrations.swappable_dependency(getattr(settings, "AUDITLOG_LOGENTRY_MODEL", "auditlog.LogEntry")),
    ]

    # backwards: 0004's function stays (the same function, with auditlog's default table)
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]

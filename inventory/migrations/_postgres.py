"""Helpers of this app's migrations (Django's loader skips modules whose names start with _)."""


def on_postgres(*statements):
    """A RunPython function that executes ``statements`` in turn on PostgreSQL and does nothing elsewhere."""
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)
    return run


def sql_file_statements(path, schema_editor) -> list[str]:
    """The statements of an SQL file of ``inventory/sql/`` (separated by lines holding only
    ``-- statement``), with ``{logentry}`` replaced by the quoted table of django-auditlog's log
    entry model (``auditlog.get_logentry_model()``, which ``AUDITLOG_LOGENTRY_MODEL`` may swap)."""
    from auditlog import get_logentry_model

    table = schema_editor.quote_name(get_logentry_model()._meta.db_table)
    text = path.read_text().replace("{logentry}", table)
    return [part.strip() for part in text.split("\n-- statement\n") if part.strip()]


def sql_file_on_postgres(path):
    """A RunPython function that executes the statements of the SQL file ``path`` on PostgreSQL."""
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in sql_file_statements(path, schema_editor):
                schema_editor.execute(sql)
    return run

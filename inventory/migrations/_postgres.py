"""Helpers of this app's migrations (Django's loader skips modules whose names start with _)."""


def on_postgres(*statements):
    """A RunPython function that executes ``statements`` in turn on PostgreSQL and does nothing elsewhere."""
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)
    return run

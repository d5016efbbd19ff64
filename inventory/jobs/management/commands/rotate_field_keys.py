"""Re-encrypt every encrypted field with the newest key (MultiFernet.rotate()).

Put the new key first in FIELD_ENCRYPTION_KEYS (or the key file), keep the old ones after
it, run this command, then drop the old keys.
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from inventory.fields import encrypted_fields, rotate
from inventory.management.cli import WithExamples


class Command(WithExamples, BaseCommand):
    help = "Re-encrypt all encrypted fields with the newest FIELD_ENCRYPTION_KEYS key."
    examples = ("",)

    def handle(self, *args, **options):
        qn = connection.ops.quote_name
        total = 0
        for model, names in encrypted_fields():
            table, pk = model._meta.db_table, model._meta.pk.column
            columns = [model._meta.get_field(n).column for n in names]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT {qn(pk)}, {', '.join(qn(c) for c in columns)} FROM {qn(table)}")
                for row in cursor.fetchall():
                    pk_value, values = row[0], row[1:]
                    updates = [(c, rotate(v)) for c, v in zip(columns, values) if v]
                    if not updates:
                        continue
                    sets = ", ".join(f"{qn(c)} = %s" for c, _ in updates)
                    cursor.execute(f"UPDATE {qn(table)} SET {sets} WHERE {qn(pk)} = %s",
                                   [v for _, v in updates] + [pk_value])
                    total += 1
            self.stdout.write(f"{model._meta.label}: re-encrypted {', '.join(names)}")
        self.stdout.write(self.style.SUCCESS(f"{total} row(s) re-encrypted with the newest key."))

# The single-column indexes of IPAddress.tenant and .network are dropped: the (tenant, address_key)
# and (network, address_key) indexes serve the same lookups, and every insert writes two fewer.
# Only the indexes go (plain DROP INDEX): Django's AlterField would also drop and re-add the foreign
# keys, which re-checks every row of the table under a lock.

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {  # the names Django gave them (the same on every database)
    "inventory_ipaddress_network_id_a4efadb5": "network_id",
    "inventory_ipaddress_tenant_id_488d2d20": "tenant_id",
}


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0004_allocate_address_reads_its_hint'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='ipaddress',
                    name='network',
                    field=models.ForeignKey(blank=True, db_index=False, help_text='The network the address lies in; found from the address when omitted.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='addresses', to='inventory.network'),
                ),
                migrations.AlterField(
                    model_name='ipaddress',
                    name='tenant',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='inventory.tenant'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"',
                                  f'CREATE INDEX "{name}" ON "inventory_ipaddress" ("{column}")')
                for name, column in INDEXES.items()
            ],
        ),
    ]

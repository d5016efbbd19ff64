from django.db import migrations

# Devices by tag (the admin's "By tag" filter and ?tags__name=, REST ?tag=): an index on the
# device-tag links in (tag, device) order answers "which devices carry these tags" from the index
# alone (an index-only scan), where the single-column tag index had to read every link row too.
INDEX = "CREATE INDEX IF NOT EXISTS device_tags_tag_device_idx ON inventory_device_tags (tag_id, device_id)"
DROP_INDEX = "DROP INDEX IF EXISTS device_tags_tag_device_idx"


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0007_rack'),
    ]

    operations = [
        migrations.RunSQL(INDEX, DROP_INDEX),
    ]

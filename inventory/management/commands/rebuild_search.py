"""Recompute the denormalised search text of every device (after adding a searchable field, or
to repair it): ``manage.py rebuild_search [--batch-size N]``. Safe to rerun; it reads tags and
addresses with one query per batch and writes with one ``bulk_update`` per batch."""

from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from inventory.management.cli import Progress, WithExamples
from inventory.models import Device, IPAddress


class Command(WithExamples, BaseCommand):
    help = "Recompute every device's search text (name, description, tags, domains, addresses...)."
    examples = ("", "--batch-size 5000")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        changed = total = 0
        last = 0
        progress = Progress(self.stdout, "Search text", Device.objects.count())
        while True:
            with transaction.atomic():
                batch = list(Device.objects.filter(pk__gt=last).order_by("pk").prefetch_related("tags")[:batch_size])
                if not batch:
                    break
                addresses = defaultdict(list)
                for device_id, address in (IPAddress.objects.filter(device__in=batch).order_by("address_key")
                                           .values_list("device_id", "address")):
                    addresses[device_id].append(address)
                stale = []
                for device in batch:
                    text = device.build_search_text([t.name for t in device.tags.all()], addresses[device.pk])
                    if text != device.search_text:
                        device.search_text = text
                        stale.append(device)
                Device.objects.bulk_update(stale, ["search_text"])
            changed, total, last = changed + len(stale), total + len(batch), batch[-1].pk
            progress.advance(len(batch), "devices")
        progress.finish(f"{total} devices, {changed} search texts rebuilt")

"""manage.py rebuild_search: every device's search text recomputed from its row, tags and addresses."""

import io

import pytest
from django.core.management import call_command

from inventory.models import Device, IPAddress, Network, Tag

pytestmark = pytest.mark.django_db


def test_rebuild_search_repairs_stale_texts(tenant_a):
    net = Network.objects.create(tenant=tenant_a, name="n", subnet="127.3.0.0/24")
    devices = [Device.objects.create(tenant=tenant_a, name=f"web-{i}", os="Debian") for i in range(5)]
    devices[0].tags.add(Tag.objects.create(tenant=tenant_a, name="prod"))
    IPAddress.objects.create(network=net, address="127.3.0.9", device=devices[0])
    expected = {d.pk: Device.objects.get(pk=d.pk).search_text for d in devices}
    assert "prod" in expected[devices[0].pk] and "127.3.0.9" in expected[devices[0].pk]
    Device.objects.filter(pk__in=[d.pk for d in devices[:3]]).update(search_text="")  # e.g. a new searchable field
    out = io.StringIO()
    call_command("rebuild_search", "--batch-size", "2", stdout=out)
    text = out.getvalue()
    assert "Search text: 5 devices, 3 search texts rebuilt (" in text  # and the time taken
    # progress as it goes (a line per quarter when not on a terminal)
    assert [line for line in text.splitlines() if line.endswith("% devices")] == [
        "Search text: 40% devices", "Search text: 80% devices", "Search text: 100% devices"]
    assert {d.pk: d.search_text for d in Device.objects.all()} == expected
    out = io.StringIO()
    call_command("rebuild_search", stdout=out)
    assert "0 search texts rebuilt" in out.getvalue()

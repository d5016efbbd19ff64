"""Load realistic sample data: tenants, datacenters, networks, pools, devices, addresses.

Bulk inserts (derived columns computed here, as save() would) so 100k devices take seconds.
Idempotent per tenant name: an existing demo tenant is left alone unless --reset.
"""

import ipaddress
import random
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from inventory import ipam
from inventory.management.cli import Progress, WithExamples
from inventory.runtime.counting import bump_counts
from inventory.models import (
    Datacenter, Device, DeviceRelationship, IPAddress, IPPool, Membership, Network, Tag, Tenant,
)

# Loopback (127.0.0.0/8): the tests and the MCP benchmark load this data, and a scan of a demo
# network must never leave the machine.
TENANTS = [("Acme Corp", "127.10"), ("Globex", "127.20"), ("Initech", "127.30")]
SITES = [("fra1", "Frankfurt, DE"), ("ams1", "Amsterdam, NL"), ("nyc1", "New York, US")]
ROLES = [("web", "Dell PowerEdge R650", "Ubuntu 24.04"), ("db", "HPE ProLiant DL380 Gen11", "Debian 12"),
         ("cache", "Supermicro SYS-1029P", "Rocky Linux 9"), ("sw", "Arista 7050X3", "EOS 4.31"),
         ("fw", "Juniper SRX345", "Junos 23.4"), ("app", "Lenovo ThinkSystem SR630", "Ubuntu 22.04")]
TAGS = ["prod", "staging", "dev", "pci", "backup", "monitoring", "edge", "core"]


class Command(WithExamples, BaseCommand):
    help = "Load demo data: 3 tenants, datacenters, networks, pools, devices (--devices N in total)."
    examples = ("", "--devices 100000", "--reset --devices 300")

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=int, default=1000, help="devices in all (default 1000)")
        parser.add_argument("--reset", action="store_true", help="delete the demo tenants first")
        parser.add_argument("--seed", type=int, default=42, help="random seed (the same data every time)")

    def handle(self, *args, devices, reset, seed, **options):
        if not 1 <= devices <= 10_000_000:
            raise CommandError(f"--devices: give a number from 1 to 10000000, not {devices}")
        started = time.monotonic()
        rng = random.Random(seed)
        if reset:
            Tenant.objects.filter(name__in=[t for t, _ in TENANTS]).delete()
        per_tenant = max(1, devices // len(TENANTS))
        for name, prefix in TENANTS:
            if Tenant.objects.filter(name=name).exists():
                self.stdout.write(f"{name}: exists, skipped (use --reset)")
                continue
            progress = Progress(self.stdout, name, 4 * per_tenant)
            with transaction.atomic():
                count, addresses = self.seed_tenant(name, prefix, per_tenant, rng, progress)
            progress.finish(self.style.SUCCESS(f"{count} devices, {addresses} addresses"))
        self.seed_users()
        self.stdout.write(f"Demo data ready in {time.monotonic() - started:.1f} s.")

    def seed_users(self):
        User = get_user_model()
        for tenant in Tenant.objects.filter(name__in=[t for t, _ in TENANTS]):
            for role in ("viewer", "operator", "admin"):
                username = f"{tenant.slug}-{role}"
                user, created = User.objects.get_or_create(username=username)
                if created:
                    user.set_unusable_password()
                    user.save()
                Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": role})

    def seed_tenant(self, name, prefix, count, rng, progress):
        tenant = Tenant.objects.create(name=name, description=f"Demo tenant {name}")
        dcs = [Datacenter.objects.create(tenant=tenant, name=s, location=loc) for s, loc in SITES]
        tags = Tag.objects.bulk_create([Tag(tenant=tenant, name=t) for t in TAGS])
        # one /16 split into a /20 server network per datacenter plus a management /24
        nets = []
        for i, dc in enumerate(dcs):
            net = Network.objects.create(tenant=tenant, name=f"{dc.name}-servers", datacenter=dc,
                                         subnet=f"{prefix}.{i * 16}.0/20", vlan_id=100 + i,
                                         description=f"Server network in {dc.location}")
            IPPool.objects.create(network=net, name=f"{dc.name}-dhcp", start_address=f"{prefix}.{i * 16 + 15}.1",
                                  end_address=f"{prefix}.{i * 16 + 15}.254", description="DHCP range")
            nets.append(net)
            Network.objects.create(tenant=tenant, name=f"{dc.name}-mgmt", datacenter=dc,
                                   subnet=f"{prefix}.{200 + i}.0/24", vlan_id=10 + i)
        Network.objects.create(tenant=tenant, name="v6-servers", subnet=f"2001:db8:{prefix.split('.')[1]}::/64")

        batch = []
        for n in range(count):
            role, model, os_ = ROLES[n % len(ROLES)]
            dc_index = n % len(dcs)
            batch.append(Device(
                tenant=tenant, name=f"{role}-{dcs[dc_index].name}-{n:06d}", datacenter=dcs[dc_index],
                make_model=model, os=os_, status=rng.choice(["active"] * 8 + ["planned", "offline"]),
                location=f"rack {n % 40 + 1:02d}", username="ops",
                domains=[f"{role}.{tenant.slug}.example"],
                description=f"{role} server {n}",
            ))
        for start in range(0, len(batch), 2000):
            Device.objects.bulk_create(batch[start:start + 2000])
            progress.advance(len(batch[start:start + 2000]), "devices")
        devices = list(Device.objects.filter(tenant=tenant).order_by("id").values_list("id", "datacenter_id"))
        dc_net = {dc.id: net for dc, net in zip(dcs, nets)}

        addresses, tag_links, next_host = [], [], {net.id: 0 for net in nets}
        through = Device.tags.through
        for idx, (device_id, dc_id) in enumerate(devices):
            net = dc_net[dc_id]
            host = next_host[net.id]
            next_host[net.id] += 1
            ip = ipaddress.ip_network(net.subnet).network_address + 1 + host
            if host < 3800:  # stay below the pool at x.x.15.0
                addresses.append(IPAddress(tenant=tenant, network=net, address=str(ip), address_key=ipam.key(ip),
                                           device_id=device_id, status="allocated",
                                           dns_name=f"host{device_id}.{tenant.slug}.example"))
            for tag in rng.sample(tags, 2):
                tag_links.append(through(device_id=device_id, tag_id=tag.id))
        for start in range(0, len(addresses), 5000):
            IPAddress.objects.bulk_create(addresses[start:start + 5000])
            progress.at(count + count * min(len(addresses), start + 5000) // len(addresses), "addresses")
        progress.at(2 * count, "tags")
        through.objects.bulk_create(tag_links, batch_size=5000)
        self.fill_search_text(tenant)
        progress.at(3 * count, "search text")

        rels = []
        ids = [d for d, _ in devices]
        for i in range(0, min(len(ids), 200) - 1, 2):
            rels.append(DeviceRelationship(tenant=tenant, parent_id=ids[i], child_id=ids[i + 1], type="connected_to"))
        DeviceRelationship.objects.bulk_create(rels)
        bump_counts(Device, IPAddress)  # bulk_create sends no signals
        progress.at(4 * count, "relationships")
        return len(devices), len(addresses)

    def fill_search_text(self, tenant):
        tags, addrs = {}, {}
        for device_id, tag in Device.tags.through.objects.filter(device__tenant=tenant).values_list("device_id", "tag__name"):
            tags.setdefault(device_id, []).append(tag)
        for device_id, address in IPAddress.objects.filter(tenant=tenant, device__isnull=False).values_list("device_id", "address"):
            addrs.setdefault(device_id, []).append(address)
        batch = []
        for device in Device.objects.filter(tenant=tenant).only("id", "name", "description", "make_model", "os",
                                                                 "location", "domains"):
            device.search_text = device.build_search_text(tags.get(device.id, []), addrs.get(device.id, []))
            batch.append(device)
        Device.objects.bulk_update(batch, ["search_text"], batch_size=2000)

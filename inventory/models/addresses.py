from django.core.exceptions import ValidationError
from django.db import models

from inventory import ipam
from inventory.tenancy import RestrictedQuerySet

from .base import TenantOwned, clean_fixed_fields


class AddressStatus(models.TextChoices):
    ALLOCATED = "allocated", "Allocated"
    RESERVED = "reserved", "Reserved"
    DHCP = "dhcp", "DHCP"
    DEPRECATED = "deprecated", "Deprecated"


#: an address's links that decide which network's and pool's addresses it counts among
COUNTED_LINKS = frozenset({"network", "network_id", "pool", "pool_id"})


def _link_id(value):
    """The id a value given to ``update(network=...)`` stands for; ``...`` when not known before
    the statement runs (an expression)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, models.Model):
        return value.pk
    return ...


class AddressQuerySet(RestrictedQuerySet):
    """The addresses' writes that send no signals keep the address counts of their networks and
    pools exact (``inventory.runtime.counting``): ``bulk_create`` bumps the networks and pools of
    the rows it inserts, an ``update`` of the network or pool those the rows leave and join."""

    def bulk_create(self, objs, *args, **kwargs):
        from inventory.runtime.counting import USED_ALL, bump_addresses
        from inventory.runtime.caching import bump

        objs = super().bulk_create(objs, *args, **kwargs)
        if objs:
            bump_addresses([o.network_id for o in objs], [o.pool_id for o in objs])
            if kwargs.get("update_conflicts"):  # rows updated in place may have left another pool
                bump(USED_ALL)
        return objs

    bulk_create.alters_data = True

    def update(self, **kwargs):
        from inventory.runtime.counting import USED_ALL, bump_used
        from inventory.runtime.caching import bump

        if not COUNTED_LINKS & set(kwargs):
            return super().update(**kwargs)
        joined = {name.removesuffix("_id"): _link_id(value) for name, value in kwargs.items() if name in COUNTED_LINKS}
        if ... in joined.values():  # which networks the rows join is known after the statement only
            rows = super().update(**kwargs)
            bump(USED_ALL)
            return rows
        left = list(self.order_by().values_list("network_id", "pool_id").distinct())
        rows = super().update(**kwargs)
        if rows:
            bump_used([n for n, _ in left] + [joined.get("network")], [p for _, p in left] + [joined.get("pool")])
        return rows

    update.alters_data = True


class IPAddress(TenantOwned):
    # no single-column indexes on tenant and network: the (tenant, address_key) and (network,
    # address_key) indexes below serve those lookups, and every insert (allocation) writes fewer
    tenant = models.ForeignKey("inventory.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    address = models.GenericIPAddressField(help_text="A single IPv4 or IPv6 address, without prefix length.")
    network = models.ForeignKey(
        "inventory.Network", null=True, blank=True, on_delete=models.CASCADE, related_name="addresses",
        help_text="The network the address lies in; found from the address when omitted.", db_index=False,
    )
    pool = models.ForeignKey(
        "inventory.IPPool", null=True, blank=True, on_delete=models.SET_NULL, related_name="addresses",
        help_text="The pool the address lies in; found from the address when omitted.",
    )
    status = models.CharField(max_length=16, choices=AddressStatus.choices, default=AddressStatus.ALLOCATED)
    device = models.ForeignKey(
        "inventory.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="addresses"
    )
    dns_name = models.CharField(max_length=255, blank=True, default="", help_text="Fully qualified DNS name.")
    description = models.CharField(max_length=200, blank=True, default="")
    address_key = models.CharField(max_length=32, editable=False, default="")

    tenant_links = ("network", "pool", "device")

    objects = AddressQuerySet.as_manager()

    class Meta:
        verbose_name = "IP address"
        verbose_name_plural = "IP addresses"
        ordering = ["address_key"]
        constraints = [
            models.UniqueConstraint(fields=["network", "address"], name="ipaddress_unique_in_network"),
            models.UniqueConstraint(
                fields=["tenant", "address"], condition=models.Q(network__isnull=True),
                name="ipaddress_unique_unnetworked",
            ),
        ]
        indexes = [
            models.Index(fields=["network", "address_key"], name="ipaddress_net_key_idx"),
            models.Index(fields=["tenant", "address_key"], name="ipaddress_tenant_key_idx"),
            models.Index(fields=["address_key"], name="ipaddress_key_idx"),  # search by address
        ]

    def __str__(self):
        return self.address

    @property
    def family(self) -> int:
        return 6 if ":" in (self.address or "") else 4

    def clean_stored(self):
        stored = clean_fixed_fields(self, also=("device_id", "network_id", "pool_id"))
        # the network and pool it is in now, for the save that follows (inventory.signals: a move
        # changes the address counts of both networks and pools)
        self._stored_links = (stored["network_id"], stored["pool_id"]) if stored else None
        held_by = stored and stored["device_id"]
        if held_by and self.device_id is not None and self.device_id != held_by:
            from .devices import Device

            holder = Device.objects.filter(pk=held_by).values_list("name", flat=True).first()
            raise ValidationError({"device": f"{self.address} is already assigned to device {holder!r}; "
                                             "release it from that device first."})
        return stored

    def derive_tenant(self):
        if self.tenant_id is None:
            for parent in (self.network, self.device):
                if parent is not None:
                    self.tenant_id = parent.tenant_id
                    return

    def clean(self):
        if not self.address:
            return super().clean()
        try:
            ip = ipam.parse_address(self.address)
        except ValueError as exc:
            raise ValidationError({"address": str(exc)})
        self.address = str(ip)
        self.address_key = ipam.key(ip)
        self.derive_tenant()
        if self.network_id is None and self.tenant_id is not None:
            from .networks import Network

            # the most specific network of the tenant that contains the address
            self.network = (
                Network.objects.filter(tenant_id=self.tenant_id, family=ip.version,
                                       start_key__lte=self.address_key, end_key__gte=self.address_key)
                .order_by("-prefix_length").first()
            )
        super().clean()
        if self.network is not None:
            net = self.network.ip_network
            if ip.version != net.version or ip not in net:
                raise ValidationError({"address": f"{ip} is not inside network {self.network.name} ({net})."})
            if self.pool_id is None:
                self.pool = self.network.pools_holding(self.address_key).first()
        if self.pool is not None:
            if self.pool.network_id != self.network_id:
                raise ValidationError({"pool": f"Pool {self.pool.name} belongs to another network."})
            if not self.pool.contains(ip):
                raise ValidationError({"address": f"{ip} is not inside pool {self.pool}."})

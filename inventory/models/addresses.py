from django.core.exceptions import ValidationError
from django.db import models

from inventory import ipam

from .base import TenantOwned, clean_fixed_fields


class AddressStatus(models.TextChoices):
    ALLOCATED = "allocated", "Allocated"
    RESERVED = "reserved", "Reserved"
    DHCP = "dhcp", "DHCP"
    DEPRECATED = "deprecated", "Deprecated"


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
        stored = clean_fixed_fields(self, also=("device_id",))
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

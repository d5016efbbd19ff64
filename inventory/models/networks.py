from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from inventory import ipam

from .base import TenantOwned


class Network(TenantOwned):
    name = models.CharField(max_length=100, help_text="Unique within the tenant.")
    subnet = models.CharField(
        max_length=49,
        help_text="IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/24 or 2001:db8::/64. Host bits must be zero.",
    )
    datacenter = models.ForeignKey(
        "inventory.Datacenter", null=True, blank=True, on_delete=models.SET_NULL, related_name="networks"
    )
    vlan_id = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(4094)],
        help_text="802.1Q VLAN id, 1-4094.",
    )
    description = models.TextField(blank=True, default="")
    # Derived from subnet on save, for SQL range queries on every database.
    family = models.PositiveSmallIntegerField(editable=False, default=4)
    prefix_length = models.PositiveSmallIntegerField(editable=False, default=0)
    start_key = models.CharField(max_length=32, editable=False, default="")
    end_key = models.CharField(max_length=32, editable=False, default="")
    #: lower bound of the first free address (allocation starts looking here)
    alloc_hint = models.CharField(max_length=32, editable=False, blank=True, default="")

    tenant_links = ("datacenter",)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="network_unique_name"),
            models.CheckConstraint(
                condition=models.Q(vlan_id__isnull=True) | models.Q(vlan_id__gte=1, vlan_id__lte=4094),
                name="network_vlan_range",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "start_key", "end_key"], name="network_range_idx")]

    def __str__(self):
        return f"{self.name} ({self.subnet})"

    @property
    def ip_network(self) -> ipam.IPNetwork:
        return ipam.parse_network(self.subnet)

    def clean_fields(self, exclude=None):
        super().clean_fields(exclude)
        try:
            net = ipam.parse_network(self.subnet)
        except ValueError as exc:
            raise ValidationError({"subnet": str(exc)})
        self.subnet = str(net)
        self.family = net.version
        self.prefix_length = net.prefixlen
        self.start_key = ipam.key(int(net.network_address))
        self.end_key = ipam.key(int(net.broadcast_address))

    def clean(self):
        super().clean()
        if self.pk:
            old = Network.objects.filter(pk=self.pk).values_list("subnet", flat=True).first()
            if old and old != self.subnet:
                outside = self.addresses.exclude(address_key__gte=self.start_key, address_key__lte=self.end_key)
                if outside.exists():
                    raise ValidationError({"subnet": "Addresses of this network would fall outside the new subnet."})
                pools = self.pools.exclude(start_key__gte=self.start_key, end_key__lte=self.end_key)
                if pools.exists():
                    raise ValidationError({"subnet": "Pools of this network would fall outside the new subnet."})
                self.alloc_hint = ""

    def contains(self, address) -> bool:
        return self.start_key <= ipam.key(address) <= self.end_key

    def pools_holding(self, address_key: str):
        """The pool (pools never overlap: at most one) whose range holds the address ``address_key``."""
        return self.pools.filter(start_key__lte=address_key, end_key__gte=address_key).order_by()


class IPPool(TenantOwned):
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="pools")
    name = models.CharField(max_length=100)
    start_address = models.GenericIPAddressField(help_text="First address of the range (inside the network).")
    end_address = models.GenericIPAddressField(help_text="Last address of the range (inside the network, not before the start).")
    description = models.TextField(blank=True, default="")
    start_key = models.CharField(max_length=32, editable=False, default="")
    end_key = models.CharField(max_length=32, editable=False, default="")
    alloc_hint = models.CharField(max_length=32, editable=False, blank=True, default="")

    tenant_from = "network"
    tenant_links = ("network",)
    fixed_fields = {**TenantOwned.fixed_fields, "network": "A pool cannot move to another network."}

    class Meta:
        verbose_name = "IP pool"
        ordering = ["network__name", "start_key"]
        constraints = [models.UniqueConstraint(fields=["network", "name"], name="pool_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.start_address}-{self.end_address})"

    def clean(self):
        super().clean()
        if self.network_id is None or not self.start_address or not self.end_address:
            return
        net = self.network.ip_network
        start, end = ipam.parse_address(self.start_address), ipam.parse_address(self.end_address)
        errors = {}
        if start.version != net.version or start not in net:
            errors["start_address"] = f"{start} is not inside {net}."
        if end.version != net.version or end not in net:
            errors["end_address"] = f"{end} is not inside {net}."
        if not errors and int(start) > int(end):
            errors["end_address"] = f"The range ends ({end}) before it starts ({start})."
        if errors:
            raise ValidationError(errors)
        self.start_address, self.end_address = str(start), str(end)
        self.start_key, self.end_key = ipam.key(start), ipam.key(end)
        overlap = (
            IPPool.objects.filter(network_id=self.network_id, start_key__lte=self.end_key, end_key__gte=self.start_key)
            .exclude(pk=self.pk)
            .first()
        )
        if overlap:
            raise ValidationError({"start_address": f"The range overlaps pool '{overlap.name}' ({overlap.start_address}-{overlap.end_address})."})
        if self.pk:
            outside = self.addresses.exclude(address_key__gte=self.start_key, address_key__lte=self.end_key)
            if outside.exists():
                raise ValidationError({"start_address": "Addresses allocated from this pool would fall outside the new range."})
            self.alloc_hint = ""

    def contains(self, address) -> bool:
        return self.start_key <= ipam.key(address) <= self.end_key

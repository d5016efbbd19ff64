"""A WireGuard mesh per tenant: the mesh (its overlay is an IPAM network of the tenant, created
with it) and its peers (devices, each with an overlay address from the allocation service and
an X25519 key pair whose private half is encrypted at rest and never shown)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction

from inventory import ipam
from inventory.fields import EncryptedTextField
from inventory.models.base import TenantOwned

from . import keys

INTERFACE_RE = re.compile(r"^[A-Za-z0-9_=+.-]{1,15}$")


def validate_interface(value: str):
    if value and not INTERFACE_RE.match(value):
        raise ValidationError("An interface name is 1-15 characters: letters, digits and _=+.-")


def default_interface(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_=+.-]+", "-", name or "").strip("-").lower()
    return ("wg-" + slug)[:15].rstrip("-") or "wg0"


def parse_endpoint(value: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' → (host, port); ValueError otherwise."""
    value = (value or "").strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})", value) or re.fullmatch(r"([^\s:\[\]]+):(\d{1,5})", value)
    if not match:
        raise ValueError(f"'{value}' is not host:port (IPv6 as [address]:port).")
    host, port = match.group(1), int(match.group(2))
    if not 1 <= port <= 65535:
        raise ValueError(f"Port {port} is not between 1 and 65535.")
    if value.startswith("["):
        ipam.parse_address(host)
    elif not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host) or host.startswith(("-", ".")):
        raise ValueError(f"'{host}' is not a host name or IPv4 address.")
    return host, port


def format_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Topology(models.TextChoices):
    FULL = "full", "Full mesh"
    HUB = "hub", "Hub and spoke"


class PeerStatus(models.TextChoices):
    UP = "up", "Up"
    STALE = "stale", "Stale"
    DOWN = "down", "Down"
    UNKNOWN = "unknown", "Unknown"


class Mesh(TenantOwned):
    name = models.CharField(max_length=100, help_text="Unique within the tenant.")
    overlay_cidr = models.CharField(max_length=49, help_text="The overlay's address space (IPv4 or IPv6 CIDR); "
                                                             "an IPAM network of the tenant is created for it.")
    # a foreign key with a unique constraint, not a OneToOneField: a reverse one-to-one would be
    # read (a query) by django-auditlog's diff of every network saved
    network = models.ForeignKey("inventory.Network", on_delete=models.RESTRICT, related_name="meshes",
                                editable=False, null=True, blank=True)
    interface = models.CharField(max_length=15, blank=True, default="", validators=[validate_interface],
                                 help_text="WireGuard interface name on the peers (default: wg-<name>); the "
                                           "configuration is /etc/wireguard/<interface>.conf.")
    listen_port = models.PositiveIntegerField(default=51820, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    mtu = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1280), MaxValueValidator(9000)])
    dns = models.JSONField(default=list, blank=True, help_text="DNS server addresses for the peers.")
    persistent_keepalive = models.PositiveIntegerField(default=25, validators=[MaxValueValidator(65535)],
                                                       help_text="Seconds; 0: off.")
    topology = models.CharField(max_length=8, choices=Topology.choices, default=Topology.FULL,
                                help_text="full: every peer with every peer; hub: spokes talk to the hub peers only.")
    description = models.TextField(blank=True, default="")
    #: the last connectivity check (mesh_check): matrix and diagnoses
    last_check = models.DateTimeField(null=True, blank=True, editable=False)
    last_matrix = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "meshes"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="mesh_unique_name"),
                       models.UniqueConstraint(fields=["network"], name="mesh_unique_network")]

    def __str__(self):
        return self.name

    @property
    def interface_name(self) -> str:
        return self.interface or default_interface(self.name)

    def clean(self):
        super().clean()
        errors = {}
        try:
            net = ipam.parse_network(self.overlay_cidr)
        except ValueError as exc:
            raise ValidationError({"overlay_cidr": str(exc)})
        self.overlay_cidr = str(net)
        if net.num_addresses < 4:
            errors["overlay_cidr"] = "The overlay needs room for peers (at least a /30 or /126)."
        else:
            lo, hi = ipam.key(int(net.network_address)), ipam.key(int(net.broadcast_address))
            for other in Mesh.objects.filter(tenant_id=self.tenant_id).exclude(pk=self.pk).only("name", "overlay_cidr"):
                try:
                    o = ipam.parse_network(other.overlay_cidr)
                except ValueError:  # pragma: no cover - validated on its save
                    continue
                if o.version == net.version and not (ipam.key(int(o.broadcast_address)) < lo
                                                     or ipam.key(int(o.network_address)) > hi):
                    errors["overlay_cidr"] = f"{net} overlaps the overlay {o} of mesh '{other.name}'."
                    break
        if self.pk and self.network_id and "overlay_cidr" not in errors:
            old = Mesh.objects.filter(pk=self.pk).values_list("overlay_cidr", flat=True).first()
            if old and old != self.overlay_cidr and self.peers.exists():
                errors["overlay_cidr"] = "The overlay of a mesh with peers cannot change; remove the peers first."
        if not isinstance(self.dns, list) or not all(isinstance(d, str) for d in self.dns):
            errors["dns"] = "DNS must be a list of addresses."
        else:
            try:
                self.dns = [str(ipam.parse_address(d)) for d in self.dns]
            except ValueError as exc:
                errors["dns"] = str(exc)
        if self.network_id is None and self.tenant_id is not None:
            from inventory.models import Network

            if Network.objects.filter(tenant_id=self.tenant_id, name=self.network_name).exists():
                errors["name"] = f"A network named '{self.network_name}' already exists in this tenant."
        if errors:
            raise ValidationError(errors)

    @property
    def network_name(self) -> str:
        return f"mesh {self.name}"[:100]

    def save(self, *args, **kwargs):
        from inventory.models import Network

        with transaction.atomic():
            if kwargs.get("validate", True):
                self.derive_tenant()
                self.full_clean(validate_unique=False, validate_constraints=False)
                kwargs["validate"] = False
            if self.network_id is None:
                network = Network(tenant_id=self.tenant_id, name=self.network_name, subnet=self.overlay_cidr,
                                  description="Overlay of the WireGuard mesh (managed by the mesh).")
                network.save()
                self.network = network
            elif self.network.subnet != self.overlay_cidr or self.network.name != self.network_name:
                self.network.subnet, self.network.name = self.overlay_cidr, self.network_name
                self.network.save()
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """The mesh's network (and the overlay addresses in it) goes with the mesh."""
        with transaction.atomic():
            network = self.network
            result = super().delete(*args, **kwargs)
            if network is not None:
                network.delete()
        return result


class MeshPeer(TenantOwned):
    mesh = models.ForeignKey(Mesh, on_delete=models.CASCADE, related_name="peers")
    device = models.ForeignKey("inventory.Device", on_delete=models.CASCADE, related_name="mesh_peers")
    # not a OneToOneField, as Mesh.network: allocation's audit entry must not read a reverse one-to-one
    address = models.ForeignKey("inventory.IPAddress", on_delete=models.RESTRICT, related_name="mesh_peers",
                                editable=False, help_text="Overlay address, allocated from the mesh's network.")
    public_key = models.CharField(max_length=44, editable=False)
    private_key = EncryptedTextField(editable=False, help_text="Encrypted at rest; never shown.")
    #: the public key before the last rotation, kept until every peer has the new one
    retired_public_key = models.CharField(max_length=44, blank=True, default="", editable=False)
    endpoint = models.CharField(max_length=262, blank=True, default="",
                                help_text="host:port others reach it at; empty: its primary address and the mesh port.")
    allowed_ips = models.JSONField(default=list, blank=True, help_text="Extra networks routed behind this peer (CIDRs).")
    enabled = models.BooleanField(default=True)
    is_hub = models.BooleanField(default=False, help_text="A hub of a hub-and-spoke mesh.")
    interface = models.CharField(max_length=15, blank=True, default="", validators=[validate_interface],
                                 help_text="Interface name on this peer, if not the mesh's.")
    #: digest of the (masked) configuration last installed on the device; empty: never installed
    applied_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    # observed state (mesh_status / mesh_check)
    last_handshake = models.DateTimeField(null=True, blank=True, editable=False)
    rx_bytes = models.BigIntegerField(default=0, editable=False)
    tx_bytes = models.BigIntegerField(default=0, editable=False)
    reported_endpoint = models.CharField(max_length=262, blank=True, default="", editable=False,
                                         help_text="The endpoint the other peers see it at.")
    last_check = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=8, choices=PeerStatus.choices, default=PeerStatus.UNKNOWN, editable=False)
    last_result = models.TextField(blank=True, default="", editable=False, help_text="What the last check found.")

    tenant_from = "mesh"
    tenant_links = ("mesh", "device", "address")

    class Meta:
        verbose_name = "mesh peer"
        ordering = ["mesh__name", "address__address_key", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["mesh", "device"], name="meshpeer_unique_device"),
            models.UniqueConstraint(fields=["mesh", "public_key"], name="meshpeer_unique_key"),
            models.UniqueConstraint(fields=["address"], name="meshpeer_unique_address"),
        ]

    def __str__(self):
        return f"{self.device} in {self.mesh}"

    @property
    def interface_name(self) -> str:
        return self.interface or self.mesh.interface_name

    def clean(self):
        super().clean()
        errors = {}
        if self.mesh_id and self.device_id:
            if MeshPeer.objects.filter(mesh_id=self.mesh_id, device_id=self.device_id).exclude(pk=self.pk).exists():
                errors["device"] = f"{self.device} is already a peer of mesh {self.mesh}."
        if self.endpoint:
            try:
                self.endpoint = format_endpoint(*parse_endpoint(self.endpoint))
            except ValueError as exc:
                errors["endpoint"] = str(exc)
        if not isinstance(self.allowed_ips, list) or not all(isinstance(a, str) for a in self.allowed_ips):
            errors["allowed_ips"] = "Allowed IPs must be a list of networks (CIDR)."
        else:
            try:
                self.allowed_ips = sorted({str(ipam.parse_network(a)) for a in self.allowed_ips},
                                          key=lambda n: (":" in n, n))
            except ValueError as exc:
                errors["allowed_ips"] = str(exc)
        if self.address_id and self.mesh_id and self.address.network_id != self.mesh.network_id:
            errors["address"] = f"{self.address} is not in the network of mesh {self.mesh}."
        for name in ("public_key", "retired_public_key"):
            if getattr(self, name):
                try:
                    setattr(self, name, keys.normalize(getattr(self, name)))
                except ValueError as exc:
                    errors[name] = str(exc)
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if not self.private_key:  # generated server-side, never given
            self.private_key, self.public_key = keys.generate()
        super().save(*args, **kwargs)

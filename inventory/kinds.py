"""One list of kinds: each kind of object is declared once, and every surface reads it.

A :class:`Kind` names the model and the pieces that serve it (dotted paths, imported when a
surface first asks, so a declaration imports nothing): the REST serializer, filterset and
viewset, the URL route, the ModelAdmin, the django-auditlog options, the MCP tools and the
search participation. Readers:

- REST router (``inventory/api/urls.py``): every kind with a ``route``;
- django-auditlog (``InventoryConfig.ready``): every kind with ``audit`` not None;
- admin (``inventory/admin/__init__.py``): every kind with an ``admin`` class;
- MCP (``mcp_gateway/tools/kinds.py``): list/get/save/delete tools for every kind with ``mcp``;
- search (``inventory.services.search``, ``/api/search/``, the MCP ``search`` tool): every kind
  with ``search``;
- tests: the isolation matrix and the generic per-kind test case (``tests/kind_tests.py``).

Declaring a kind from another app (e.g. ``inventory.mesh``): in the app's ``kinds`` module, which
is imported (by :func:`all_kinds`, Django's ``autodiscover_modules``) before any surface reads the
list; it must import no models (everything is a dotted path)::

    # inventory/mesh/kinds.py
    from inventory.kinds import Kind, Mcp, register

    register(Kind(
        name="peer", model="mesh.Peer", route="mesh-peers",
        serializer="inventory.mesh.serializers.PeerSerializer",
        filterset="inventory.mesh.filtersets.PeerFilter",
        admin="inventory.mesh.admin.PeerAdmin",
        mcp=Mcp(group="mesh", list="List mesh peers.", get="Get a peer.", save="Create or update a peer.",
                delete="Delete a peer."),
    ))

See "Adding a kind" in docs/ARCHITECTURE.md for the whole recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from django.apps import apps
from django.utils.module_loading import autodiscover_modules, import_string


@dataclass(frozen=True)
class Mcp:
    """The kind's MCP tools: ``<name>_list``, ``_get``, ``_save``, ``_delete`` in ``group``
    (mcp_gateway.tools.factories.crud), each with the description given here."""

    group: str
    list: str
    get: str
    save: str
    delete: str
    #: result fields of a brief list item (default: the serializer's brief_fields)
    brief_fields: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Search:
    """How the kind takes part in search (dotted paths): the result key (``racks``), the
    serializer of a hit, ``words(queryset, words)`` narrowing to objects matching every word,
    ``query(queryset, q)`` for an IP address or CIDR query (default: nothing matches one), and
    the hits' order (unless ``query`` orders them itself)."""

    key: str
    hit_serializer: str
    words: str
    query: str | None = None
    ordering: tuple[str, ...] = ("name", "id")


@dataclass(frozen=True)
class Kind:
    name: str  #: singular, lower case: MCP tool prefix, test ids ("rack")
    model: str  #: "app_label.ModelName"
    serializer: str | None = None  #: dotted path of the REST (and MCP) serializer
    filterset: str | None = None  #: dotted path of its django-filter FilterSet
    viewset: str | None = None  #: dotted path; default a plain InventoryViewSet of the above
    route: str | None = None  #: REST URL prefix ("racks"); None: no REST route
    basename: str | None = None  #: URL names "api:<basename>-list|detail"; default ``name``
    admin: str | None = None  #: dotted path of a ModelAdmin registered for it (None: its app registers one, or none)
    audit: dict | None = field(default_factory=dict)  #: auditlog.register() options; None: not audited
    mcp: Mcp | None = None
    search: Search | None = None

    def get_model(self):
        return apps.get_model(self.model)

    def get_serializer(self):
        return import_string(self.serializer) if self.serializer else None

    def get_filterset(self):
        return import_string(self.filterset) if self.filterset else None

    def get_viewset(self):
        if self.viewset:
            return import_string(self.viewset)
        from inventory.api.views.base import InventoryViewSet, documented

        attrs = {"model": self.get_model(), "serializer_class": self.get_serializer(),
                 "filterset_class": self.get_filterset(), "__module__": __name__}
        return documented(type(f"{self.get_model().__name__}ViewSet", (InventoryViewSet,), attrs))

    @property
    def url_basename(self) -> str:
        return self.basename or self.name


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Declare a kind (once per name)."""
    if kind.name in _kinds and _kinds[kind.name] != kind:
        raise ValueError(f"kind {kind.name!r} is already declared")
    _kinds[kind.name] = kind
    return kind


_discovered = False


def _discover() -> None:
    """Import the ``kinds`` module of every installed app (once): where apps declare theirs."""
    global _discovered
    if not _discovered:
        _discovered = True
        autodiscover_modules("kinds")


def all_kinds() -> list[Kind]:
    """Every declared kind, in declaration order (this module's, then the apps' ``kinds`` modules)."""
    _discover()
    return list(_kinds.values())


def get(name: str) -> Kind:
    _discover()
    return _kinds[name]


def for_model(model) -> Kind | None:
    label = model._meta.label
    return next((k for k in all_kinds() if k.model == label), None)


# --- the inventory's kinds ------------------------------------------------------------------------
_S = "inventory.api.serializers."
_F = "inventory.api.filtersets."
_V = "inventory.api.views."


_Q = "inventory.services.search."


register(Kind(name="tenant", model="inventory.Tenant", serializer=_S + "TenantSerializer",
              filterset=_F + "TenantsFilter", viewset=_V + "TenantViewSet", route="tenants"))
register(Kind(name="membership", model="inventory.Membership", serializer=_S + "MembershipSerializer",
              filterset=_F + "MembershipFilter", viewset=_V + "MembershipViewSet", route="memberships"))
register(Kind(name="datacenter", model="inventory.Datacenter", serializer=_S + "DatacenterSerializer",
              filterset=_F + "DatacenterFilter", viewset=_V + "DatacenterViewSet", route="datacenters",
              search=Search(key="datacenters", hit_serializer=_S + "search.DatacenterHitSerializer",
                            words=_Q + "datacenters_with", query=_Q + "filter_datacenters")))
register(Kind(name="network", model="inventory.Network", serializer=_S + "NetworkSerializer",
              filterset=_F + "NetworkFilter", viewset=_V + "NetworkViewSet", route="networks",
              search=Search(key="networks", hit_serializer=_S + "search.NetworkHitSerializer",
                            words=_Q + "networks_with", query=_Q + "filter_networks", ordering=("name",))))
register(Kind(name="pool", model="inventory.IPPool", serializer=_S + "IPPoolSerializer",
              filterset=_F + "IPPoolFilter", viewset=_V + "IPPoolViewSet", route="pools"))
register(Kind(name="ipaddress", model="inventory.IPAddress", serializer=_S + "IPAddressSerializer",
              filterset=_F + "IPAddressFilter", viewset=_V + "IPAddressViewSet", route="ip-addresses"))
register(Kind(name="device", model="inventory.Device", serializer=_S + "DeviceSerializer",
              filterset=_F + "DeviceFilter", viewset=_V + "DeviceViewSet", route="devices",
              audit={"m2m_fields": {"tags"}, "exclude_fields": ["search_text", "updated"]},
              search=Search(key="devices", hit_serializer=_S + "search.DeviceHitSerializer",
                            words=_Q + "devices_with", query=_Q + "filter_devices")))
register(Kind(name="relationship", model="inventory.DeviceRelationship",
              serializer=_S + "DeviceRelationshipSerializer", filterset=_F + "DeviceRelationshipFilter",
              viewset=_V + "DeviceRelationshipViewSet", route="relationships"))
register(Kind(name="tag", model="inventory.Tag"))  # REST and MCP give tags by name, on devices
register(Kind(
    name="rack", model="inventory.Rack", route="racks",
    serializer=_S + "RackSerializer", filterset=_F + "RackFilter", admin="inventory.admin.racks.RackAdmin",
    mcp=Mcp(group="inventory", brief_fields=("id", "name", "display", "datacenter", "height_u"),
            list="List racks you can see, paged (limit/offset), optionally in one datacenter.",
            get="Get one rack.",
            save="Create or update a rack: name (unique within its datacenter), datacenter_id, height_u "
                 "(1-100 U), description. Its tenant is the datacenter's.",
            delete="Delete a rack (its devices stay, without rack)."),
    search=Search(key="racks", hit_serializer=_S + "search.RackHitSerializer", words=_Q + "racks_with"),
))

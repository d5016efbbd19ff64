"""The admin site: members may sign in without staff status; the index is a dashboard."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Count

from inventory.tenancy import Action, Principal


def may_use_admin(user) -> bool:
    """Staff, superusers and members of any tenant may sign in; data access is the
    tenancy layer's business, not the staff flag's."""
    if not (user.is_active and user.is_authenticated):
        return False
    return user.is_staff or user.is_superuser or user.memberships.exists()


class MemberAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct username and password. Note that both fields may be case-sensitive.",
    }

    def confirm_login_allowed(self, user):
        if not user.is_active:
            raise ValidationError(self.error_messages["inactive"], code="inactive")
        if not may_use_admin(user):
            raise ValidationError(
                "This account is not a member of any tenant yet. Ask a tenant admin to add you.",
                code="no_membership",
            )


def chrome(request) -> dict:
    """Template context processor: the admin's header (title, user links) on pages that are not
    admin views (/oauth-clients/, the consent page). Admin views pass their own, which win."""
    site = admin.site
    user = getattr(request, "user", None)
    return {"site_header": site.site_header, "site_title": site.site_title, "site_url": site.site_url,
            "has_permission": lambda: bool(user is not None and may_use_admin(user))}


class InventoryAdminSite(admin.AdminSite):
    site_header = "Infrastructure inventory"
    site_title = "Inventory"
    index_title = "Dashboard"
    index_template = "admin/inventory_index.html"
    login_form = MemberAuthenticationForm
    site_url = None  # no public site: the header's links are the dashboard, search, MCP and OAuth clients

    def has_permission(self, request):
        # the roles the request's principal reads anyway (once per request), not another query
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_staff or user.is_superuser or bool(Principal.of(request).roles)

    #: (app label, what the caller may do with each model, language, URL configuration, script
    #: prefix) -> Django's app dictionary for it (bounded; see _build_app_dict)
    _app_dicts: dict = {}

    def _build_app_dict(self, request, label=None):
        """Django's app dictionary (the sidebar's and the index's model list), built once per
        permission shape: it is a function of which models the caller may see and what it may do
        with them, and of the URLs of their pages, and building it reverses some 80 URLs, a tenth
        of a change page's work. The permissions are still asked on every request (through the
        one principal of the request); only the dictionary and its URLs are reused, copied."""
        from django.urls import get_script_prefix, get_urlconf
        from django.utils.translation import get_language

        shape = []
        for model, model_admin in self._registry.items():
            if label and model._meta.app_label != label:
                continue
            allowed = model_admin.has_module_permission(request)
            shape.append((model._meta.label, allowed, tuple(sorted(model_admin.get_model_perms(request).items()))
                          if allowed else ()))
        key = (label, tuple(shape), get_language(), get_urlconf(), get_script_prefix(), self.name)
        built = self._app_dicts.get(key)
        if built is None:
            built = super()._build_app_dict(request, label)
            if len(self._app_dicts) > 500:  # pragma: no cover - many shapes (tests)
                self._app_dicts.clear()
            self._app_dicts[key] = built
        return {app_label: {**app, "models": [{**m, "perms": dict(m["perms"])} for m in app["models"]]}
                for app_label, app in built.items()}

    def each_context(self, request):
        context = super().each_context(request)
        context["nav_sidebar_key"] = nav_sidebar_key(request, context["available_apps"])
        return context

    def index(self, request, extra_context=None):
        extra = {"dashboard": dashboard(request), **(extra_context or {})}
        return super().index(request, extra_context=extra)

    def get_urls(self):
        from django.urls import path

        return [path("search/", self.admin_view(self.search_view), name="search"), *super().get_urls()]

    def search_view(self, request):
        """The global search box: devices, networks, datacenters (the /api/search/ service),
        plus pools by name and addresses by exact IP or CIDR, grouped by kind."""
        from django.template.response import TemplateResponse

        q = (request.GET.get("q") or "").strip()[:200]
        groups = global_search(request, q) if q else []
        context = {**self.each_context(request), "title": f"Search: {q}" if q else "Search", "q": q,
                   "groups": groups, "found": sum(len(g["rows"]) for g in groups)}
        return TemplateResponse(request, "admin/global_search.html", context)


#: part of every sidebar digest: change it with ``templates/admin/nav_sidebar.html``
SIDEBAR_VERSION = "1"


def nav_sidebar_key(request, available_apps) -> str:
    """Everything the navigation sidebar's HTML (``admin/app_list.html`` in
    ``admin/nav_sidebar.html``) is made of, as a digest: the apps and models the caller may use
    (names, links, view-only), which of them the current page belongs to, and the language. The
    sidebar is rendered once per digest and kept in the cache (``{% cache %}``): rendering it
    (36 models) was a fifth of a change page's template work. It holds no object data, only the
    model list, and two callers share an entry only if their sidebars are the same."""
    import hashlib

    import django
    from django.template.defaultfilters import urlencode
    from django.utils.translation import get_language

    path = urlencode(request.path)  # what the template tests against (`... in request.path|urlencode`)
    parts = [SIDEBAR_VERSION, django.get_version(), get_language() or ""]
    for app in available_apps:
        app_url = app.get("app_url") or ""
        parts.append((app["app_label"], str(app["name"]), app_url, bool(app_url) and app_url in path))
        for model in app["models"]:
            url = model.get("admin_url")
            parts.append((model["object_name"], str(model["name"]), url, model.get("add_url"),
                          model.get("view_only"), bool(url) and url in path))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


SEARCH_LIMIT = 20


def global_search(request, q: str) -> list[dict]:
    from urllib.parse import urlencode

    from django.urls import reverse

    from inventory import ipam
    from inventory.models import IPAddress, IPPool
    from inventory.services import search

    principal = Principal.of(request)
    found = search.search(principal, q, limit=SEARCH_LIMIT)
    pools = IPPool.objects.restrict(principal, Action.VIEW).select_related("network")
    addresses = IPAddress.objects.restrict(principal, Action.VIEW).select_related("device", "network")
    try:
        ip = ipam.parse_address(q)
    except ValueError:
        ip = None
    if ip is not None:
        addresses = addresses.filter(address_key=ipam.key(ip))
        pools = pools.filter(start_key__lte=ipam.key(ip), end_key__gte=ipam.key(ip))
    else:
        words = q.split()[:search.MAX_WORDS]
        for word in words:
            pools = pools.filter(name__icontains=word)
            addresses = addresses.filter(dns_name__icontains=word)
    kinds = [("Devices", "device", found["devices"]), ("Networks", "network", found["networks"]),
             ("Datacenters", "datacenter", found["datacenters"]),
             ("Pools", "ippool", list(pools.order_by("name", "pk")[:SEARCH_LIMIT])),
             ("IP addresses", "ipaddress", list(addresses.order_by("address_key", "pk")[:SEARCH_LIMIT]))]
    from inventory.models import Tenant

    tenants = dict(Tenant.objects.restrict(principal, Action.VIEW).values_list("id", "name"))
    groups = []
    for label, model_name, rows in kinds:
        if rows:
            changelist = reverse(f"admin:inventory_{model_name}_changelist")
            groups.append({"label": label, "more": f"{changelist}?{urlencode({'q': q})}", "rows": [
                {"text": str(o), "url": reverse(f"admin:inventory_{model_name}_change", args=[o.pk]),
                 "detail": _detail(o, tenants)} for o in rows]})
    return groups


def _detail(obj, tenants: dict) -> str:
    """What tells two similar hits apart, from what is already loaded (no query per row)."""
    parts = [tenants.get(obj.tenant_id, "")]
    for attr in ("network", "device"):
        if getattr(obj, f"{attr}_id", None) and attr in getattr(obj, "_state").fields_cache:
            parts.append(f"{attr}: {getattr(obj, attr)}")
    if getattr(obj, "status", ""):
        parts.append(obj.get_status_display())
    return " · ".join(p for p in parts if p)


def dashboard(request) -> dict:
    """Counts per kind, per tenant the user can see."""
    from inventory.models import Datacenter, Device, IPAddress, IPPool, Network, Tenant

    principal = Principal.of(request)
    tenants = list(Tenant.objects.restrict(principal, Action.VIEW).values("id", "name"))
    kinds = [("devices", Device), ("datacenters", Datacenter), ("networks", Network),
             ("pools", IPPool), ("addresses", IPAddress)]
    rows = {t["id"]: {"tenant": t["name"], **{k: 0 for k, _ in kinds}} for t in tenants}
    for label, model in kinds:
        for tenant_id, n in counts_per_tenant(model, principal):
            if tenant_id in rows:
                rows[tenant_id][label] = n
    totals = {k: sum(r[k] for r in rows.values()) for k, _ in kinds}
    return {"rows": list(rows.values()), "totals": totals, "kinds": [k for k, _ in kinds]}


def counts_per_tenant(model, principal) -> list[tuple[int, int]]:
    """``[(tenant id, rows)]`` of what the principal sees. Devices and addresses (the big tables)
    come from the shared cache of :mod:`inventory.runtime.counting`, under the same generation as the
    REST lists' counts (bumped when a row is created or deleted), so the dashboard does not
    scan a million rows per request."""
    import hashlib

    from inventory.runtime import counting
    from inventory.runtime.caching import cached

    qs = (model.objects.restrict(principal, Action.VIEW).order_by()
          .values("tenant_id").annotate(n=Count("pk")).values_list("tenant_id", "n"))
    label = model._meta.label
    if label not in counting.COUNTED or qs.query.is_empty():
        return list(qs)
    sql, params = qs.query.sql_with_params()
    digest = hashlib.sha256(f"{sql}|{params!r}".encode()).hexdigest()[:32]
    return cached(f"inv:tenant-counts:{label}:{digest}", (counting.generation(label),),
                  lambda: ([tuple(r) for r in qs], counting.COUNT_TIMEOUT), mechanism="cached_counts")

"""Pictures in the admin, rendered server-side as SVG (no script, no CDN: works offline), each with
a bounded number of queries whatever the data size:

- :func:`device_graph`: a device's relationships (contains / connected_to / depends_on) up to
  ``hops`` away, read with ONE recursive query (nodes and edges together), at most
  ``MAX_NODES`` nodes (nearest first); every node links to its device's page;
- :func:`datacenter_overview`: a datacenter's racks with their devices by position (units from
  the bottom), devices in a rack without a position, and devices without a rack: three queries,
  at most ``MAX_RACKS`` racks and ``MAX_UNRACKED`` unracked devices (links to the full lists).

Only what the caller may view: every row is read through the tenancy layer (the graph query is
limited to the tenants ``restrict()`` would allow, the overview through ``restrict()`` itself).
"""

from __future__ import annotations

import math
from collections import defaultdict

from django.db import connections
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from inventory.models import Device, DeviceRelationship, Rack
from inventory.tenancy import Action, Principal

#: nodes drawn at most (the nearest first); the page says how many more there are
MAX_NODES = 40
#: hops shown by default, and at most (?graph_hops=N on the device page)
DEFAULT_HOPS, MAX_HOPS = 2, 3

EDGE_STYLES = {
    "contains": ("#1565c0", ""),
    "connected_to": ("#616161", ""),
    "depends_on": ("#ef6c00", "6 4"),
}
STATUS_COLOURS = {"planned": "#90a4ae", "active": "#2e7d32", "offline": "#ef6c00", "failed": "#c62828",
                  "decommissioned": "#757575"}

_GRAPH_SQL = """
WITH RECURSIVE reach(id, depth) AS (
    SELECT CAST(%(start)s AS BIGINT), CAST(0 AS INTEGER)
  UNION
    SELECT CASE WHEN r.parent_id = reach.id THEN r.child_id ELSE r.parent_id END, CAST(reach.depth + 1 AS INTEGER)
    FROM reach JOIN {rel} r ON (r.parent_id = reach.id OR r.child_id = reach.id)
    WHERE reach.depth < %(hops)s AND r.tenant_id = %(tenant)s
),
nearest AS (SELECT id, MIN(depth) AS depth FROM reach GROUP BY id),
shown AS (SELECT id, depth FROM nearest ORDER BY depth, id LIMIT %(limit)s)
SELECT 'n', d.id, s.depth, d.name, d.status FROM shown s JOIN {dev} d ON d.id = s.id AND d.tenant_id = %(tenant)s
UNION ALL
SELECT 'e', r.parent_id, r.child_id, r.type, '' FROM {rel} r
  WHERE r.tenant_id = %(tenant)s AND r.parent_id IN (SELECT id FROM shown) AND r.child_id IN (SELECT id FROM shown)
UNION ALL
SELECT 'c', COUNT(*), 0, '', '' FROM nearest
"""


def graph_data(principal: Principal, device, hops: int = DEFAULT_HOPS, limit: int = MAX_NODES):
    """(nodes {id: (depth, name, status)}, edges [(parent, child, type)], reachable count) with one
    query. Relationships stay inside a tenant (the model refuses others), so the walk stays in the
    device's tenant, which the caller must be allowed to view."""
    if not principal.can(Action.VIEW, device):
        return {}, [], 0
    connection = connections[Device.objects.db]
    sql = _GRAPH_SQL.format(rel=connection.ops.quote_name(DeviceRelationship._meta.db_table),
                            dev=connection.ops.quote_name(Device._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, {"start": device.pk, "hops": int(hops), "tenant": device.tenant_id, "limit": int(limit)})
        rows = cursor.fetchall()
    nodes, edges, total = {}, [], 0
    for kind, a, b, text, status in rows:
        if kind == "n":
            nodes[a] = (b, text, status)
        elif kind == "e":
            edges.append((a, b, text))
        else:
            total = a
    return nodes, sorted(set(edges)), total


def _layout(center: int, nodes: dict, edges: list, size: int) -> dict:
    """Rings by distance; a node sits near the neighbour that brought it (fewer crossings)."""
    c = size / 2
    rings = defaultdict(list)
    for pk, (depth, _name, _status) in nodes.items():
        rings[depth].append(pk)
    neighbours = defaultdict(set)
    for a, b, _t in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    angle = {center: 0.0}
    pos = {center: (c, c)}
    radius_step = (size / 2 - 60) / max(1, max(rings) if rings else 1)
    for depth in sorted(d for d in rings if d > 0):
        def key(pk):
            near = [angle[n] for n in neighbours[pk] if n in angle and nodes.get(n, (99,))[0] < depth]
            return (min(near) if near else 0.0, nodes[pk][1])
        ring = sorted(rings[depth], key=key)
        for i, pk in enumerate(ring):
            a = -math.pi / 2 + 2 * math.pi * (i + 0.5 * (depth % 2)) / len(ring)
            angle[pk] = (a + math.pi / 2) % (2 * math.pi)
            r = radius_step * depth
            pos[pk] = (round(c + r * math.cos(a), 1), round(c + r * math.sin(a), 1))
    return pos


def device_graph(request, device, hops: int = DEFAULT_HOPS) -> str:
    principal = Principal.of(request)
    hops = max(1, min(int(hops), MAX_HOPS))
    nodes, edges, total = graph_data(principal, device, hops)
    if not edges:
        return mark_safe('<p id="device-graph-empty">No relationships yet: add one below '
                         '(“Relationships from/to this device”, “Add another …”).</p>')
    size = 520 if len(nodes) <= 12 else 680
    pos = _layout(device.pk, nodes, edges, size)
    marker = format_html_join("", (
        '<marker id="arrow-{}" viewBox="0 0 10 10" refX="27" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{}"/></marker>'),
        [(t, colour) for t, (colour, _dash) in EDGE_STYLES.items()])
    lines = format_html_join("", (
        '<line class="graph-edge" data-type="{}" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2" '
        'stroke-dasharray="{}" marker-end="url(#arrow-{})"><title>{} {} {}</title></line>'),
        [(t, *pos[a], *pos[b], *EDGE_STYLES.get(t, ("#999", "")), t, nodes[a][1], t.replace("_", " "), nodes[b][1])
         for a, b, t in edges if a in pos and b in pos])
    url = reverse("admin:inventory_device_change", args=[987654321])
    circles = format_html_join("", (
        '<a href="{}" class="graph-link" data-device="{}"><g class="graph-node{}">'
        '<circle cx="{}" cy="{}" r="{}" fill="{}" stroke="{}" stroke-width="3"><title>{} ({}, {} hop(s))</title></circle>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="12" font-family="sans-serif">{}</text></g></a>'),
        [(url.replace("987654321", str(pk)), pk, " graph-center" if pk == device.pk else "", *pos[pk],
          24 if pk == device.pk else 18, STATUS_COLOURS.get(status, "#90a4ae"),
          "#212121" if pk == device.pk else "#fff", name, status, depth,
          pos[pk][0], pos[pk][1] + (40 if pk == device.pk else 34), name)
         for pk, (depth, name, status) in nodes.items() if pk in pos])
    legend = format_html_join(" ", '<span style="color:{};font-weight:bold">━ {}</span>',
                              [(colour, t.replace("_", " ")) for t, (colour, _d) in EDGE_STYLES.items()])
    more = (format_html(" Showing the {} nearest of {} devices.", len(nodes), total) if total > len(nodes) else "")
    other = hops % MAX_HOPS + 1
    return format_html(
        '<div id="device-graph"><svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="Relationships of {}"><defs>{}</defs>{}{}</svg>'
        '<p class="help">{} Arrows point from parent to child; {} hop(s).{} <a href="?graph_hops={}">Show {} hop(s)</a>. '
        'Click a device to open it.</p></div>',
        size, size, size, size, device.name, marker, lines, circles, legend, hops, more, other, other)


# --- datacenter overview ---------------------------------------------------------------------
MAX_RACKS = 24
MAX_UNRACKED = 100
UNIT_PX = 14


def _device_url():
    template = reverse("admin:inventory_device_change", args=[987654321])
    return lambda pk: template.replace("987654321", str(pk))


def _rack_svg(rack, devices: list, device_url) -> str:
    height = rack.height_u * UNIT_PX
    width = 190
    slots = format_html_join("", (
        '<text x="4" y="{}" font-size="9" font-family="monospace" fill="#9e9e9e">{}</text>'),
        [(height - (u - 1) * UNIT_PX - 3, u) for u in range(1, rack.height_u + 1) if u % 5 == 0 or u == 1])
    placed = format_html_join("", (
        '<a href="{}" class="rack-device" data-device="{}"><rect x="24" y="{}" width="{}" height="{}" rx="2" '
        'fill="{}" stroke="#fff"><title>{} (U{}, {})</title></rect>'
        '<text x="30" y="{}" font-size="10" font-family="sans-serif" fill="#fff">{}</text></a>'),
        [(device_url(d.pk), d.pk, height - d.rack_position * UNIT_PX + 1, width - 30, UNIT_PX - 2,
          STATUS_COLOURS.get(d.status, "#90a4ae"), d.name, d.rack_position, d.status,
          height - d.rack_position * UNIT_PX + UNIT_PX - 4, d.name[:28]) for d in devices if d.rack_position])
    return format_html(
        '<svg class="rack" data-rack="{}" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
        'viewBox="0 0 {} {}" role="img" aria-label="Rack {}"><rect x="20" y="0" width="{}" height="{}" fill="#f5f5f5" '
        'stroke="#424242" stroke-width="2"/>{}{}</svg>',
        rack.pk, width, height + 2, width, height + 2, rack.name, width - 22, height, slots, placed)


def datacenter_overview(request, datacenter) -> str:
    principal = Principal.of(request)
    racks_qs = Rack.objects.restrict(principal, Action.VIEW).filter(datacenter=datacenter).order_by("name", "pk")
    racks = list(racks_qs.only("id", "name", "height_u", "tenant_id")[:MAX_RACKS + 1])
    more_racks = len(racks) > MAX_RACKS
    racks = racks[:MAX_RACKS]
    columns = ("id", "name", "status", "rack_id", "rack_position", "tenant_id")
    visible = Device.objects.restrict(principal, Action.VIEW).filter(datacenter=datacenter)
    in_racks = defaultdict(list)
    if racks:
        for d in visible.filter(rack__in=[r.pk for r in racks]).only(*columns).order_by("rack_position", "name"):
            in_racks[d.rack_id].append(d)
    unracked = list(visible.filter(rack__isnull=True).only(*columns).order_by("name")[:MAX_UNRACKED + 1])
    device_url = _device_url()
    rack_url = reverse("admin:inventory_rack_change", args=[987654321])
    cards = []
    for rack in racks:
        devices = in_racks.get(rack.pk, [])
        loose = [d for d in devices if not d.rack_position]
        cards.append(format_html(
            '<div class="rack-card" style="display:inline-block;vertical-align:top;margin:0 16px 16px 0">'
            '<h3 style="margin:0 0 4px"><a href="{}">{}</a> <small>{}U, {} device(s)</small></h3>{}{}</div>',
            rack_url.replace("987654321", str(rack.pk)), rack.name, rack.height_u, len(devices),
            _rack_svg(rack, devices, device_url),
            format_html("<p>Without a position: {}</p>", format_html_join(
                ", ", '<a href="{}">{}</a>', [(device_url(d.pk), d.name) for d in loose])) if loose else ""))
    listing = reverse("admin:inventory_device_changelist")
    if not racks:
        racks_html = mark_safe('<p id="datacenter-no-racks">No racks in this datacenter yet: add one under '
                               '“Racks”, then set a device\'s rack and position.</p>')
    else:
        racks_html = format_html('<div id="datacenter-racks">{}</div>{}', mark_safe("".join(cards)), format_html(
            '<p>Showing the first {} racks: <a href="{}?datacenter__id__exact={}">all racks</a>.</p>',
            MAX_RACKS, reverse("admin:inventory_rack_changelist"), datacenter.pk) if more_racks else "")
    more = len(unracked) > MAX_UNRACKED
    unracked = unracked[:MAX_UNRACKED]
    if unracked:
        rows = format_html_join("", '<li><a href="{}" data-device="{}">{}</a> <span class="status-{}">{}</span></li>',
                                [(device_url(d.pk), d.pk, d.name, d.status, d.status) for d in unracked])
        loose_html = format_html(
            '<h3>Devices without a rack</h3><ul id="datacenter-unracked" style="columns:3">{}</ul>{}', rows,
            format_html('<p>Showing the first {}: <a href="{}?datacenter__id__exact={}">all devices of this '
                        'datacenter</a>.</p>', MAX_UNRACKED, listing, datacenter.pk) if more else "")
    else:
        loose_html = ""
    return format_html('<div id="datacenter-overview">{}{}</div>', racks_html, loose_html)

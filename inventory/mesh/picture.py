"""The mesh as a picture (server-side SVG, no script): peers as nodes on a circle, coloured by
their status; edges coloured by the last connectivity matrix (green: both ways, orange: one
way, red: neither, grey: not checked)."""

from __future__ import annotations

import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

STATUS_COLOURS = {"up": "#2e7d32", "stale": "#ef6c00", "down": "#c62828", "unknown": "#757575"}
EDGE_COLOURS = {2: "#2e7d32", 1: "#ef6c00", 0: "#c62828", None: "#bdbdbd"}


def cell(matrix: dict, src, dst):
    return ((matrix.get("matrix") or {}).get(str(src)) or {}).get(str(dst))


def edge_state(matrix: dict, a, b):
    cells = [cell(matrix, a, b), cell(matrix, b, a)]
    if any(c is None for c in cells):
        return None
    return sum(1 for c in cells if c.get("ok"))


def svg(peers: list, matrix: dict, size: int = 420) -> str:
    n = len(peers)
    if not n:
        return mark_safe('<p>No peers yet.</p>')
    r, c = size / 2 - 70, size / 2
    pos = {}
    for i, peer in enumerate(peers):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        pos[peer.pk] = (round(c + r * math.cos(angle), 1), round(c + r * math.sin(angle), 1))
    edges = []
    for i, a in enumerate(peers):
        for b in peers[i + 1:]:
            state = edge_state(matrix, a.pk, b.pk)
            (x1, y1), (x2, y2) = pos[a.pk], pos[b.pk]
            label = {2: "reach each other", 1: "one way only", 0: "no connectivity", None: "not checked"}[state]
            edges.append((x1, y1, x2, y2, EDGE_COLOURS[state], f"{a.device.name} ↔ {b.device.name}: {label}",
                          f"edge-{a.pk}-{b.pk}", "ok" if state == 2 else "partial" if state == 1 else
                          "fail" if state == 0 else "unknown"))
    edge_svg = format_html_join(
        "", '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="4"><title>{}</title></line>'
            '<desc id="{}" data-state="{}"></desc>', edges)
    nodes = format_html_join("", (
        '<g class="mesh-node" data-peer="{}" data-status="{}"><circle cx="{}" cy="{}" r="22" fill="{}" stroke="#fff" '
        'stroke-width="3"><title>{} ({}): {}</title></circle>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="12" font-family="sans-serif">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="10" font-family="monospace" fill="#555">{}</text></g>'),
        [(p.pk, p.last_status, *pos[p.pk], STATUS_COLOURS.get(p.last_status, "#757575"), p.device.name,
          p.address.address, p.last_status, pos[p.pk][0], pos[p.pk][1] + 38, p.device.name,
          pos[p.pk][0], pos[p.pk][1] + 51, p.address.address) for p in peers])
    return format_html('<svg id="mesh-picture" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
                       'viewBox="0 0 {} {}" role="img" aria-label="Mesh peers and connectivity">{}{}</svg>',
                       size, size + 20, size, size + 20, edge_svg, nodes)


def matrix_table(peers: list, matrix: dict) -> str:
    if not matrix.get("matrix"):
        return mark_safe("<p>No connectivity check yet (action “Check connectivity”).</p>")
    head = format_html_join("", "<th>{}</th>", [(p.device.name,) for p in peers])
    rows = []
    for src in peers:
        cells = []
        for dst in peers:
            data = cell(matrix, src.pk, dst.pk)
            if src.pk == dst.pk:
                cells.append(mark_safe('<td style="background:#eee">–</td>'))
            elif data is None:
                cells.append(mark_safe('<td title="not checked">?</td>'))
            elif data.get("ok"):
                rtt = data.get("rtt_ms")
                cells.append(format_html('<td class="mesh-ok" style="background:#c8e6c9" title="{}">{}</td>',
                                         data.get("note", "") or data.get("method", ""),
                                         f"{rtt} ms" if rtt is not None else "ok"))
            else:
                cells.append(format_html('<td class="mesh-fail" style="background:#ffcdd2" title="{}">✗ {}</td>',
                                         data.get("diagnosis", ""), data.get("diagnosis", "")))
        rows.append(format_html("<tr><th>{}</th>{}</tr>", src.device.name, mark_safe("".join(cells))))
    return format_html('<table id="mesh-matrix"><thead><tr><th>from \\ to</th>{}</tr></thead><tbody>{}</tbody>'
                       '</table><p>Checked {}.</p>', head, mark_safe("".join(rows)), matrix.get("checked", ""))

"""What a job's admin page shows above its fields: the result as tables with links (a scan's found
hosts → their discovered-device rows → the devices they were promoted to, or a Promote button),
and the empty states of the job and discovery lists. One query per table, capped."""

from __future__ import annotations

from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from inventory.tenancy import Action, Principal

from .models import DiscoveredDevice, Job, JobKind

#: rows shown per result table (the rest: the discovered-device list, filtered)
MAX_ROWS = 200
_ID = "987654321"


def _url(name: str):
    template = reverse(name, args=[int(_ID)])
    return lambda pk: template.replace(_ID, str(pk))


def duration_text(job: Job) -> str:
    d = job.duration
    if d is None:
        return "not started"
    seconds = d.total_seconds()
    text = f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return text if job.is_finished else f"{text} so far"


def found_hosts(request, job: Job) -> str:
    """A scan's found hosts: address, host name, open ports, its discovered-device row, and the
    device it became (or a Promote button for operators)."""
    hosts = [h for h in (job.result.get("hosts") or []) if isinstance(h, str)]
    if not hosts:
        return mark_safe('<p id="job-no-hosts">No host answered on the scanned ports.</p>')
    principal = Principal.of(request)
    rows = list(DiscoveredDevice.objects.restrict(principal, Action.VIEW).filter(network_id=job.network_id, ip__in=hosts[:MAX_ROWS])
                .select_related("device").order_by("ip_key"))
    found_url, device_url = _url("admin:jobs_discovereddevice_change"), _url("admin:inventory_device_change")
    may_promote = principal.can(Action.ADD, job.tenant_id)
    promote_url = reverse("admin:jobs_discovereddevice_changelist")
    token = get_token(request)

    def device_cell(found):
        if found.device_id:
            return format_html('<a class="promoted" href="{}">{}</a>', device_url(found.device_id), found.device.name)
        if not may_promote:
            return "-"
        return format_html(
            '<form method="post" action="{}" style="display:inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="action" value="promote"><input type="hidden" name="_selected_action" value="{}">'
            '<button type="submit" class="button promote">Promote to device</button></form>', promote_url, token, found.pk)

    body = format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>', [
        (found_url(f.pk), f.ip, f.hostname or "-", ", ".join(map(str, f.open_ports)) or "-", device_cell(f))
        for f in rows])
    more = (format_html('<p>{} hosts found; the first {} are listed. <a href="{}?network__id__exact={}">All '
                        'discovered hosts of this network</a>.</p>', len(hosts), MAX_ROWS, promote_url, job.network_id)
            if len(hosts) > MAX_ROWS else "")
    return format_html(
        '<table id="job-found-hosts"><thead><tr><th>Address</th><th>Host name</th><th>Open ports</th>'
        '<th>Device</th></tr></thead><tbody>{}</tbody></table>{}', body, more)


def value_html(value, depth: int = 0):
    """A JSON value as HTML: objects as key/value tables, lists of objects as tables, lists of
    scalars as a comma list."""
    if isinstance(value, dict):
        if not value:
            return "-"
        return format_html("<table class='job-kv'>{}</table>", format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((k, value_html(v, depth + 1)) for k, v in list(value.items())[:MAX_ROWS])))
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value) and depth < 3:
            columns = list(dict.fromkeys(k for v in value[:MAX_ROWS] for k in v))
            head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
            rows = format_html_join("", "<tr>{}</tr>", ((format_html_join(
                "", "<td>{}</td>", ((value_html(v.get(c, ""), depth + 1),) for c in columns)),) for v in value[:MAX_ROWS]))
            return format_html("<table class='job-rows'><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)
        return ", ".join(str(v) for v in value[:MAX_ROWS]) or "-"
    return "-" if value is None or value == "" else str(value)


def result_html(request, job: Job) -> str:
    result = {k: v for k, v in (job.result or {}).items() if k != "resume"}
    if not result:
        return mark_safe("<p>No result yet.</p>" if not job.is_finished else "<p>No result recorded.</p>")
    if job.kind == JobKind.DISCOVERY_SCAN:
        summary = {k: v for k, v in result.items() if k != "hosts"}
        return format_html("{}<h3>Found hosts</h3>{}", value_html(summary), found_hosts(request, job))
    return value_html(result)


def empty_jobs() -> str:
    return format_html(
        '<div class="empty-state" id="jobs-empty"><p><strong>No jobs yet.</strong> To start a scan, open '
        '<a href="{}">Networks</a>, tick a network (in 127.0.0.0/8, or what <code>JOBS_SCAN_ALLOWED_NETWORKS</code> '
        'allows) and choose the action “Scan network (quick)”. Provisioning and commands start from the '
        '<a href="{}">Devices</a> list; schedules under <a href="{}">Scan schedules</a>.</p></div>',
        reverse("admin:inventory_network_changelist"), reverse("admin:inventory_device_changelist"),
        reverse("admin:jobs_scanschedule_changelist"))


def empty_discovered() -> str:
    return format_html(
        '<div class="empty-state" id="discovered-empty"><p><strong>No discovered hosts yet.</strong> Scan a '
        'network: open <a href="{}">Networks</a>, tick it and choose “Scan network (quick)”. Hosts that answer '
        'appear here, to be promoted to devices.</p></div>', reverse("admin:inventory_network_changelist"))

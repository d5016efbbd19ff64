"""Small HTML pieces shared by the admin lists and pages: links, badges, utilisation bars."""

from __future__ import annotations

from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html, format_html_join

STATUS_COLOURS = {
    # devices
    "active": "#2e7d32", "planned": "#2a6ebb", "offline": "#777", "failed": "#c62828", "decommissioned": "#8d6e63",
    # addresses
    "allocated": "#2e7d32", "reserved": "#ef6c00", "dhcp": "#00838f", "deprecated": "#8d6e63",
}


#: (urlconf, script prefix, model) -> its change page's URL with ``__pk__`` for the id
_CHANGE_URLS: dict[tuple, str] = {}


def change_url(obj) -> str:
    """The admin change page of ``obj``: the URL reversed once per model (and URL configuration
    and script prefix), the id put in as Django's admin quotes it. A list of 50 rows with
    four linked columns would otherwise resolve 200 URLs. NoReverseMatch: no admin for it."""
    from django.contrib.admin.utils import quote

    key = (get_urlconf(), get_script_prefix(), obj._meta.label_lower)
    template = _CHANGE_URLS.get(key)
    if template is None:
        template = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=["__pk__"])
        if len(_CHANGE_URLS) > 1000:  # pragma: no cover - many URL configurations (tests)
            _CHANGE_URLS.clear()
        _CHANGE_URLS[key] = template
    return template.replace("__pk__", quote(str(obj.pk)), 1)


def link(obj, text=None):
    """A link to ``obj``'s admin change page ("-" for None)."""
    if obj is None:
        return "-"
    try:
        url = change_url(obj)
    except NoReverseMatch:  # pragma: no cover - model without an admin
        return str(obj if text is None else text)
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def badge(value: str, label: str):
    return format_html('<span class="badge badge-{}" style="color:#fff;background:{};padding:1px 6px;'
                       'border-radius:8px;white-space:nowrap">{}</span>', value, STATUS_COLOURS.get(value, "#777"), label)


def utilisation_bar(u):
    """``used / size`` with a bar; green below 70 %, orange below 90 %, red above."""
    colour = "#2e7d32" if u.percent < 70 else "#ef6c00" if u.percent < 90 else "#c62828"
    return format_html(
        '<div class="utilisation" title="{} of {} used, {} free" style="white-space:nowrap">'
        '<div style="display:inline-block;width:90px;background:#eee;border-radius:3px;vertical-align:middle">'
        '<div style="width:{}%;min-width:1px;background:{};height:10px;border-radius:3px"></div></div> {}%</div>',
        u.used, u.size, u.free, min(u.percent, 100), colour, u.percent)


def word_list(values):
    """A JSON list of strings (domains) as a list, not as raw JSON."""
    if not values:
        return "-"
    return format_html("<ul style='margin:0;padding-left:1em'>{}</ul>", format_html_join("", "<li>{}</li>", ((v,) for v in values)))


def key_value_table(mapping):
    """A JSON object (facts) as a key/value table."""
    if not mapping:
        return "-"
    if not isinstance(mapping, dict):
        return str(mapping)
    return format_html("<table class='facts'>{}</table>", format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((k, v) for k, v in sorted(mapping.items()))))


def linked(field: str, description: str | None = None, ordering: str | None = "name"):
    """A list column showing the related object ``field`` as a link to its page."""
    from django.contrib import admin

    @admin.display(description=description or field.replace("_", " ").capitalize(),
                   ordering=f"{field}__{ordering}" if ordering else None)
    def column(self, obj):
        return link(getattr(obj, field))

    column.__name__ = f"{field}_link"
    return column

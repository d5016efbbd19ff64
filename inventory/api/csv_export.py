"""``?format=csv`` on every list: the rows the filters select, the columns ``?fields``/``?brief``
pick, streamed in chunks so a large export never sits in memory.

The view checks the query (filters, ordering, fields: a 400 as for JSON) before the first byte;
each chunk is then read and rendered in a worker thread of the pool (:mod:`inventory.runtime.threads`),
with the same serializer and batch loaders as a JSON page, and the bytes go out from the event
loop between chunks.
"""

from __future__ import annotations

import csv
import io
import json

from django.db import close_old_connections
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer, JSONRenderer

from inventory.runtime.threads import run_sync

CHUNK_ROWS = 500
REFERENCE_KEYS = {"id", "url", "display", "name"}
#: a spreadsheet runs a cell starting with these as a formula (CSV injection): such text gets a leading '
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """``text`` as a spreadsheet shows it verbatim: a leading ``'`` before a formula's first character."""
    return "'" + text if text.startswith(FORMULA_START) else text


def unescape_formula(text: str) -> str:
    """The inverse of :func:`escape_formula` (an exported file imports back unchanged)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def cell(value) -> str:
    """One rendered value as CSV text: a nested reference by its name (or display), a list of
    plain values joined by commas, other structures as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if value and set(value) <= REFERENCE_KEYS:  # a reference (or the parts ?fields picked)
            return cell(next(value[k] for k in ("name", "display", "id", "url") if k in value))
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return ",".join(cell(v) for v in value)
        return json.dumps(value, sort_keys=True)
    return escape_formula(value) if isinstance(value, str) else str(value)


def lines(rows, columns) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in columns])
    return out.getvalue()


class CSVRenderer(BaseRenderer):
    """``?format=csv``. Lists are streamed by the view (:func:`stream`); this renders what else
    reaches a renderer: one object as a one-row table, and errors as JSON (with their JSON type)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if (response is not None and response.status_code >= 400) or not isinstance(data, (dict, list)):
            if response is not None:
                response["Content-Type"] = "application/json"
            return JSONRenderer().render(data)
        rows = data.get("results", [data]) if isinstance(data, dict) else data
        columns = list(rows[0]) if rows else []
        return (lines([dict(zip(columns, columns))], columns) + lines(rows, columns)).encode()


def stream(queryset, serializer_class, context: dict, filename: str) -> StreamingHttpResponse:
    """All rows of ``queryset`` (filtered and ordered already) rendered by ``serializer_class``
    with ``context`` (its ``fields`` choose the columns), as a streamed CSV download."""
    columns = list(serializer_class(context=context).fields)
    ordering = list(queryset.query.order_by or queryset.model._meta.ordering or [])
    ordered = queryset.order_by(*ordering, "pk")  # a total order: chunks neither repeat nor skip rows

    def chunk(offset: int) -> str | None:
        try:
            rows = list(ordered[offset:offset + CHUNK_ROWS])
            if not rows:
                return None
            return lines(serializer_class(rows, many=True, context=context).data, columns)
        finally:
            close_old_connections()  # as at the end of a request: the connection goes back

    async def content():
        yield lines([dict(zip(columns, columns))], columns).encode()
        offset = 0
        while True:
            text = await run_sync(chunk, offset)
            if text is None:
                return
            yield text.encode()
            offset += CHUNK_ROWS

    response = StreamingHttpResponse(content(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response

"""The web process's Django handler (inventory.runtime.asgi_handler): one pooled thread per request.

In-process tests drive ``inventory.asgi.application`` with ASGI messages; the live tests go
through a real uvicorn.
"""

import asyncio
import threading

import httpx2 as httpx
import pytest
from django.core import signals

from inventory import runtime
from inventory.asgi import application

#: tests of the handler itself: inventory.asgi chose Django's stock one when FAST_PATHS has it off
threaded = pytest.mark.skipif(not runtime.enabled("threaded_handler"),
                              reason="the threaded handler is off (FAST_PATHS): Django's stock ASGIHandler serves")
from oauth.models import ApiKey


async def asgi_get(path: str, headers=()) -> tuple[int, dict, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    start = sent[0]
    headers = {name.lower(): value for name, value in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def run(*paths: str) -> list[tuple[int, dict, bytes]]:
    """GET each path in turn, in one event loop (as one server process would)."""

    async def main():
        return [await asgi_get(path) for path in paths]

    return asyncio.run(main())


@threaded
def test_requests_run_in_reused_worker_threads_with_start_and_finish_signals():
    seen = []

    def started(**kwargs):
        seen.append(("started", threading.get_ident()))

    def finished(**kwargs):
        seen.append(("finished", threading.get_ident()))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        for status, _headers, body in run("/healthz", "/healthz", "/healthz"):
            assert (status, body) == (200, b'{"status": "ok"}')
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert [kind for kind, _ in seen] == ["started", "finished"] * 3
    threads = {ident for _, ident in seen}
    # each request runs start to finish in one worker thread, and the threads are reused
    assert threading.get_ident() not in threads
    assert len(threads) == 1


@threaded
def test_static_files_are_served_before_the_django_chain():
    seen = []

    def started(**kwargs):
        seen.append(1)

    signals.request_started.connect(started)
    try:
        [(status, headers, body)] = run("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    finally:
        signals.request_started.disconnect(started)
    assert status == 200 and body and b"javascript" in headers[b"content-type"]
    assert seen == []  # answered by ServeStatic on the event loop


def test_unknown_static_file_falls_through_to_django_404():
    [(status, _headers, _body)] = run("/static/no-such-file.js")
    assert status == 404


def test_live_server_serves_static_files_and_the_api(live_server_url, admin_a, tenant_a):
    _key, raw = ApiKey.create(admin_a, "handler test")
    auth = {"authorization": f"Bearer {raw}"}
    with httpx.Client(base_url=live_server_url, timeout=10) as http:
        r = http.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
        assert r.status_code == 200 and len(r.content) > 1000
        assert http.get("/static/no-such-file.js").status_code == 404
        r = http.get("/api/datacenters/")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = http.post("/api/datacenters/", content=b"{not json", headers={**auth, "content-type": "application/json"})
        assert r.status_code == 400
        r = http.post("/api/datacenters/", json={"name": "dc-live", "tenant": tenant_a.pk}, headers=auth)
        assert r.status_code == 201, r.text
        r = http.get("/api/datacenters/", params={"q": "dc-live"}, headers=auth)
        assert [row["name"] for row in r.json()["results"]] == ["dc-live"]

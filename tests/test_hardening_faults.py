"""Issue 24 items 1-4: dependency outages end in clear 503s, nothing is lost or stuck, and
everything recovers without a restart.

Outages are simulated on loopback only: the web process is pointed at a closed local port, and
for the recovery a TCP relay is opened on that port to the machine's real PostgreSQL or Redis.
The shared servers themselves are never stopped."""

from __future__ import annotations

import asyncio
import threading
import time
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from tests.servers import UvicornServer, free_port
from tests.test_jobs_support import make_network, one_worker, wait_for, wait_job  # noqa: F401
from tests.test_mcp_support import api_key, mcp_client, run

pytestmark = pytest.mark.django_db(transaction=True)


class Relay:
    """A TCP relay from ``127.0.0.1:port`` to ``target`` (host, port), in a thread."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self.writers: set = set()
        self.tasks: set = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)

    async def _start(self):
        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        async def handle(reader, writer):
            self.tasks.add(asyncio.current_task())
            self.writers.add(writer)
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
                self.writers.add(up_writer)
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            except OSError:
                writer.close()
            except asyncio.CancelledError:
                pass  # close(): the relay stops

        return await asyncio.start_server(handle, "127.0.0.1", self.port, reuse_address=True)

    def close(self):
        async def stop():
            self.server.close()
            # abort, not close: close() waits to flush what a peer that reads no more is owed (it
            # hung CI once); and a connection still opening upstream is ended by cancelling its task
            for writer in self.writers:
                writer.transport.abort()
            for task in self.tasks:
                task.cancel()
            await asyncio.wait(list(self.tasks), timeout=5)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _get(url, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx.request(kwargs.pop("method", "GET"), f"{url}{path}", headers=headers, timeout=30, **kwargs)


def _register(url):
    return httpx.post(f"{url}/oauth/register/", json={"client_name": "outage test", "redirect_uris": ["http://127.0.0.1:9/cb"],
                                                      "token_endpoint_auth_method": "none"}, timeout=30)


# --- item 1 (+3): the broker is down -----------------------------------------------------
def test_broker_down_scan_is_a_503_and_the_outbox_sends_it_later(tenant_a, operator_a, one_worker):
    from inventory.jobs import tasks
    from inventory.jobs.models import Job

    network = make_network(tenant_a, "127.77.0.0/30", "outbox")
    token = api_key(operator_a)
    closed = free_port()
    with UvicornServer(env={"CELERY_BROKER_URL": f"redis://127.0.0.1:{closed}/0"}) as server:
        started = time.monotonic()
        resp = _get(server.url, "/api/jobs/scan/", token, method="POST", json={"network": network.pk, "ports": [closed]})
        assert resp.status_code == 503, resp.text
        assert time.monotonic() - started < 5
        assert resp.headers["Retry-After"]
        job = Job.objects.get()
        assert f"#{job.pk}" in resp.json()["detail"] and "job queue" in resp.json()["detail"]
        assert (job.status, job.sent) == ("queued", None)  # in the outbox, not an orphan
        assert "outbox" in job.log_lines.last().message

        # MCP says the same, as a tool error naming the outage
        async def body():
            async with mcp_client(server.url, token) as client:
                result = await client.call_tool("discovery_scan", {"network_id": network.pk, "ports": [closed]})
                assert result.is_error and result.structured_content["error"]["code"] == "UNAVAILABLE"
        run(body)

        # readiness names the broker; liveness is unaffected
        ready = _get(server.url, "/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"]
        checks = ready.json()["checks"]
        assert checks["broker"]["status"] == "error"
        assert checks["database"]["status"] == checks["migrations"]["status"] == checks["cache"]["status"] == "ok"
        assert _get(server.url, "/healthz").status_code == 200

    # the broker is back (this process's producer reaches the worker's broker): the outbox sends
    assert Job.objects.filter(sent__isnull=True).count() == 2
    assert tasks.send_unsent(min_age=0) == 2
    for job in Job.objects.all():
        done = wait_job(job.pk, worker=one_worker)
        assert done.status == "succeeded", done.error
        assert done.sent is not None
    assert tasks.send_unsent(min_age=0) == 0


def test_outbox_is_sent_by_beat_and_at_worker_start():
    from inventory.jobs import tasks
    from inventory.jobs.conf import CELERY_BEAT_SCHEDULE

    assert any(entry["task"] == "jobs.send_unsent" for entry in CELERY_BEAT_SCHEDULE.values())
    from celery.signals import worker_ready

    assert any(getattr(r[1], "__name__", "") == "_send_outbox_on_worker_start" or
               "send_outbox" in repr(r[1]) for r in worker_ready.receivers)
    assert tasks.send_unsent.name == "jobs.send_unsent"


def test_ready_when_everything_answers(live_server_url):
    resp = _get(live_server_url, "/readyz")
    assert resp.status_code == 200, resp.text
    assert {name: check["status"] for name, check in resp.json()["checks"].items()} == {
        "database": "ok", "migrations": "ok", "cache": "ok", "broker": "ok"}


def test_readyz_reports_unapplied_migrations(db, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    from inventory import health

    monkeypatch.setattr(health, "_migrations_ok_until", 0.0)
    real = MigrationExecutor.migration_plan

    def plan_with_one_pending(self, targets, clean_start=False):
        migration = self.loader.graph.nodes[("jobs", "0001_initial")]
        return [*real(self, targets, clean_start), (migration, False)]

    monkeypatch.setattr(MigrationExecutor, "migration_plan", plan_with_one_pending)
    ready, checks = health.readiness()
    assert not ready and checks["migrations"]["status"] == "error" and "jobs.0001_initial" in checks["migrations"]["pending"]


# --- items 2-4: Redis is down ------------------------------------------------------------
def test_redis_down_web_starts_degraded_and_recovers(make_user, tenant_a):
    from django.conf import settings

    user = make_user("redis_down", {tenant_a: "admin"})
    token = api_key(user)
    closed = free_port()
    db_index = urlsplit(settings.REDIS_URL).path.strip("/") or "0" if settings.REDIS_URL else "0"
    with UvicornServer(env={"REDIS_URL": f"redis://127.0.0.1:{closed}/{db_index}", "CELERY_BROKER_URL": ""}) as server:
        # started at all (item 4); REST, admin and stateless MCP work
        assert _get(server.url, "/healthz").status_code == 200
        resp = _get(server.url, "/api/devices/", token)
        assert resp.status_code == 200, resp.text
        assert _get(server.url, "/admin/login/").status_code == 200

        async def body():
            async with mcp_client(server.url, token) as client:
                assert any(t.name == "device_list" for t in (await client.list_tools()).tools)
        run(body)
        # the legacy SSE relay says it is unavailable
        sse = _get(server.url, "/mcp/sse", token)
        assert sse.status_code == 503 and "Redis" in sse.json()["error_description"]
        # registration's rate limiter needs the cache: 503 JSON, not a 500 (item 2)
        started = time.monotonic()
        resp = _register(server.url)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"] == "temporarily_unavailable" and resp.headers["Retry-After"]
        assert time.monotonic() - started < 5
        ready = _get(server.url, "/readyz").json()["checks"]
        assert ready["cache"]["status"] == "error" and ready["database"]["status"] == "ok"

        if not settings.REDIS_URL:
            return  # no Redis on this machine to come back
        target = urlsplit(settings.REDIS_URL)
        relay = Relay(closed, (target.hostname, target.port or 6379))
        try:
            wait_for(lambda: _register(server.url).status_code == 201, 20, 0.5, "registration after Redis returned")
            wait_for(lambda: _get(server.url, "/readyz").status_code == 200, 20, 0.5, "readiness after Redis returned")

            def sse_opens():
                with httpx.stream("GET", f"{server.url}/mcp/sse", headers={"Authorization": f"Bearer {token}"},
                                  timeout=10) as stream:
                    return stream.status_code == 200

            wait_for(sse_opens, 20, 0.5, "the SSE relay after Redis returned")
        finally:
            relay.close()


# --- item 2: PostgreSQL is down ----------------------------------------------------------
def test_database_down_answers_503_everywhere_and_recovers(make_user, tenant_a):
    from django.db import connection

    user = make_user("db_down", {tenant_a: "admin"})
    token = api_key(user)
    closed = free_port()
    name = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else "inventory_absent"
    env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed}/{name}"}
    with UvicornServer(env=env) as server:
        assert _get(server.url, "/healthz").status_code == 200  # liveness only
        for path, kind in (("/api/devices/", "json"), ("/admin/", "html"),
                           ("/oauth/register/", "oauth"), ("/api/schema/", "json")):
            started = time.monotonic()
            if path == "/oauth/register/":
                resp = _register(server.url)
            elif kind == "html":  # a session to look up: the admin needs the database
                resp = _get(server.url, path, headers={"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"})
            else:
                resp = _get(server.url, path, token)
            elapsed = time.monotonic() - started
            assert resp.status_code == 503, (path, resp.status_code, resp.text[:300])
            assert resp.headers["Retry-After"] and elapsed < 8, (path, elapsed)
            if kind == "json":
                assert resp.json()["dependency"] == "database"
            elif kind == "oauth":
                assert resp.json()["error"] == "temporarily_unavailable"
            else:
                assert "unavailable" in resp.text.lower()
        # /mcp: a JSON-RPC error, 503 with Retry-After
        resp = httpx.post(f"{server.url}/mcp", headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                                                       "Content-Type": "application/json"},
                          json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
        assert resp.status_code == 503 and resp.headers["Retry-After"], resp.text
        assert resp.json()["error"]["code"] == -32001 and "database" in resp.json()["error"]["message"].lower()
        ready = _get(server.url, "/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] == "error"

        if connection.vendor != "postgresql":
            return  # nothing to come back on SQLite
        relay = Relay(closed, (connection.settings_dict["HOST"] or "127.0.0.1", int(connection.settings_dict["PORT"] or 5432)))
        try:
            wait_for(lambda: _get(server.url, "/api/devices/", token).status_code == 200, 30, 0.5,
                     "REST after PostgreSQL returned")
            wait_for(lambda: _get(server.url, "/readyz").status_code == 200, 30, 0.5, "readiness")

            async def body():
                async with mcp_client(server.url, token) as client:
                    assert (await client.list_tools()).tools
            run(body)
        finally:
            relay.close()


def test_outage_classification():
    from django.db import DataError, IntegrityError, OperationalError
    from kombu.exceptions import OperationalError as KombuError
    from redis.exceptions import ConnectionError as RedisConnectionError

    from inventory.outages import unavailable

    assert unavailable(OperationalError("connection refused")) == "database"
    assert unavailable(RedisConnectionError("refused")) == "cache"
    assert unavailable(KombuError("refused")) == "broker"
    assert unavailable(IntegrityError("dup")) is None and unavailable(DataError("range")) is None
    assert unavailable(ValueError("x")) is None
    try:
        try:
            raise RedisConnectionError("refused")
        except RedisConnectionError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        assert unavailable(exc) == "cache"


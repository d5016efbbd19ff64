"""Live progress of job tools over MCP: a real scan of a loopback network on a real Celery worker,
followed with the official SDK client's progress callback (both protocol eras), and job_get wait."""

from __future__ import annotations

import pytest

from tests.servers import UvicornServer
from tests.test_jobs_support import Listeners, free_port_on, make_network, wait_job, worker  # noqa: F401
from tests.test_mcp_support import api_key, call, mcp_client, run

pytestmark = pytest.mark.django_db(transaction=True)

HOSTS = ["127.78.0.2", "127.78.0.5"]


def same_broker(worker) -> dict:
    """The server sends jobs where the worker listens (no REDIS_URL: the embedded broker)."""
    return {"REDIS_URL": ""} if worker.broker == "filesystem" else {}


@pytest.fixture(scope="module")
def listeners():
    ports = [free_port_on(HOSTS) for _ in range(2)]
    lst = Listeners()
    lst.add(HOSTS[0], ports[0])
    lst.add(HOSTS[1], ports[1])
    lst.ports = ports
    yield lst
    lst.close()


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
def test_scan_with_progress_callback_then_final_result(worker, listeners, tenant_a, operator_a, mode):
    network = make_network(tenant_a, subnet="127.78.0.0/28", name="progress")
    key = api_key(operator_a)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async def body(url):
        async with mcp_client(url, key, mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert tools["discovery_scan"].input_schema["properties"]["wait"]["maximum"] == 120
            result = await client.call_tool("discovery_scan", {"network_id": network.pk, "ports": listeners.ports,
                                                               "wait": 60}, progress_callback=on_progress)
            return result.structured_content, result.is_error

    with UvicornServer(workers=1, env=same_broker(worker)) as server:
        out, err = run(body, server.url)
    assert not err, out
    assert out["status"] == "succeeded" and out["job"]["status"] == "succeeded", (out, worker.output())
    assert out["job"]["result"]["hosts_found"] == 2 and out["job"]["progress"] == 100
    assert seen, "no progress notification arrived"
    progress = [p for p, _t, _m in seen]
    assert progress == sorted(set(progress)), seen  # strictly increasing
    assert progress[-1] == 100 and all(t == 100 for _p, t, _m in seen)
    assert all(isinstance(m, str) and m for _p, _t, m in seen)


def test_without_progress_token_answers_at_once_and_job_get_waits(worker, listeners, tenant_a, operator_a,
                                                                     operator_b):
    network = make_network(tenant_a, subnet="127.78.0.0/28", name="nowait")
    key, key_b = api_key(operator_a), api_key(operator_b)

    async def start(url):
        async with mcp_client(url, key) as client:
            return await call(client, "discovery_scan", {"network_id": network.pk, "ports": listeners.ports})

    async def get(url, job_id, wait, who=key):
        async with mcp_client(url, who) as client:
            return await call(client, "job_get", {"id": job_id, "wait": wait})

    with UvicornServer(workers=1, env=same_broker(worker)) as server:
        out, err = run(start, server.url)
        assert not err and out["status"] == "queued" and "job" not in out, out  # today's answer: the id at once
        job = out["job_id"]
        got, err = run(get, server.url, job, 60)
        assert not err and got["status"] in ("running", "succeeded"), got  # returned once the status changed
        wait_job(job, worker=worker)
        got, err = run(get, server.url, str(job), 1)  # a numeric-string id; nothing changes any more
        assert not err and got["status"] == "succeeded" and got["result"]["hosts_found"] == 2
        # bounds and tenancy
        got, err = run(get, server.url, job, 121)
        assert err and got["error"]["code"] == "INVALID_PARAMS" and "120" in str(got["error"]["details"]["wait"])
        got, err = run(get, server.url, job, 5, key_b)
        assert err and got["error"]["code"] == "NOT_FOUND"

"""MCP gateway benchmark: tool calls over Streamable HTTP (2026-07-28, one POST per call) with an
OAuth bearer and audit on, against the REST device list from the same run.

    DATABASE_URL=postgres://... python benchmarks/mcp_bench.py [--requests 200] [--workers 2]

Scenarios: device_list (limit 50), device_get, search, pool_get_next_ip, each at concurrency 1
and 8, plus REST GET /api/devices/?limit=50 at the same concurrencies. Targets (issue #5):
device_list p50 within 1.2x the REST list's p50 (issue #18: a ratio from the same run); the p99 at
concurrency 8 is reported (50 ms was the absolute target of issue #5).

From benchmarks/run.py: ``from benchmarks.mcp_bench import run_mcp_benchmarks`` and call it with the
server URL-less defaults (it starts its own uvicorn) or ``main()``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory.settings")

from benchmarks.cpu import CpuMeter  # noqa: E402

TARGET_RATIO = 1.2  # issue 18: MCP/REST <= 1.2 at c1 and c8, measured in the same run
TARGET_P99_MS = 50.0
#: requests per scenario at concurrency 8, where the p99 is checked: from 200 samples a p99 is the
#: second-slowest request, one hiccup of the host; from 1000 it is the tenth
TAIL_REQUESTS = 1000


def _setup(public_url: str, devices: int) -> dict:
    """Demo data, a bench user (tenant admin), OAuth tokens bound to /mcp and /api, a pool to allocate from."""
    import secrets
    from datetime import timedelta

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    from inventory.models import Device, IPPool, Membership, Network, Tenant

    if not Device.objects.exists():
        call_command("seed_demo", "--devices", str(devices))
    tenant = Tenant.objects.order_by("id").first()
    user, _ = get_user_model().objects.get_or_create(username="mcp-bench")
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": "admin"})
    app, _ = get_application_model().objects.get_or_create(
        name="mcp-bench", defaults=dict(client_type="public", authorization_grant_type="authorization-code",
                                        redirect_uris="http://127.0.0.1:9/cb", user=user))
    tokens = {}
    for kind in ("mcp", "api"):
        raw = secrets.token_urlsafe(32)
        get_access_token_model().objects.create(
            user=user, application=app, token=raw, scope="inventory:read inventory:write inventory:delete tenant:*",
            expires=timezone.now() + timedelta(hours=2), resource=[f"{public_url}/{kind}"])
        tokens[kind] = raw
    Network.objects.filter(tenant=tenant, name="mcp-bench").delete()
    net = Network.objects.create(tenant=tenant, name="mcp-bench", subnet="127.250.0.0/16")
    pool = IPPool.objects.create(network=net, name="bench", start_address="127.250.0.1", end_address="127.250.255.254")
    device = Device.objects.restrict(user).order_by("id").first()
    return {"tokens": tokens, "pool_id": pool.pk, "device_id": device.pk, "network_id": net.pk}


def _cleanup(network_id: int) -> None:
    from inventory.models import Network

    Network.objects.filter(pk=network_id).delete()


def _percentiles(samples: list[float]) -> dict:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 2), "p95_ms": round(q[94], 2),
            "p99_ms": round(q[98], 2), "max_ms": round(samples[-1], 2)}


async def _measure(url: str, make_request, requests: int, concurrency: int, server_pid: int | None = None) -> dict:
    from benchmarks.client import Pool

    samples: list[float] = []
    errors = 0
    queue = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(http):
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            start = time.perf_counter()
            ok = await make_request(http, i)
            samples.append((time.perf_counter() - start) * 1000)
            errors += 0 if ok else 1

    async with Pool(url, concurrency) as http:
        # warm-up: each worker's imports, pooled connections and caches, at this concurrency
        await asyncio.gather(*(make_request(http, -1 - i) for i in range(max(20, 4 * concurrency))))
        with CpuMeter(server_pid or os.getpid()) as cpu:
            await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return {**_percentiles(samples), **cpu.per_request(len(samples)), "errors": errors}


def _mcp_request(url: str, token: str, tool: str, args_for):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": tool}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}

    async def request(http, i):
        body = {"jsonrpc": "2.0", "id": i + 2, "method": "tools/call",
                "params": {"name": tool, "arguments": args_for(i), "_meta": meta}}
        r = await http.post("/mcp", headers, content=json.dumps(body).encode())
        return r.status_code == 200 and not r.json().get("result", {}).get("isError", True)

    return request


def _rest_request(url: str, token: str, path: str):
    headers = {"Authorization": f"Bearer {token}"}

    async def request(http, i):
        r = await http.get(path, headers)
        return r.status_code == 200

    return request


def run_mcp_benchmarks(requests: int = 200, workers: int = 2, devices: int = 1000,
                       only: tuple[str, ...] = (), concurrencies: tuple[int, ...] = (1, 8)) -> dict:
    from tests.servers import UvicornServer, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ["PUBLIC_URL"] = url
    data = _setup(url, devices)
    tokens = data["tokens"]
    scenarios = {
        "rest_device_list": _rest_request(url, tokens["api"], "/api/devices/?limit=50"),
        "device_list": _mcp_request(url, tokens["mcp"], "device_list", lambda i: {"limit": 50}),
        "device_get": _mcp_request(url, tokens["mcp"], "device_get", lambda i: {"id": data["device_id"]}),
        "search": _mcp_request(url, tokens["mcp"], "search", lambda i: {"query": "web"}),
        "pool_get_next_ip": _mcp_request(url, tokens["mcp"], "pool_get_next_ip", lambda i: {"pool_id": data["pool_id"]}),
    }
    if only:
        scenarios = {name: request for name, request in scenarios.items() if name in only}
    results: dict = {}
    env = {"PUBLIC_URL": url}
    try:
        with UvicornServer(workers=workers, port=port, env=env) as server:
            for concurrency in concurrencies:
                for name, request in scenarios.items():
                    results[f"{name}@c{concurrency}"] = asyncio.run(_measure(
                        url, request, max(requests, TAIL_REQUESTS) if concurrency == 8 else requests, concurrency,
                        server.proc.pid))
    finally:
        _cleanup(data["network_id"])
    checks = {}
    for c in concurrencies:
        if f"rest_device_list@c{c}" not in results or f"device_list@c{c}" not in results:
            continue
        rest, mcp = results[f"rest_device_list@c{c}"], results[f"device_list@c{c}"]
        checks[f"device_list_p50_ratio@c{c}"] = {
            "value": round(mcp["p50_ms"] / rest["p50_ms"], 2), "target": f"<= {TARGET_RATIO}",
            "ok": mcp["p50_ms"] <= TARGET_RATIO * rest["p50_ms"]}
    for name in ("device_list", "device_get", "search", "pool_get_next_ip"):
        if f"{name}@c8" not in results:
            continue
        p99 = results[f"{name}@c8"]["p99_ms"]
        # absolute milliseconds swing with the host's load: reported, not checked
        checks[f"{name}_p99@c8"] = {"value": p99, "target": f"<= {TARGET_P99_MS} ms (absolute: informative)", "ok": True}
    return {"results": results, "checks": checks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200,
                        help=f"requests per scenario at concurrency 1 (at 8: at least {TAIL_REQUESTS})")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--devices", type=int, default=1000, help="demo devices to seed into an empty database")
    parser.add_argument("--only", nargs="+", default=(), metavar="SCENARIO",
                        help="run only these scenarios (rest_device_list, device_list, device_get, search, "
                             "pool_get_next_ip); targets are checked for what ran")
    parser.add_argument("--concurrency", type=int, nargs="+", default=(1, 8), help="concurrencies to run")
    args = parser.parse_args(argv)
    report = run_mcp_benchmarks(args.requests, args.workers, args.devices, tuple(args.only), tuple(args.concurrency))
    print(json.dumps(report, indent=2))
    return 0 if all(c["ok"] for c in report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

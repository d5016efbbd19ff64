"""REST benchmark: 100k devices, a /16 with 60k allocated addresses, measured over real HTTP.

    DATABASE_URL=postgres://... REDIS_URL=redis://... make bench   # or: python benchmarks/run.py

Steps: (1) make sure the PostgreSQL database exists and is migrated; (2) seed it once with
bulk inserts (3 tenants, 100k devices with tags and derived search text, a /16 with 60k
allocated addresses; ``--reseed`` starts over); (3) start uvicorn ``--workers 2`` on it;
(4) run each named scenario at concurrency 1 (latency) and 4 (throughput), with an API key,
from a lean keep-alive client (``benchmarks/client.py``: the client shares the 2 cores);
(5) print a JSON report with p50/p95/p99, req/s, CPU per request on the server (all uvicorn
processes) and in this client, and the target checks. The MCP scenarios of
``benchmarks/mcp_bench.py`` run afterwards unless ``--no-mcp``; (6) the knock-out table
(``benchmarks/knockout.py``: each speed-layer mechanism off alone, ``--knockout-rounds 0`` skips it).

The targets are ratios measured in the same run (absolute milliseconds swing by 1.5x between runs
on a shared host; they are reported, not checked): each endpoint against its raw twin
(``benchmarks/twin.py``: the SQL the endpoint ran, recorded from a warm request, run through
psycopg and JSON-encoded by the same uvicorn workers) and against ``/healthz``; allocation against
the preview; MCP against REST (``RATIO_TARGETS``, ``mcp_bench.TARGET_RATIO``). The RATIO_TARGETS
are judged on their two figures measured once more side by side, requests alternating (report key
``paired``).

The database is ``BENCH_DATABASE_URL``, else ``DATABASE_URL`` with its name replaced by
``inv_bench`` (the benchmark never writes into a working database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cpu import CpuMeter  # noqa: E402

DEVICES = 100_000
TENANTS = 3
ALLOCATED = 60_000
NEEDLE = "zebracorn"  # in the description of exactly NEEDLE_COUNT devices
NEEDLE_COUNT = 10
BENCH_NETWORK = "bench-16"
TARGETS = {  # scenario -> (statistic, limit in ms) at concurrency 1: reported, not checked (see RATIO_TARGETS)
    "device_list_full": ("p50_ms", 20.0),
    "search": ("p95_ms", 30.0),
    "next_ip_preview": ("p50_ms", 5.0),
    "next_ip_allocate": ("p50_ms", 5.0),
}


# --- database -----------------------------------------------------------------------------
def bench_database_url() -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/inventory")
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: set DATABASE_URL or BENCH_DATABASE_URL to postgres://...")
    return urlunsplit(parts._replace(path="/inv_bench"))


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres")).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory.settings")
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    for name in ("httpx", "httpx2", "httpcore"):  # one INFO line per request would perturb the client
        logging.getLogger(name).setLevel(logging.WARNING)
    call_command("migrate", verbosity=0, interactive=False)


# --- seeding ------------------------------------------------------------------------------
MAKES = ["Dell R640", "Dell R750", "HPE DL380", "Supermicro X11", "Lenovo SR650", "Cisco C220", "Juniper EX4300"]
OSES = ["Ubuntu 24.04", "Debian 13", "RHEL 9", "Rocky 9", "Windows Server 2022", "Junos 23", "FreeBSD 14"]
TAGS = ["web", "db", "cache", "prod", "staging", "edge", "backup", "k8s"]


def seed(reseed: bool = False) -> dict:
    """Bulk-insert the data set once (derived columns computed here); return ids the scenarios use."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from inventory import ipam
    from inventory.runtime.counting import bump_counts
    from inventory.models import Device, IPAddress, IPPool, Membership, Network, Tag, Tenant

    if reseed:
        Tenant.objects.filter(name__startswith="bench-").delete()
    tenants = list(Tenant.objects.filter(name__startswith="bench-").order_by("id"))
    started = time.perf_counter()
    if len(tenants) != TENANTS or Device.objects.filter(tenant__in=tenants).count() != DEVICES:
        Tenant.objects.filter(name__startswith="bench-").delete()
        rnd = random.Random(42)
        with transaction.atomic():
            tenants = [Tenant.objects.create(name=f"bench-{i + 1}") for i in range(TENANTS)]
            tags = {t.pk: [Tag.objects.create(tenant=t, name=n) for n in TAGS] for t in tenants}
            network = Network.objects.create(tenant=tenants[0], name=BENCH_NETWORK, subnet="127.20.0.0/16")
            IPPool.objects.create(network=network, name="bench-pool", start_address="127.20.0.1",
                                  end_address="127.20.255.254")
            needles = set(rnd.sample(range(DEVICES), NEEDLE_COUNT))
            first_net = ipam.parse_network(network.subnet)
            devices, device_tags = [], []
            for i in range(DEVICES):
                tenant = tenants[i % TENANTS]
                chosen = rnd.sample(tags[tenant.pk], 2)
                address = None
                if tenant == tenants[0] and i // TENANTS < ALLOCATED // 2:
                    address = str(first_net.network_address + 1 + i // TENANTS)
                device = Device(
                    tenant=tenant, name=f"srv-{i:06d}", make_model=rnd.choice(MAKES), os=rnd.choice(OSES),
                    description=f"{NEEDLE} test box" if i in needles else "rack server",
                    status=rnd.choice(["active", "active", "planned", "offline"]),
                    location=f"rack {rnd.randint(1, 400)}", domains=["example.com"],
                )
                device.search_text = device.build_search_text([t.name for t in chosen], [address] if address else [])
                devices.append(device)
                device_tags.append((chosen, address))
            Device.objects.bulk_create(devices, batch_size=5000)
            through = Device.tags.through
            through.objects.bulk_create(
                [through(device_id=d.pk, tag_id=t.pk) for d, (chosen, _a) in zip(devices, device_tags) for t in chosen],
                batch_size=10000,
            )
            # 60k allocated addresses from the start of the /16: half on tenant-1 devices, half free-standing
            holders = [d for d, (_c, a) in zip(devices, device_tags) if a]
            rows = []
            for n in range(ALLOCATED):
                ip = first_net.network_address + 1 + n
                rows.append(IPAddress(
                    tenant_id=network.tenant_id, network=network, address=str(ip), address_key=ipam.key(ip),
                    device=holders[n] if n < len(holders) else None, status="allocated",
                ))
            IPAddress.objects.bulk_create(rows, batch_size=5000)
            bump_counts(Device, IPAddress)  # bulk_create sends no signals
        with connection.cursor() as cursor:  # statistics and visibility map, as autovacuum would
            for table in ("inventory_device", "inventory_device_tags", "inventory_ipaddress", "inventory_tag"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    seconds = round(time.perf_counter() - started, 1)

    user, _ = get_user_model().objects.get_or_create(username="bench")
    for tenant in tenants:
        Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": "admin"})
    network = Network.objects.get(tenant=tenants[0], name=BENCH_NETWORK)
    reset_allocations(network.pk)
    return {
        "tenants": [t.pk for t in tenants], "network_id": network.pk,
        "device_ids": list(Device.objects.filter(tenant__in=tenants).order_by("?").values_list("id", flat=True)[:200]),
        "seed_seconds": seconds,
    }


def reset_allocations(network_id: int) -> None:
    """Remove the addresses allocated by earlier measurements from the bench /16 (so the pool never
    fills) and reset its hint (the next search starts cold)."""
    from inventory import ipam
    from inventory.models import IPAddress, Network

    network = Network.objects.get(pk=network_id)
    first = int(ipam.parse_network(network.subnet).network_address)
    IPAddress.objects.filter(network=network, address_key__gt=ipam.key(first + ALLOCATED)).delete()
    Network.objects.filter(pk=network.pk).update(alloc_hint="")


def api_key() -> str:
    from django.contrib.auth import get_user_model

    from oauth.models import ApiKey

    user = get_user_model().objects.get(username="bench")
    ApiKey.objects.filter(user=user, name="bench").delete()
    _key, raw = ApiKey.create(user, "bench")
    return raw


# --- measuring ----------------------------------------------------------------------------
@dataclass
class Scenario:
    """A named request: ``method`` + ``path(i)`` (+ ``body(i)``); ``ok`` checks the status code."""

    name: str
    path: Callable[[int], str]
    method: str = "GET"
    body: Callable[[int], dict] | None = None
    ok: tuple[int, ...] = (200,)
    requests: int = 200
    concurrency: tuple[int, ...] = field(default=(1, 4))


def percentiles(samples: list[float]) -> dict:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 2), "p95_ms": round(q[94], 2),
            "p99_ms": round(q[98], 2), "max_ms": round(samples[-1], 2)}


async def measure(url: str, headers: dict, scenario: Scenario, concurrency: int, server_pid: int | None = None) -> dict:
    from benchmarks.client import Pool

    samples: list[float] = []
    errors: list[str] = []
    counter = iter(range(scenario.requests))

    async def one(http, i):
        kwargs = {"json": scenario.body(i)} if scenario.body else {}
        start = time.perf_counter()
        r = await http.request(scenario.method, scenario.path(i), headers, **kwargs)
        elapsed = (time.perf_counter() - start) * 1000
        if r.status_code not in scenario.ok:
            errors.append(f"{r.status_code} {r.text[:200]}")
        return elapsed

    async def worker(http):
        for i in counter:
            samples.append(await one(http, i))

    async with Pool(url, concurrency) as http:
        # warm-up: each worker's imports, pooled connections and caches, at this concurrency
        await asyncio.gather(*(one(http, -1 - i) for i in range(max(20, 4 * concurrency))))
        with CpuMeter(server_pid or os.getpid()) as cpu:
            started = time.perf_counter()
            await asyncio.gather(*(worker(http) for _ in range(concurrency)))
            wall = time.perf_counter() - started
    return {**percentiles(samples), "req_per_s": round(len(samples) / wall, 1), **cpu.per_request(len(samples)),
            "errors": len(errors), "first_error": errors[0] if errors else None}


def scenarios(data: dict) -> list[Scenario]:
    ids = data["device_ids"]
    net = data["network_id"]
    return [
        # the floor: a trivial Django view (no auth, no query); on a shared host its CPU per request
        # shows how fast the machine is right now, to compare runs
        Scenario("healthz", lambda i: "/healthz", concurrency=(1,)),
        Scenario("device_list_full", lambda i: f"/api/devices/?limit=50&offset={(i % 20) * 50}"),
        Scenario("device_list_brief", lambda i: f"/api/devices/?limit=50&brief=1&offset={(i % 20) * 50}"),
        Scenario("device_detail", lambda i: f"/api/devices/{ids[i % len(ids)]}/"),
        Scenario("search", lambda i: f"/api/search/?q={NEEDLE}"),
        Scenario("next_ip_preview", lambda i: f"/api/networks/{net}/next-ip/"),
        Scenario("next_ip_allocate", lambda i: f"/api/networks/{net}/next-ip/", method="POST",
                 body=lambda i: {"description": "bench"}, ok=(201,)),
    ]


def cold_next_ip(url: str, headers: dict, network_id: int) -> float:
    """One preview with the hint reset: the gap search walks the whole 60k fill once."""
    import httpx2 as httpx

    start = time.perf_counter()
    r = httpx.get(f"{url}/api/networks/{network_id}/next-ip/", headers=headers, timeout=30)
    r.raise_for_status()
    return round((time.perf_counter() - start) * 1000, 2)


# --- raw twins ----------------------------------------------------------------------------
#: scenario -> variants recorded (its path(i) for i below this; the twin cycles through them)
TWINS = {"device_list_full": 20, "device_detail": 20, "search": 1, "next_ip_preview": 1}


def record_twins(data: dict, headers: dict, path: Path) -> None:
    """Record the SQL (SELECTs, parameters included) each twinned endpoint runs on a warm request,
    for benchmarks/twin.py; the file is ``path``."""
    import pickle

    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=headers["Authorization"])
    by_name = {s.name: s for s in scenarios(data)}
    recorded: dict = {}
    for name, variants in TWINS.items():
        recorded[name] = []
        for i in range(variants):
            url = by_name[name].path(i)
            client.get(url)  # warm: cached counts and credentials, as the server's steady state
            statements: list = []

            def record(execute, sql, params, many, context):
                if sql.lstrip().upper().startswith(("SELECT", "WITH", "(SELECT")):  # reads only
                    statements.append((sql, params))
                return execute(sql, params, many, context)

            with connection.execute_wrapper(record):
                response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"recording {url}: {response.status_code} {response.content[:200]!r}")
            recorded[name].append(statements)
    with open(path, "wb") as fh:
        pickle.dump(recorded, fh)


def twin_scenarios() -> list[Scenario]:
    return [Scenario(f"raw_{name}", (lambda n: lambda i: f"/raw/{n}/{i % TWINS[n]}")(name)) for name in TWINS]


def ratio(results: dict, top: str, bottom: str, stat: str = "p50_ms") -> float | None:
    if top not in results or bottom not in results or not results[bottom][stat]:
        return None
    return round(results[top][stat] / results[bottom][stat], 2)


#: the issue's targets, as ratios measured in the same run (p50 at concurrency 1 unless named)
RATIO_TARGETS = {  # name -> (numerator, denominator, limit)
    "device_list_vs_raw_twin": ("device_list_full@c1", "raw_device_list_full@c1", 4.0),
    "search_vs_raw_twin": ("search@c1", "raw_search@c1", 4.0),
    "next_ip_preview_vs_raw_twin": ("next_ip_preview@c1", "raw_next_ip_preview@c1", 3.0),
    "allocation_vs_preview": ("next_ip_allocate@c1", "next_ip_preview@c1", 2.0),
}


def measure_paired(url: str, headers: dict, data: dict, requests: int) -> dict:
    """Each pair of RATIO_TARGETS measured again with its two requests alternating on one
    connection (``knockout.measure_pair``), so that a slow spell of the shared host falls on both:
    the figures of separate runs of the two scenarios, minutes apart, moved a ratio by 25%."""
    from benchmarks.knockout import measure_pair

    by_name = {s.name: s for s in [*scenarios(data), *twin_scenarios()]}
    paired = {}
    for name, (top, bottom, _limit) in RATIO_TARGETS.items():
        (figure, concurrency), (floor, _) = top.split("@c"), bottom.split("@c")
        top_ms, bottom_ms, errors = asyncio.run(
            measure_pair(url, by_name[figure], by_name[floor], headers, int(concurrency), requests))
        paired[name] = {"figure_p50_ms": round(top_ms, 2), "floor_p50_ms": round(bottom_ms, 2),
                        "ratio": round(top_ms / bottom_ms, 2), "errors": errors}
    reset_allocations(data["network_id"])
    return paired


def ratio_checks(results: dict, paired: dict | None = None) -> dict:
    """The RATIO_TARGETS checks: on the paired figures where measured (``measure_paired``), with
    the ratio of the separate runs beside them."""
    checks = {}
    for name, (top, bottom, limit) in RATIO_TARGETS.items():
        value = ratio(results, top, bottom)
        if paired and name in paired:
            checks[name] = {"value": paired[name]["ratio"], "unpaired": value, "target": f"<= {limit} (paired)",
                            "ok": paired[name]["ratio"] <= limit and not paired[name]["errors"]}
            continue
        checks[name] = {"value": value, "target": f"<= {limit}", "ok": value is not None and value <= limit}
    for name in ("device_list_full", "device_detail", "search", "next_ip_preview", "next_ip_allocate"):
        value = ratio(results, f"{name}@c1", "healthz@c1")
        if value is not None:
            checks[f"{name}_vs_healthz"] = {"value": value, "target": "(floor: /healthz of the same server)", "ok": True}
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reseed", action="store_true", help="drop and re-create the benchmark data")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-mcp", action="store_true", help="skip benchmarks/mcp_bench.py")
    parser.add_argument("--no-pool", action="store_true",
                        help="serve without the web process's PostgreSQL connection pool (DATABASE_POOL=off)")
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario and concurrency")
    parser.add_argument("--knockout-rounds", type=int, default=2,
                        help="rounds of the knock-out table (each speed-layer mechanism off alone); 0: skip it")
    parser.add_argument("--knockout-requests", type=int, default=100, help="requests per figure in the knock-out")
    parser.add_argument("--only-knockout", action="store_true", help="skip the full report, run the knock-out table")
    parser.add_argument("--mechanisms", nargs="+", default=(), metavar="NAME",
                        help="knock out only these mechanisms (inventory.runtime.MECHANISMS; default: all)")
    parser.add_argument("--figures", nargs="+", default=(), metavar="NAME@cN",
                        help="measure only these knock-out figures (e.g. next_ip_allocate@c32; default: all)")
    args = parser.parse_args(argv)

    url = bench_database_url()
    data_dir = Path(os.environ.get("BENCH_DATA_DIR", ROOT / "var" / "bench"))
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_database(url)
    setup_django(url, data_dir)
    data = seed(args.reseed)
    headers = {"Authorization": f"Bearer {api_key()}"}
    twin_file = data_dir / "twin-queries.pickle"
    record_twins(data, headers, twin_file)

    from tests.servers import UvicornServer

    report: dict = {"data": {"devices": DEVICES, "tenants": TENANTS, "allocated_in_/16": ALLOCATED,
                             "seed_seconds": data["seed_seconds"]}, "results": {}, "checks": {}}
    server_env = {"DATABASE_POOL": "off"} if args.no_pool else {}
    server_env.update(BENCH_TWIN_QUERIES=str(twin_file), FAST_PATHS=os.environ.get("FAST_PATHS", "on"))
    report["server"] = {"workers": args.workers, "connection_pool": not args.no_pool,
                        "fast_paths": server_env["FAST_PATHS"],
                        "cache": "redis" if os.environ.get("REDIS_URL") else "file (set REDIS_URL, as in production)"}
    if not args.only_knockout:
        with UvicornServer(workers=args.workers, env=server_env, app="benchmarks.twin:application") as server:
            report["results"]["next_ip_preview_cold_ms"] = cold_next_ip(server.url, headers, data["network_id"])
            for scenario in [*scenarios(data), *twin_scenarios()]:
                scenario.requests = min(scenario.requests, args.requests)
                for concurrency in scenario.concurrency:
                    report["results"][f"{scenario.name}@c{concurrency}"] = asyncio.run(
                        measure(server.url, headers, scenario, concurrency, server.proc.pid))
            report["paired"] = measure_paired(server.url, headers, data, args.requests)
        for name, (stat, limit) in TARGETS.items():
            value = report["results"][f"{name}@c1"][stat]
            report["checks"][f"{name}_{stat}"] = {"value": value, "target": f"<= {limit} ms (absolute: informative)",
                                                  "ok": True}
        report["checks"].update(ratio_checks(report["results"], report["paired"]))
        if not args.no_mcp:
            try:
                from benchmarks.mcp_bench import run_mcp_benchmarks

                report["mcp"] = run_mcp_benchmarks(workers=args.workers)
                report["checks"].update({f"mcp_{k}": v for k, v in report["mcp"]["checks"].items() if "ratio" in k})
            except Exception as exc:  # the REST figures stay valid
                report["mcp"] = {"error": f"{type(exc).__name__}: {exc}"}
    if args.knockout_rounds:
        from benchmarks.knockout import run_knockout

        report["knockout"] = run_knockout(data, headers, server_env, workers=args.workers,
                                          rounds=args.knockout_rounds, requests=args.knockout_requests,
                                          only=tuple(args.mechanisms), figures=tuple(args.figures))
    print(json.dumps(report, indent=2))
    if "knockout" in report:
        print(report["knockout"]["table"])
    if report["checks"]:
        print("\n".join(f"{'ok  ' if c['ok'] else 'MISS'} {name}: {c['value']} (target {c['target']})"
                        for name, c in report["checks"].items()))
    return 0 if all(c["ok"] for c in report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

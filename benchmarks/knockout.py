"""The knock-out table: each speed-layer mechanism (inventory/runtime/) off alone, the headline
figures with and without it, measured in the same run (``make bench``; benchmarks/run.py calls
:func:`run_knockout`).

Each configuration is one uvicorn server (the same workers, the raw twins of benchmarks/twin.py
mounted in it) started with ``FAST_PATHS=on,-<mechanism>``; ``on`` and ``off`` (every stock path)
are measured too. A round visits every configuration once, starting each round one configuration
further on, so a slow spell of the shared host does not fall on one configuration; the table gives
the median over rounds of each figure's p50 (ms), and each configuration's figure as a ratio to the
``on`` figure of the same run. A mechanism earns its place when knocking it out moves a headline
figure by 15% or more.
"""

from __future__ import annotations

import asyncio
import os
import statistics

from benchmarks.run import Scenario, measure, scenarios, twin_scenarios
from inventory import runtime

#: the figures: (scenario name, concurrency) from benchmarks/run.py, plus MCP ones
HEADLINE = [
    ("healthz", 1), ("device_list_full", 1), ("raw_device_list_full", 1), ("device_detail", 1),
    ("search", 1), ("raw_search", 1), ("next_ip_preview", 1), ("raw_next_ip_preview", 1),
    ("next_ip_allocate", 1), ("mcp_device_list", 1), ("rest_device_list", 1), ("mcp_device_list", 8),
    ("rest_device_list", 8),
]
#: extra figures for the allocation function only (contention)
ALLOCATION = [("next_ip_allocate", 32)]
SIGNIFICANT = 0.15
#: ratio rows of the table (the issue's targets): name -> (numerator, denominator)
RATIOS = {
    "ratio list/raw (<=4)": ("device_list_full@c1", "raw_device_list_full@c1"),
    "ratio search/raw (<=4)": ("search@c1", "raw_search@c1"),
    "ratio preview/raw (<=3)": ("next_ip_preview@c1", "raw_next_ip_preview@c1"),
    "ratio alloc/preview (<=2)": ("next_ip_allocate@c1", "next_ip_preview@c1"),
    "ratio mcp/rest c1 (<=1.2)": ("mcp_device_list@c1", "rest_device_list@c1"),
    "ratio mcp/rest c8 (<=1.2)": ("mcp_device_list@c8", "rest_device_list@c8"),
}


def _mcp_scenarios(tokens: dict) -> list[Scenario]:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = lambda i: {"jsonrpc": "2.0", "id": i + 2, "method": "tools/call",  # noqa: E731
                      "params": {"name": "device_list", "arguments": {"limit": 50}, "_meta": meta}}
    mcp = Scenario("mcp_device_list", lambda i: "/mcp", method="POST", body=body)
    mcp.headers = {"Authorization": f"Bearer {tokens['mcp']}", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "device_list"}
    rest = Scenario("rest_device_list", lambda i: "/api/devices/?limit=50")
    rest.headers = {"Authorization": f"Bearer {tokens['api']}"}
    return [mcp, rest]


def configurations() -> list[str]:
    return ["on", *(f"on,-{name}" for name in runtime.MECHANISMS), "off"]


def run_knockout(data: dict, headers: dict, server_env: dict, *, workers: int, rounds: int, requests: int,
                 only: tuple[str, ...] = (), figures: tuple[str, ...] = ()) -> dict:
    from benchmarks.mcp_bench import _cleanup, _setup
    from tests.servers import UvicornServer, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mcp_data = _setup(url, devices=0)
    by_name = {s.name: s for s in [*scenarios(data), *twin_scenarios(), *_mcp_scenarios(mcp_data["tokens"])]}
    configs = [c for c in configurations() if not only or c in ("on", "off") or c.split("-", 1)[-1] in only]
    samples: dict[str, dict[str, list[float]]] = {c: {} for c in configs}
    errors: dict[str, int] = {}
    try:
        for r in range(rounds):
            shift = r % len(configs)
            for config in configs[shift:] + configs[:shift]:
                env = {**server_env, "FAST_PATHS": config, "PUBLIC_URL": url}
                chosen = HEADLINE + (ALLOCATION if config in ("on", "on,-allocation_function", "off") else [])
                chosen = [(n, c) for n, c in chosen if not figures or f"{n}@c{c}" in figures]
                try:
                    with UvicornServer(workers=workers, port=port, env=env, app="benchmarks.twin:application",
                                       start_timeout=600) as server:
                        for name, concurrency in chosen:
                            scenario = by_name[name]
                            scenario.requests = requests * (2 if concurrency > 1 else 1)
                            result = asyncio.run(measure(server.url, getattr(scenario, "headers", headers), scenario,
                                                         concurrency, server.proc.pid))
                            key = f"{name}@c{concurrency}"
                            samples[config].setdefault(key, []).append(result["p50_ms"])
                            errors[f"{config} {key}"] = errors.get(f"{config} {key}", 0) + result["errors"]
                except RuntimeError as exc:  # a server that did not start: that round lacks the configuration
                    errors[f"{config} round {r + 1}"] = str(exc)[:300]
    finally:
        _cleanup(mcp_data["network_id"])
    medians = {c: {k: round(statistics.median(v), 2) for k, v in figs.items()} for c, figs in samples.items() if figs}
    for row in medians.values():  # the ratios, per configuration
        for name, (top, bottom) in RATIOS.items():
            if row.get(top) and row.get(bottom):
                row[name] = round(row[top] / row[bottom], 2)
    base = medians.get("on", {})
    verdicts = {}
    for config in configs[1:-1]:
        if config not in medians:
            continue
        name = config.split("-", 1)[1]
        moved = {k: round(v / base[k] - 1, 3) for k, v in medians[config].items()
                 if k in base and base[k] and "@c" in k and not k.startswith(("raw_", "healthz"))}
        worst = max(moved.items(), key=lambda kv: abs(kv[1])) if moved else (None, 0.0)
        verdicts[name] = {"largest_move": worst[0], "by": worst[1], "earns_its_place": abs(worst[1]) >= SIGNIFICANT}
    return {"rounds": rounds, "requests_per_figure": requests, "p50_ms_median_over_rounds": medians,
            "samples": samples, "errors": {k: v for k, v in errors.items() if v}, "verdicts": verdicts,
            "table": table(medians, verdicts)}


def table(medians: dict, verdicts: dict) -> str:
    """Rows: figures; columns: configurations (p50 ms, and ×on for knock-outs)."""
    configs = list(medians)
    keys = list(dict.fromkeys(k for c in configs for k in medians[c]))
    short = {c: ("on" if c == "on" else "off" if c == "off" else "-" + c.split("-", 1)[1]) for c in configs}
    lines = ["Knock-out table: p50 ms (median over rounds); in brackets the ratio to 'on' of the same run", ""]
    lines.append("figure".ljust(26) + "".join(short[c][:22].rjust(24) for c in configs))
    for key in keys:
        cells = []
        for c in configs:
            value = medians[c].get(key)
            on = medians.get("on", {}).get(key)
            cells.append(("-" if value is None else f"{value:.2f}" + (f" ({value / on:.2f})" if c != "on" and on else ""))
                         .rjust(24))
        lines.append(key.ljust(26) + "".join(cells))
    lines.append("")
    for name, verdict in verdicts.items():
        mark = "keeps its place" if verdict["earns_its_place"] else "moves no headline figure by >= 15%"
        lines.append(f"{name:22s} largest move {verdict['by']:+.1%} on {verdict['largest_move']}: {mark}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    os.sys.exit("run it through benchmarks/run.py --only-knockout")

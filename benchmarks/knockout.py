"""The knock-out table: each speed-layer mechanism (inventory/runtime/) off alone, the headline
figures with and without it, measured in the same run (``make bench``; benchmarks/run.py calls
:func:`run_knockout`).

Each configuration is one uvicorn server (the same workers, the raw twins of benchmarks/twin.py
mounted in it) started with ``FAST_PATHS=on,-<mechanism>``; ``on`` and ``off`` (every stock path)
are measured too. A round visits every configuration once, starting each round one configuration
further on, so a slow spell of the shared host does not fall on one configuration.

Each figure is measured paired with its floor, the raw twin of its SQL (``FLOORS``): their requests
alternate on the same connections, so what the shared host does to one it does to the other (a
first run measured them apart, and the raw twins, which no mechanism touches, moved by up to 2.2x
between configurations: a noise far above the 15% to be judged). A knock-out's move on a figure is
its figure/floor quotient over the quotient of ``on`` in the same round, minus one, the median over
rounds. A mechanism earns its place when its knock-out slows a headline figure by 15% or more, and by 5
points more than that figure's median move over all knock-outs (most of which cannot touch it: the
noise left after pairing; a slowdown within it is not the mechanism's). A mechanism of the whole
server (``PROCESS_WIDE``: ``fair_accept``, how the workers share connections) slows its figures'
floors as much as the figures, served by the same workers: its moves are of plain milliseconds
against ``on``'s in the same round, on the figures of several connections, and its noise the other
knock-outs' plain moves.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

from benchmarks.run import Scenario, reset_allocations, scenarios, twin_scenarios
from inventory import runtime

#: the figures: (scenario name, concurrency) from benchmarks/run.py, plus MCP ones, each measured
#: paired with its floor (FLOORS)
HEADLINE = [
    ("device_list_full", 1), ("device_detail", 1), ("search", 1), ("next_ip_preview", 1), ("next_ip_allocate", 1),
    ("mcp_device_list", 1), ("rest_device_list", 1), ("mcp_device_list", 8), ("rest_device_list", 8),
]
#: extra figures for the allocation function only (contention)
ALLOCATION = [("next_ip_allocate", 32)]
#: each figure's floor: the raw twin of its SQL (benchmarks/twin.py: no Django, same workers), whose
#: requests alternate with the figure's on the same connections, so a slow spell of the shared host
#: falls on both; a figure is judged as its p50 over its floor's p50
FLOORS = {
    "device_list_full": "raw_device_list_full", "device_detail": "raw_device_detail", "search": "raw_search",
    "next_ip_preview": "raw_next_ip_preview", "next_ip_allocate": "raw_next_ip_preview",
    "mcp_device_list": "raw_device_list_full", "rest_device_list": "raw_device_list_full",
}
SIGNIFICANT = 0.15
#: mechanisms that act on the whole server, the floors included: judged on plain milliseconds, on
#: the figures of at least this many connections (fair_accept shares connections among workers:
#: one connection is one worker's, whatever the loop)
PROCESS_WIDE = {"fair_accept": 2}
#: how far beyond a figure's median move over all knock-outs a slowdown must go to be the mechanism's
NOISE_MARGIN = 0.05
#: ratio rows of the table (the issue's targets): name -> (numerator, denominator)
RATIOS = {
    "ratio list/raw (<=4)": ("device_list_full@c1", "raw_device_list_full@c1"),
    "ratio search/raw (<=4)": ("search@c1", "raw_search@c1"),
    "ratio preview/raw (<=3)": ("next_ip_preview@c1", "raw_next_ip_preview@c1"),
    "ratio alloc/preview (<=2)": ("next_ip_allocate@c1", "next_ip_preview@c1"),
    "ratio mcp/rest c1 (<=1.2)": ("mcp_device_list@c1", "rest_device_list@c1"),
    "ratio mcp/rest c8 (<=1.2)": ("mcp_device_list@c8", "rest_device_list@c8"),
}


async def measure_pair(url: str, figure: Scenario, floor: Scenario, headers: dict, concurrency: int,
                       requests: int) -> tuple[float, float, int]:
    """p50 (ms) of ``figure`` and of ``floor``, their requests alternating on each connection;
    and the figure's error count."""
    from benchmarks.client import Pool

    samples: dict[str, list[float]] = {"figure": [], "floor": []}
    errors = 0
    first_error: dict[str, str] = {}
    counter = iter(range(requests))

    async def one(http, scenario, i, key):
        nonlocal errors
        kwargs = {"json": scenario.body(i)} if scenario.body else {}
        started = time.perf_counter()
        r = await http.request(scenario.method, scenario.path(i), getattr(scenario, "headers", headers), **kwargs)
        if key:
            samples[key].append((time.perf_counter() - started) * 1000)
            if key == "figure" and r.status_code not in scenario.ok:
                errors += 1
                first_error.setdefault("text", f"{r.status_code} {r.text[:200]}")

    async def worker(http, warm):
        for i in (range(-1 - warm, -1) if warm else counter):
            first, second = ((figure, "figure"), (floor, "floor")) if i % 2 else ((floor, "floor"), (figure, "figure"))
            await one(http, first[0], i, None if warm else first[1])
            await one(http, second[0], i, None if warm else second[1])

    async with Pool(url, concurrency) as http:
        await asyncio.gather(*(worker(http, 10) for _ in range(concurrency)))  # warm-up
        await asyncio.gather(*(worker(http, 0) for _ in range(concurrency)))
    if first_error:
        print(f"knock-out: {errors} failed requests of {figure.name}@c{concurrency}, first: {first_error['text']}",
              file=sys.stderr)
    return statistics.median(samples["figure"]), statistics.median(samples["floor"]), errors


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
    return ["on", *(f"on,-{name}" for name in runtime.MECHANISMS if name not in runtime.ADMIN_MECHANISMS), "off"]


def run_knockout(data: dict, headers: dict, server_env: dict, *, workers: int, rounds: int, requests: int,
                 only: tuple[str, ...] = (), figures: tuple[str, ...] = ()) -> dict:
    from benchmarks.mcp_bench import _cleanup, _setup
    from tests.servers import UvicornServer, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mcp_data = _setup(url, devices=0)
    by_name = {s.name: s for s in [*scenarios(data), *twin_scenarios(), *_mcp_scenarios(mcp_data["tokens"])]}
    configs = [c for c in configurations() if not only or c in ("on", "off") or c.split("-", 1)[-1] in only]
    # samples[config][figure] = one (figure p50, floor p50) per round; None when the server did not start
    samples: dict[str, dict[str, list]] = {c: {} for c in configs}
    errors: dict[str, int | str] = {}
    try:
        for r in range(rounds):
            shift = r % len(configs)
            for config in configs[shift:] + configs[:shift]:
                env = {**server_env, "FAST_PATHS": config, "PUBLIC_URL": url}
                reset_allocations(data["network_id"])
                chosen = HEADLINE + (ALLOCATION if config in ("on", "on,-allocation_function", "off") else [])
                chosen = [(n, c) for n, c in chosen if not figures or f"{n}@c{c}" in figures]
                try:
                    with UvicornServer(workers=workers, port=port, env=env, app="benchmarks.twin:application",
                                       start_timeout=600) as server:
                        for name, concurrency in chosen:
                            n = requests * (2 if concurrency > 1 else 1)
                            figure_ms, floor_ms, failed = asyncio.run(measure_pair(
                                server.url, by_name[name], by_name[FLOORS[name]], headers, concurrency, n))
                            key = f"{name}@c{concurrency}"
                            samples[config].setdefault(key, [None] * rounds)[r] = (figure_ms, floor_ms)
                            if failed:
                                errors[f"{config} {key}"] = errors.get(f"{config} {key}", 0) + failed
                except RuntimeError as exc:  # a server that did not start: that round lacks the configuration
                    errors[f"{config} round {r + 1}"] = str(exc)[:300]
    finally:
        _cleanup(mcp_data["network_id"])
    return summarise(samples, configs, rounds, requests, errors)


def summarise(samples: dict, configs: list[str], rounds: int, requests: int, errors: dict) -> dict:
    """Medians over rounds of each figure's p50, its floor's and their quotient; a knock-out's move
    on a figure is the median over rounds of (its quotient / the quotient of ``on`` in that round) - 1."""
    def med(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 3) if values else None

    medians = {}
    for config, figs in samples.items():
        row = {}
        for key, pairs in figs.items():
            name, conc = key.split("@")
            row[key] = med([p[0] for p in pairs if p])
            row.setdefault(f"{FLOORS[name]}@{conc}", med([p[1] for p in pairs if p]))  # the first figure's
            row[f"{key}/floor"] = med([p[0] / p[1] for p in pairs if p])
        for label, (top, bottom) in RATIOS.items():  # the ratios, per configuration
            if row.get(top) and row.get(bottom):
                row[label] = round(row[top] / row[bottom], 2)
        if row:
            medians[config] = row
    on = samples.get("on", {})
    verdicts, moves_per_round, plain_moves = {}, {}, {}

    def moves_of(config, plain, connections=1):
        moves = {}
        for key, pairs in samples[config].items():
            if int(key.rsplit("@c", 1)[1]) < connections:
                continue
            per_round = [(p[0] / on[key][r][0] if plain else p[0] / p[1] / (on[key][r][0] / on[key][r][1])) - 1
                         for r, p in enumerate(pairs) if p and key in on and on[key][r]]
            if per_round:
                moves[key] = (round(statistics.median(per_round), 3), [round(m, 3) for m in per_round])
        return moves

    for config in configs[1:-1]:
        if config not in medians:
            continue
        plain_moves[config] = {k: v[0] for k, v in moves_of(config, True).items()}
        name = config.split("-", 1)[1]
        moves = moves_of(config, True, PROCESS_WIDE[name]) if name in PROCESS_WIDE else moves_of(config, False)
        # a mechanism earns its place by what its knock-out costs: the largest slowdown (a knock-out
        # that makes a figure faster shows noise, or a mechanism that costs, never a reason to keep it)
        worst = max(moves.items(), key=lambda kv: kv[1][0]) if moves else (None, (0.0, []))
        moves_per_round[config] = {k: v[1] for k, v in moves.items()}
        verdicts[name] = {
            "config": config, "largest_move": worst[0], "by": worst[1][0], "per_round": worst[1][1],
            "moves": {k: v[0] for k, v in moves.items()}, "earns_its_place": worst[1][0] >= SIGNIFICANT,
            "judged_on": "plain milliseconds" if name in PROCESS_WIDE else "figure/floor"}

    # the noise: per figure, the median move over all knock-outs (most of which cannot touch it)
    def noise_of(all_moves):
        noise = {}
        for key in {k for moves in all_moves for k in moves}:
            values = sorted(moves[key] for moves in all_moves if key in moves)
            noise[key] = round(statistics.median(values), 3) if len(values) >= 3 else 0.0  # c32: one knock-out
        return noise

    noise = noise_of([v["moves"] for name, v in verdicts.items() if name not in PROCESS_WIDE])
    plain_noise = noise_of(list(plain_moves.values()))
    for name, verdict in verdicts.items():
        # a slowdown no larger than what the other knock-outs do to the same figure is that noise:
        # the figure that counts is the one slowed most beyond its median move (by NOISE_MARGIN at least)
        its_noise = plain_noise if name in PROCESS_WIDE else noise
        beyond = {k: m - its_noise.get(k, 0.0) for k, m in verdict["moves"].items() if m >= SIGNIFICANT}
        if beyond:
            key = max(beyond, key=beyond.get)
            verdict["largest_move"], verdict["by"] = key, verdict["moves"][key]
            verdict["per_round"] = moves_per_round[verdict["config"]][key]
        key = verdict["largest_move"]
        verdict["above_typical_move"] = None if key is None else round(verdict["by"] - its_noise.get(key, 0.0), 3)
        verdict["earns_its_place"] = bool(beyond) and max(beyond.values()) >= NOISE_MARGIN
    return {"rounds": rounds, "requests_per_figure": requests, "p50_ms_median_over_rounds": medians,
            "samples": samples, "errors": errors, "verdicts": verdicts, "typical_move": noise,
            "table": table(medians, verdicts)}


def table(medians: dict, verdicts: dict) -> str:
    """Rows: figures (p50 ms), their floors, figure/floor and the issue's ratios; columns:
    configurations (and, for knock-outs, the ratio to ``on``)."""
    configs = list(medians)
    keys = list(dict.fromkeys(k for c in configs for k in medians[c]))
    short = {c: ("on" if c == "on" else "off" if c == "off" else "-" + c.split("-", 1)[1]) for c in configs}
    lines = ["Knock-out table: p50 ms (median over rounds), each figure paired with its raw twin (its floor);",
             "in brackets the ratio to 'on' of the same run. A move is figure/floor against 'on''s figure/floor.", ""]
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
        mark = "keeps its place" if verdict["earns_its_place"] else "slows no headline figure by >= 15% beyond the noise"
        rounds = ", ".join(f"{m:+.0%}" for m in verdict["per_round"])
        plain = " in plain ms" if verdict.get("judged_on") == "plain milliseconds" else ""
        lines.append(f"{name:22s} largest slowdown{plain} {verdict['by']:+.1%} on {verdict['largest_move']} (rounds: {rounds}; "
                     f"{verdict['above_typical_move']:+.1%} above that figure's median move): {mark}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    os.sys.exit("run it through benchmarks/run.py --only-knockout")

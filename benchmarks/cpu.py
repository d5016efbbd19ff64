"""CPU time of a process tree (the uvicorn master and its workers) and of this process, so a
report can say how much CPU one request costs on each side of the socket (Linux /proc)."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_cpu_ms(root: int) -> float:
    """User + system CPU of ``root`` and all its descendants, in ms (0 where /proc is missing)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                parents[int(entry.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0.0
    for pid in tree:
        fields = _stat(pid)
        if fields:
            total += (int(fields[11]) + int(fields[12])) * _TICK_MS
    return total


class CpuMeter:
    """``with CpuMeter(server_pid) as m: ...``; then ``m.per_request(n)`` → (server ms, client ms)."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    def __enter__(self):
        self._server = tree_cpu_ms(self.server_pid)
        self._client = time.process_time()
        return self

    def __exit__(self, *exc):
        self.server_ms = tree_cpu_ms(self.server_pid) - self._server
        self.client_ms = (time.process_time() - self._client) * 1000

    def per_request(self, n: int) -> dict:
        return {"server_cpu_ms": round(self.server_ms / n, 2), "client_cpu_ms": round(self.client_ms / n, 2)}

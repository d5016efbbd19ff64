"""A lean HTTP/1.1 keep-alive client for the benchmarks.

The client runs on the same 2-core machine as the server, so every millisecond it spends is
taken from the server and added to each sample. httpx spends ~1.9 ms of CPU per request;
this client, one connection per concurrent worker and nothing else, spends ~0.3 ms. Both are
reported (``client_cpu_ms``) so runs stay comparable.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from urllib.parse import urlsplit


class Response:
    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return jsonlib.loads(self.content)


class Connection:
    """One keep-alive connection; requests on it run one at a time."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.netloc = parts.netloc
        self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict | None = None, *, json=None,
                      content: bytes | None = None) -> Response:
        if json is not None:
            content = jsonlib.dumps(json).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        body = content or b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.netloc}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(payload)
                return await self._read()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _read(self) -> Response:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            content = b"".join(chunks)
        else:
            content = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(int(status_line.split(" ", 2)[1]), headers, content)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Pool:
    """``size`` connections handed out one per in-flight request (a worker keeps the one it takes)."""

    def __init__(self, base_url: str, size: int):
        self.free = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(Connection(base_url))

    async def request(self, method: str, path: str, headers: dict | None = None, **kwargs) -> Response:
        connection = await self.free.get()
        try:
            return await connection.request(method, path, headers, **kwargs)
        finally:
            self.free.put_nowait(connection)

    async def post(self, path: str, headers: dict | None = None, **kwargs) -> Response:
        return await self.request("POST", path, headers, **kwargs)

    async def get(self, path: str, headers: dict | None = None) -> Response:
        return await self.request("GET", path, headers)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        while not self.free.empty():
            self.free.get_nowait().close()

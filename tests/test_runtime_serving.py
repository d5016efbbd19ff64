"""The web server's loop spreads connections over the workers that share a listening socket."""

import asyncio
import socket
import subprocess
import threading
import time

import pytest

from inventory.runtime.serving import FairAcceptLoop, loop_factory

pytestmark = pytest.mark.fast_paths("fair_accept")


NODELAY: list[int] = []  # TCP_NODELAY of each accepted connection


class _Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        NODELAY.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def data_received(self, data):
        self.transport.write(data)


def _serve(listener: socket.socket, shared: bool, ready: threading.Barrier, stop: threading.Event, out: list):
    loop = FairAcceptLoop(shared=shared)
    try:
        server = loop.run_until_complete(loop.create_server(_Echo, sock=listener))
        ready.wait(10)
        while not stop.is_set():
            loop.run_until_complete(asyncio.sleep(0.01))
        out.append(loop.open_connections())
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()


def _spread(workers: int, connections: int, shared: bool = True) -> list[int]:
    """Open ``connections`` at once to ``workers`` loops on one socket; how many each holds."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    listener.setblocking(False)
    ready, stop, counts = threading.Barrier(workers + 1), threading.Event(), []
    threads = [threading.Thread(target=_serve, args=(listener.dup(), shared, ready, stop, counts)) for _ in range(workers)]
    for t in threads:
        t.start()
    ready.wait(10)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(connections)]
    try:
        for c in clients:  # each connection answers: every one was accepted
            c.sendall(b"x")
            c.settimeout(5)
            assert c.recv(1) == b"x"
        stop.set()
        deadline = time.monotonic() + 10
        while len(counts) < workers and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        for c in clients:  # the servers' wait_closed() waits for them
            c.close()
        for t in threads:
            t.join(10)
        listener.close()
    return sorted(counts)


def test_a_burst_of_connections_is_shared_out_evenly():
    # the stock loop accepts a whole burst in the first worker to wake
    assert max(_spread(2, 8)) <= 5
    assert max(_spread(4, 12)) <= 4


def test_accepted_connections_send_without_delay():
    # the listening socket is made as uvicorn makes it (proto 0), where asyncio itself would
    # leave Nagle's algorithm on and a response in two writes would wait for a delayed ACK
    NODELAY.clear()
    _spread(2, 4)
    assert len(NODELAY) == 4 and all(NODELAY)


def test_a_single_worker_accepts_without_waiting():
    assert _spread(1, 20, shared=False) == [20]
    assert _spread(1, 20, shared=True) == [20]  # alone it still takes everything, after its waits


def test_a_server_in_the_main_process_is_not_shared():
    loop = loop_factory()  # uvicorn without --workers: one server, in the main process
    try:
        assert isinstance(loop, FairAcceptLoop) and loop.shared is False
    finally:
        loop.close()


def _holders(port: int) -> dict[str, int]:
    """Worker pid -> established connections it holds on ``port``."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"sport = :{port}"],
                         capture_output=True, text=True, check=True).stdout
    per_pid: dict[str, int] = {}
    for line in out.splitlines():
        pid = line.split("pid=")[1].split(",")[0]
        per_pid[pid] = per_pid.get(pid, 0) + 1
    return per_pid


def _connect_and_get(port: int, n: int) -> list[socket.socket]:
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    for c in clients:
        c.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    for c in clients:
        c.settimeout(10)
        assert c.recv(100).startswith(b"HTTP/1.1 200")
    return clients


def test_two_uvicorn_workers_share_keep_alive_connections():
    from tests.servers import UvicornServer

    with UvicornServer(workers=2, env={"FAST_PATHS": "on"}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        # the server answers as soon as one worker is up: wait for the second
        seen, deadline = set(), time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            (probe,) = _connect_and_get(port, 1)
            seen |= set(_holders(port))
            probe.close()
            time.sleep(0.05)
        assert len(seen) == 2
        time.sleep(0.2)
        for _attempt in range(3):
            clients = _connect_and_get(port, 8)
            try:
                per_pid = _holders(port)
                assert sum(per_pid.values()) == 8 and max(per_pid.values()) <= 5, per_pid
            finally:
                for c in clients:
                    c.close()
            time.sleep(0.2)

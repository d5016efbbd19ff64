"""A small SSH server for the mesh tunnel tests, started inside a network namespace
(``ip netns exec NS python tests/mesh_sshd.py HOST PORT HOST_KEY_FILE AUTHORIZED_KEYS_FILE``):
it runs each command as a real shell subprocess in that namespace, as the in-process test
server of tests/test_jobs_support.py does on loopback. Prints READY once listening."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncssh


async def handle(process):
    local = await asyncio.create_subprocess_shell(
        process.command or "true", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)

    async def pump(source, sink):
        while chunk := await source.read(65536):
            sink.write(chunk)

    async def feed():  # the client's input, then end of file
        try:
            while chunk := await process.stdin.read(65536):
                local.stdin.write(chunk)
                await local.stdin.drain()
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass
        finally:
            local.stdin.close()

    try:
        await asyncio.gather(feed(), pump(local.stdout, process.stdout), pump(local.stderr, process.stderr))
        process.exit(await local.wait())
    except (asyncssh.Error, OSError, BrokenPipeError):
        pass
    finally:
        if local.returncode is None:
            local.kill()
            await local.wait()


async def main(host: str, port: int, host_key: str, authorized: str):
    server = await asyncssh.create_server(
        asyncssh.SSHServer, host, port, server_host_keys=[host_key], authorized_client_keys=authorized,
        process_factory=handle, encoding=None)
    print("READY", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    os.umask(0o077)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))

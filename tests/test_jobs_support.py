"""Shared helpers of the jobs tests (imported by tests/test_jobs_*.py): a real Celery worker
subprocess (Redis or the embedded filesystem broker), an in-process asyncssh server running
real commands, and TCP listeners on loopback addresses."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.servers import ROOT, server_env

#: fast heartbeats and small batches so crash and cancellation tests stay short
WORKER_ENV = {
    "JOBS_HEARTBEAT_SECONDS": "0.5",
    "JOBS_STALE_AFTER": "4",
    "JOBS_SCAN_BATCH": "1",
    "JOBS_SCAN_CONNECT_TIMEOUT": "0.5",
    "JOBS_SCAN_BANNER_TIMEOUT": "0.7",
    "JOBS_SCAN_ICMP": "off",
    "JOBS_SSH_CONNECT_TIMEOUT": "5",
    "JOBS_OUTPUT_LIMIT": "1000",
}


def wait_for(predicate, timeout=30.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_job(job_id, statuses=("succeeded", "failed", "cancelled"), timeout=40.0, worker=None):
    from inventory.jobs.models import Job

    def done():
        job = Job.objects.get(pk=job_id)
        return job if job.status in statuses else None

    try:
        return wait_for(done, timeout, message=f"job {job_id} to reach {statuses}")
    except AssertionError:
        if worker is not None:
            print(worker.output())
        raise


# --- Celery worker -------------------------------------------------------------------------
class Worker:
    """``celery -A inventory worker`` in a subprocess against the test database."""

    def __init__(self, broker: str, extra_env: dict | None = None):
        self.broker = broker
        self.extra_env = extra_env or {}
        self.proc = None

    def env(self) -> dict:
        env = server_env()
        env.update(WORKER_ENV)
        env.update(self.extra_env)
        if self.broker == "filesystem":
            env.pop("REDIS_URL", None)
        return env

    def start(self):
        from django.conf import settings

        self.name = f"jobs-test-{uuid.uuid4().hex[:8]}@%h"
        self.log = open(Path(settings.DATA_DIR) / f"worker-{uuid.uuid4().hex[:8]}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "inventory", "worker", "--pool", "prefork", "--concurrency", "1",
             "--loglevel", "INFO", "-n", self.name, "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(lambda: "ready." in self.output() or self.proc.poll() is not None, 60, 0.2, "the worker")
        if self.proc.poll() is not None:
            raise RuntimeError(f"celery worker exited: {self.output()}")
        return self

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-8000:]

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill(self):
        """SIGKILL the worker and its pool children (no warm shutdown, nothing acked)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc:
            self.log.close()


def use_broker(broker: str):
    """Point this process's Celery app (the producer) at the broker the worker uses."""
    from django.conf import settings

    from inventory.celery import app

    if broker == "filesystem":
        from inventory.broker import EMBEDDED_BROKER_URL, embedded_broker_options

        conf = {"broker_url": EMBEDDED_BROKER_URL,
                "broker_transport_options": embedded_broker_options(settings.DATA_DIR)}
    else:
        conf = {"broker_url": settings.CELERY_BROKER_URL,
                "broker_transport_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS}
    from kombu import pools

    app.conf.update(conf)
    pools.reset()  # kombu keeps producer pools per connection URL, process-wide
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


def brokers() -> list[str]:
    """Redis when REDIS_URL is set (always in CI), and the embedded filesystem broker."""
    return (["redis"] if os.environ.get("REDIS_URL") else []) + ["filesystem"]


@pytest.fixture(scope="module", params=brokers())
def worker(request, django_db_setup, django_db_blocker):
    use_broker(request.param)
    w = Worker(request.param).start()
    yield w
    w.stop()
    use_broker("redis" if os.environ.get("REDIS_URL") else "filesystem")


# --- SSH server ------------------------------------------------------------------------------
class SSHServer:
    """An asyncssh server on 127.0.0.1 (ephemeral ed25519 host key; key auth, and password auth
    for PASSWORD) that runs each command as a real shell subprocess."""

    PASSWORD = "Tr0ub4dor&3-very-secret-pw"

    def __init__(self):
        import asyncssh

        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_public = self.host_key.export_public_key("openssh").decode().strip()
        self.client_private = self.client_key.export_private_key("openssh").decode()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        import asyncssh

        password = self.PASSWORD

        class Server(asyncssh.SSHServer):
            def password_auth_supported(self):
                return True

            def validate_password(self, username, pw):
                return pw == password

        async def handle(process):
            local = await asyncio.create_subprocess_shell(
                process.command or "true", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)

            async def pump(source, sink):
                while chunk := await source.read(65536):
                    sink.write(chunk)

            async def feed():  # the client's stdin (file uploads), then end of file
                try:
                    while chunk := await process.stdin.read(65536):
                        local.stdin.write(chunk)
                        await local.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    local.stdin.close()

            try:
                await asyncio.gather(feed(), pump(local.stdout, process.stdout), pump(local.stderr, process.stderr))
                process.exit(await local.wait())
            except (asyncssh.Error, OSError, asyncio.CancelledError, BrokenPipeError):
                pass
            finally:
                if local.returncode is None:
                    try:
                        os.killpg(local.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    await local.wait()  # reaped, so its transport closes on this loop

        async def serve():
            return await asyncssh.create_server(
                Server, "127.0.0.1", 0, server_host_keys=[self.host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(
                    self.client_key.export_public_key("openssh").decode()),
                process_factory=handle, encoding=None)

        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
            # commands still running (a cancelled job's): end them here, not in a stopped loop
            running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def ssh_server():
    server = SSHServer().start()
    yield server
    server.stop()


# --- loopback listeners ------------------------------------------------------------------------
def free_port_on(addresses: list[str]) -> int:
    """A port free on every address given (and on 0.0.0.0, so nothing else answers there)."""
    from tests.servers import free_port

    return free_port(addresses)


def self_signed(cn: str, san: list[str]) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False)
            .sign(key, hashes.SHA256()))
    d = tempfile.mkdtemp()
    cert_path, key_path = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_path).write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return cert_path, key_path


class Listeners:
    """TCP services on loopback addresses, in a thread: kind is silent | ssh | http | tls."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = []

    def add(self, address: str, port: int, kind: str = "silent"):
        async def silent(reader, writer):
            try:
                await reader.read()
            finally:
                writer.close()

        async def banner(reader, writer):
            writer.write(b"SSH-2.0-OpenSSH_9.9 test\r\n")
            await writer.drain()
            await silent(reader, writer)

        async def http(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.0 200 OK\r\nServer: test-httpd/1.0\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        ssl_ctx = None
        if kind == "tls":
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(*self_signed("tls.test", ["tls.test", "alt.tls.test"]))
        handler = {"silent": silent, "ssh": banner, "http": http, "tls": silent}[kind]

        async def start():
            return await asyncio.start_server(handler, address, port, ssl=ssl_ctx)

        self.servers.append(asyncio.run_coroutine_threadsafe(start(), self.loop).result(5))

    def close(self):
        async def close_all():
            for s in self.servers:
                s.close()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# --- data ----------------------------------------------------------------------------------
def make_network(tenant, subnet="127.77.0.0/29", name="loopback"):
    from inventory.models import Network

    return Network.objects.create(tenant=tenant, name=name, subnet=subnet)


def make_device(tenant, ssh_server=None, *, name="web1", username="deploy", credential="key", host_key=True,
                secret=None):
    from inventory.jobs.models import DeviceAccess
    from inventory.models import Device

    device = Device.objects.create(tenant=tenant, name=name, username=username)
    if ssh_server is not None:
        DeviceAccess.objects.create(
            device=device, host="127.0.0.1", port=ssh_server.port, credential_type=credential,
            secret=secret or (ssh_server.client_private if credential == "key" else SSHServer.PASSWORD),
            host_key=ssh_server.host_public if host_key else "")
    return device


def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(scope="module")
def one_worker(django_db_setup, django_db_blocker):
    """A worker on the preferred broker only (Redis when configured)."""
    broker = brokers()[0]
    use_broker(broker)
    w = Worker(broker).start()
    yield w
    w.stop()

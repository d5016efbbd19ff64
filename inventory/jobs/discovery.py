"""Network discovery: an asyncio TCP-connect scanner (no root needed).

Port sets per scan type:
- ``quick``: QUICK_PORTS, the common service ports below;
- ``full``: ports 1-1024 plus FULL_EXTRA_PORTS (common higher ports);
- ``deep``: the ``full`` ports, and every open port's banner: the first line a server sends
  (SSH, FTP, SMTP…), else the HTTP ``Server`` header, else the TLS certificate's names.
A caller may pass its own ``ports`` instead.

A host is *found* when a port is open or it answers ICMP echo (tried only when the process
may open an unprivileged ICMP socket and JOBS_SCAN_ICMP is "auto"). Found hosts also get a
reverse-DNS name (may be empty) and, on a local segment, a MAC from /proc/net/arp.
Hosts are probed in batches of JOBS_SCAN_BATCH; progress and cancellation are checked
between batches; at most JOBS_SCAN_CONCURRENCY connects are in flight.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import struct
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import ipam

from .models import DiscoveredDevice, ScanType
from .runner import JobContext, JobFailed, handler

QUICK_PORTS = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 161, 389, 443, 445, 465, 587, 636, 873, 993,
               995, 1433, 2049, 3306, 3389, 5432, 5900, 6379, 8000, 8080, 8443, 9100]
FULL_EXTRA_PORTS = [1433, 1521, 2049, 2375, 2376, 2379, 3000, 3306, 3389, 5000, 5432, 5601, 5672, 5900, 5985,
                    5986, 6379, 6443, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9090, 9100, 9200, 9418, 10250,
                    11211, 27017]
TLS_PORTS = {443, 465, 636, 993, 995, 5986, 6443, 8443, 9443}


def ports_for(scan_type: str, custom: list[int] | None = None) -> list[int]:
    if custom:
        return sorted(set(custom))
    if scan_type == ScanType.QUICK:
        return list(QUICK_PORTS)
    return sorted(set(range(1, 1025)) | set(FULL_EXTRA_PORTS))


def host_count(net) -> int:
    first, last = ipam.usable_bounds(net)
    return last - first + 1


def check_size(net) -> None:
    """ValueError when the network is larger than JOBS_SCAN_MAX_HOSTS."""
    limit = settings.JOBS_SCAN_MAX_HOSTS
    if net.num_addresses > limit:
        raise ValueError(
            f"{net} has {net.num_addresses} addresses; scans are limited to {limit} "
            f"(JOBS_SCAN_MAX_HOSTS). Scan a smaller network."
        )


def _parse_networks(values, where: str) -> list:
    networks = []
    for value in values:
        value = str(value).strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} in {where} is not a network (CIDR).") from None
    return networks


def split_networks(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def global_allowed_networks() -> list:
    return _parse_networks(settings.JOBS_SCAN_ALLOWED_NETWORKS, "JOBS_SCAN_ALLOWED_NETWORKS")


def _inside(net, networks) -> bool:
    return any(net.version == allowed.version and net.subnet_of(allowed) for allowed in networks)


def check_allowed(net, tenant_id) -> None:
    """ValueError unless every address of ``net`` is inside JOBS_SCAN_ALLOWED_NETWORKS and inside
    the tenant's own scan policy, if it has one. Called before a scan is recorded and again before
    its first packet."""
    from .models import ScanPolicy

    net = ipaddress.ip_network(str(net), strict=False)
    allowed = global_allowed_networks()
    if not _inside(net, allowed):
        raise ValueError(
            f"{net} is outside the networks scans may reach (JOBS_SCAN_ALLOWED_NETWORKS: "
            f"{', '.join(map(str, allowed)) or 'none'}).")
    policy = ScanPolicy.objects.filter(tenant_id=tenant_id).first() if tenant_id is not None else None
    if policy is not None and not _inside(net, policy.networks()):
        raise ValueError(f"{net} is outside this tenant's scan policy ({', '.join(map(str, policy.networks()))}; "
                         f"admin: Scan policies), inside JOBS_SCAN_ALLOWED_NETWORKS.")


@dataclass
class HostResult:
    ip: str
    open_ports: list[int] = field(default_factory=list)
    services: dict = field(default_factory=dict)
    icmp: bool | None = None
    hostname: str = ""
    mac: str = ""

    @property
    def found(self) -> bool:
        return bool(self.open_ports) or bool(self.icmp)


# --- probes ------------------------------------------------------------------------------
async def _close(writer):
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        pass


def _cert_names(der: bytes) -> dict:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    names = {"subject_cn": [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names["san"] = [str(v) for v in san.get_values_for_type(x509.DNSName)] + \
                       [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names["san"] = []
    names["not_after"] = cert.not_valid_after_utc.isoformat()
    return names


async def _tls_names(ip: str, port: int, timeout: float) -> dict | None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we read the names; we do not trust the peer
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port, ssl=ctx), timeout)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return None
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return {"service": "tls", **_cert_names(der)} if der else None
    except Exception:  # noqa: BLE001 - an unparsable certificate is just no banner
        return None
    finally:
        await _close(writer)


async def _banner(ip: str, port: int, reader, writer, timeout: float) -> dict | None:
    if port in TLS_PORTS:
        tls = await _tls_names(ip, port, timeout)
        if tls:
            return tls
    try:
        data = await asyncio.wait_for(reader.read(512), timeout)
    except (OSError, asyncio.TimeoutError):
        data = b""
    if data:
        line = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        service = "ssh" if line.startswith("SSH-") else "banner"
        return {"service": service, "banner": line[:200]}
    try:  # silent: maybe HTTP
        writer.write(f"HEAD / HTTP/1.0\r\nHost: {ip}\r\nUser-Agent: inventory-discovery\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4096), timeout)
    except (OSError, asyncio.TimeoutError):
        head = b""
    if head.startswith(b"HTTP/"):
        text = head.decode("latin-1")
        server = next((ln.split(":", 1)[1].strip() for ln in text.split("\r\n")[1:]
                       if ln.lower().startswith("server:")), "")
        return {"service": "http", "status": text.split("\r\n", 1)[0][:100], "server": server[:200]}
    if port not in TLS_PORTS:
        return await _tls_names(ip, port, timeout)
    return None


async def _probe(ip: str, port: int, sem: asyncio.Semaphore, timeout: float, deep: bool, banner_timeout: float):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
        except (OSError, asyncio.TimeoutError):
            return port, False, None
        try:
            banner = await _banner(ip, port, reader, writer, banner_timeout) if deep else None
        finally:
            await _close(writer)
        return port, True, banner


def icmp_available() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
        return True
    except OSError:
        return False


async def _ping(ip: str, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    try:
        await loop.sock_sendto(sock, struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"inventory", (ip, 0))
        reply = await asyncio.wait_for(loop.sock_recv(sock, 1024), timeout)
        return bool(reply) and reply[0] == 0
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        sock.close()


async def _reverse_dns(ip: str, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    try:
        name, _ = await asyncio.wait_for(loop.getnameinfo((ip, 0), socket.NI_NAMEREQD), timeout)
        return "" if name == ip else name
    except (OSError, asyncio.TimeoutError, socket.gaierror):
        return ""


def arp_table() -> dict[str, str]:
    """ip -> MAC of complete entries in the kernel's ARP table (empty off Linux)."""
    try:
        lines = open("/proc/net/arp").read().splitlines()[1:]
    except OSError:
        return {}
    table = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] != "0x0" and parts[3] != "00:00:00:00:00:00":
            table[parts[0]] = parts[3].lower()
    return table


async def scan_hosts(hosts: list[str], ports: list[int], *, deep: bool = False, icmp: bool = False,
                     concurrency: int = 256, timeout: float = 1.0, banner_timeout: float = 2.0) -> list[HostResult]:
    sem = asyncio.Semaphore(max(1, concurrency))
    results = {ip: HostResult(ip) for ip in hosts}

    async def host(ip: str):
        probes = [_probe(ip, p, sem, timeout, deep, banner_timeout) for p in ports]
        if icmp and ipaddress.ip_address(ip).version == 4:
            async with sem:
                results[ip].icmp = await _ping(ip, timeout)
        for port, is_open, banner in await asyncio.gather(*probes):
            if is_open:
                results[ip].open_ports.append(port)
                if banner:
                    results[ip].services[str(port)] = banner
        results[ip].open_ports.sort()
        if results[ip].found:
            results[ip].hostname = await _reverse_dns(ip, timeout)

    await asyncio.gather(*(host(ip) for ip in hosts))
    arp = arp_table()
    for r in results.values():
        r.mac = arp.get(r.ip, "")
    return [r for r in results.values() if r.found]


# --- the job -----------------------------------------------------------------------------
def upsert(network, result: HostResult, job, deep: bool) -> DiscoveredDevice:
    now = timezone.now()
    error = None
    for _ in range(2):
        try:
            with transaction.atomic():
                obj = DiscoveredDevice.objects.select_for_update().filter(network=network, ip=result.ip).first()
                if obj is None:
                    obj = DiscoveredDevice(network=network, tenant_id=network.tenant_id, ip=result.ip, first_seen=now)
                obj.open_ports = result.open_ports
                if deep or not obj.services:
                    obj.services = result.services
                obj.icmp = result.icmp
                obj.hostname = result.hostname or obj.hostname
                obj.mac = result.mac or obj.mac
                obj.last_seen = now
                obj.last_scan = job
                obj.save()
                return obj
        except IntegrityError as exc:  # a concurrent scan inserted it first: update that row
            error = exc
    raise JobFailed(f"Could not record {result.ip}: {error}")


@handler("discovery_scan")
def run_scan(ctx: JobContext):
    job = ctx.job
    network = job.network
    if network is None:
        raise JobFailed("The network of this scan no longer exists.")
    net = network.ip_network
    try:
        check_size(net)
        check_allowed(net, network.tenant_id)  # the setting may have narrowed since it was queued
    except ValueError as exc:
        raise JobFailed(str(exc)) from None
    scan_type = job.params.get("scan_type", ScanType.QUICK)
    ports = ports_for(scan_type, job.params.get("ports"))
    deep = scan_type == ScanType.DEEP
    icmp = settings.JOBS_SCAN_ICMP == "auto" and icmp_available()
    first, last = ipam.usable_bounds(net)
    total = last - first + 1
    batch = max(1, settings.JOBS_SCAN_BATCH)
    # a job reclaimed after its worker died resumes after the last batch it recorded
    resume = job.result.get("resume") if job.attempt > 1 else None
    start_at, found = first, []
    if isinstance(resume, dict) and first <= int(resume.get("next", first)) <= last + 1:
        start_at, found = int(resume["next"]), list(resume.get("found", []))
    if start_at == first:
        ctx.log(f"Scanning {net}: {total} addresses, {len(ports)} TCP ports each ({scan_type})"
                f"; ICMP echo {'on' if icmp else 'not available'}.")
        ctx.progress(0, f"0/{total} addresses scanned")
    else:
        ctx.log(f"Resuming the scan of {net} at {ipam.to_address(start_at, net.version)} (attempt {job.attempt}): "
                f"{start_at - first}/{total} addresses were scanned before, {len(found)} found.")
    for start in range(start_at, last + 1, batch):
        ctx.check_cancel()
        hosts = [str(ipam.to_address(i, net.version)) for i in range(start, min(start + batch, last + 1))]
        results = asyncio.run(scan_hosts(
            hosts, ports, deep=deep, icmp=icmp, concurrency=settings.JOBS_SCAN_CONCURRENCY,
            timeout=settings.JOBS_SCAN_CONNECT_TIMEOUT, banner_timeout=settings.JOBS_SCAN_BANNER_TIMEOUT))
        for r in results:
            upsert(network, r, job, deep)
            found.append(r.ip)
            ctx.log(f"{r.ip}{' (' + r.hostname + ')' if r.hostname else ''}: open ports "
                    f"{', '.join(map(str, r.open_ports)) or 'none'}{'; answers ping' if r.icmp else ''}")
        done = start + len(hosts) - first
        # progress and where to resume, in one write
        ctx.checkpoint(done * 100 / total, f"{done}/{total} addresses scanned, {len(found)} found",
                       resume={"next": start + len(hosts), "found": found})
    job.result.pop("resume", None)
    ctx.save_result(addresses_scanned=total, hosts_found=len(found), hosts=found, ports_scanned=len(ports),
                    scan_type=scan_type, icmp=icmp)
    ctx.log(f"Found {len(found)} host(s).")

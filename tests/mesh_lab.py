"""Machines for the mesh tunnel tests: network namespaces on one bridge, each with an SSH server.

Layout (all names carry a random suffix, so runs never meet):
- a bridge namespace holding ``br0``; one veth pair per machine namespace, plus one from the
  root namespace (its end gets ``<net>.254``: the Celery worker reaches the machines through it);
- machine namespaces with ``eth0`` at ``<net>.1``, ``<net>.2``…, where ``<net>`` is a free
  198.18.N.0/24 (a benchmarking range): those addresses exist only inside the namespaces;
- ``/etc/netns/<ns>/wireguard``, which ``ip netns exec`` mounts over ``/etc/wireguard`` for the
  processes of that namespace: each machine has its own /etc/wireguard;
- an SSH server (tests/mesh_sshd.py) on port 22 of each machine (all its addresses), running commands there, with
  wireguard-go as wg-quick's userspace implementation (no kernel module needed).

``stop()`` kills every process in the namespaces (the SSH servers and the wireguard-go daemons
wg-quick started there), deletes the namespaces (and so the veth pairs) and the /etc/netns
directories, and removes the userspace control sockets of the interface names it handed out.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("ip", "wg", "wg-quick", "wireguard-go", "bash", "timeout")
USERSPACE_ENV = {"WG_QUICK_USERSPACE_IMPLEMENTATION": "wireguard-go",
                 "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


def missing() -> str:
    """Why real tunnels cannot run here ('' when they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        return f"missing {', '.join(absent)} (apt-get install wireguard-go wireguard-tools iproute2)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun"
    if not Path("/etc/wireguard").is_dir():
        return "no /etc/wireguard (installed by wireguard-tools)"
    return ""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


@dataclass
class Machine:
    index: int
    ns: str
    address: str
    interface: str  # the WireGuard interface name this machine uses (names are global)
    proc: subprocess.Popen | None = None

    def run(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns, "sh", "-c", command, check=check)

    etc_upper: Path | None = None  # Lab(private_etc=True): where the machine's writes to /etc land

    @property
    def etc_wireguard(self) -> Path:
        return self.etc("wireguard") if self.etc_upper else Path("/etc/netns") / self.ns / "wireguard"

    def etc(self, relative: str) -> Path:
        """A path under the machine's own /etc, as seen from the host."""
        return (self.etc_upper or Path("/etc")) / relative


class Lab:
    def __init__(self, count: int = 3, *, private_etc: bool = False, path: list[str] | None = None):
        """``private_etc``: each machine's processes see their own copy-on-write /etc (an overlay
        whose writes land in ``machine.etc_upper``, never in the host's /etc) and their own
        /run/wireguard (so every machine may use the same interface name). ``path``: directories
        put first on the machines' PATH (stand-ins for package managers and services)."""
        self.suffix = secrets.token_hex(3)
        self.count = count
        self.private_etc = private_etc
        self.path = path or []
        self.subnet = self._free_subnet()
        self.bridge_ns = f"m{self.suffix}br"
        self.root_if = f"m{self.suffix}r"
        self.machines: list[Machine] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="mesh-lab-"))

    @staticmethod
    def _free_subnet() -> str:
        routes = sh("ip", "-4", "route", "show").stdout + sh("ip", "-4", "addr", "show").stdout
        for third in random.sample(range(100, 250), 150):
            prefix = f"198.18.{third}."
            if prefix not in routes:
                return prefix
        raise RuntimeError("no free 198.18.N.0/24 for the lab")

    def start(self, host_key_text: str, authorized_text: str) -> "Lab":
        host_key, authorized = self.tmp / "host_key", self.tmp / "authorized_keys"
        host_key.write_text(host_key_text)
        authorized.write_text(authorized_text)
        os.chmod(host_key, 0o600)
        sh("ip", "netns", "add", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        self._wire(None, self.root_if, f"m{self.suffix}rb", f"{self.subnet}254")
        for i in range(1, self.count + 1):
            machine = Machine(i, f"m{self.suffix}n{i}", f"{self.subnet}{i}", f"wg{self.suffix}{i}")
            self.machines.append(machine)
            sh("ip", "netns", "add", machine.ns)
            sh("ip", "-n", machine.ns, "link", "set", "lo", "up")
            self._wire(machine.ns, f"m{self.suffix}e{i}", f"m{self.suffix}b{i}", f"{machine.address}")
            env = {**os.environ, **USERSPACE_ENV}
            if self.path:
                env["PATH"] = os.pathsep.join([*self.path, env.get("PATH", "")])
            # every address of the namespace (underlay and, once joined, the overlays)
            server = [sys.executable, str(ROOT / "tests" / "mesh_sshd.py"), "", "22", str(host_key), str(authorized)]
            if self.private_etc:
                upper, work = self.tmp / f"etc{i}" / "upper", self.tmp / f"etc{i}" / "work"
                upper.mkdir(parents=True)
                work.mkdir()
                machine.etc_upper = upper
                server = ["unshare", "-m", "sh", "-c",
                          f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
                          " && mkdir -p /run/wireguard && mount -t tmpfs -o mode=0700 tmpfs /run/wireguard"
                          ' && exec "$@"', "sh", *server]
            else:
                machine.etc_wireguard.mkdir(parents=True, mode=0o700)
            machine.proc = subprocess.Popen(
                ["ip", "netns", "exec", machine.ns, *server],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True)
        for machine in self.machines:
            line = machine.proc.stdout.readline()
            if "READY" not in line:
                raise RuntimeError(f"SSH server in {machine.ns} did not start: {line}{machine.proc.stdout.read()}")
        return self

    def _wire(self, ns: str | None, inner: str, outer: str, address: str):
        """A veth pair: ``inner`` in ``ns`` (None: the root namespace) with ``address``/24,
        ``outer`` on the bridge."""
        sh("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
        sh("ip", "link", "set", outer, "netns", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "set", outer, "master", "br0", "up")
        if ns is None:
            sh("ip", "addr", "add", f"{address}/24", "dev", inner)
            sh("ip", "link", "set", inner, "up")
        else:
            sh("ip", "link", "set", inner, "netns", ns)
            sh("ip", "-n", ns, "link", "set", inner, "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def stop(self):
        for machine in self.machines:
            if machine.proc is not None and machine.proc.poll() is None:
                machine.proc.send_signal(signal.SIGTERM)
        for machine in self.machines:
            if machine.proc is not None:
                try:
                    machine.proc.wait(5)
                except subprocess.TimeoutExpired:
                    machine.proc.kill()
                    machine.proc.wait(5)
                machine.proc.stdout.close()
        for ns in [m.ns for m in self.machines] + [self.bridge_ns]:
            self._kill_inside(ns)
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.root_if, check=False)  # gone with the bridge namespace already
        for machine in self.machines:
            shutil.rmtree(Path("/etc/netns") / machine.ns, ignore_errors=True)
            Path(f"/var/run/wireguard/{machine.interface}.sock").unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def _kill_inside(ns: str):
        """The processes left in a namespace of ours (wireguard-go daemons), by pid."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and sh("ip", "netns", "pids", ns, check=False).stdout.split():
                time.sleep(0.1)


@contextmanager
def running(count: int = 3, **options):
    """A started lab with fresh SSH keys (host key for the machines' sshd, client key allowed in),
    for a test fixture: fails in CI, skips elsewhere when real tunnels cannot run; stopped after."""
    import asyncssh
    import pytest

    why = missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"real WireGuard tunnels cannot run: {why}")
        pytest.skip(f"real WireGuard tunnels cannot run: {why}")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    machines = Lab(count, **options)
    try:
        machines.start(host_key.export_private_key("openssh").decode(),
                       client_key.export_public_key("openssh").decode())
        machines.host_public = host_key.export_public_key("openssh").decode().strip()
        machines.client_private = client_key.export_private_key("openssh").decode()
        yield machines
    finally:
        machines.stop()

"""Mesh work on the devices, over the jobs' SSH machinery (inventory.jobs.ssh, runner).

- ``join_mesh`` / ``leave_mesh``: provisioning plan steps (inventory.jobs.plans actions, so
  roles, blueprints and JOBS_PLAN_PROVIDERS can use them): install
  ``/etc/wireguard/<interface>.conf`` (0600) and bring the interface up, or apply a changed
  configuration in place (``wg syncconf``); leaving takes it down and removes the file. The
  private key is put into the text here, in the worker, and is redacted from every log line.
- ``mesh_status`` / ``mesh_check`` jobs: ``wg show <if> dump`` on every enabled peer, concurrently
  (``run_many``, at most ``MESH_CONCURRENCY`` sessions at once; read-only;
  the dump's first line, which holds the private key, never leaves the device), the peers'
  observed state, and for a check a TCP probe from every peer to every other peer's overlay
  address (ICMP with ``ping`` where the device has it), giving the connectivity matrix and
  diagnoses.
"""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone

from inventory.jobs.plans import action
from inventory.jobs.runner import JobContext, JobFailed, handler

from . import config
from .models import INTERFACE_RE, Mesh, MeshPeer, PeerStatus

PROBE_TIMEOUT = 2


def _ssh(ctx: JobContext, device, script: str, timeout: int | None = None, stdin: bytes | None = None):
    from inventory.jobs.remote import execute, ssh_target

    target = ssh_target(ctx, device)
    return execute(ctx, target, script, timeout or settings.JOBS_COMMAND_TIMEOUT, stdin=stdin)


def run_many(ctx: JobContext, commands: list[tuple[object, object, str, int]]) -> dict:
    """``[(key, device, script, timeout)]`` -> ``{key: CommandResult | JobFailed}``: the scripts
    run over SSH at the same time, at most ``MESH_CONCURRENCY`` at once. Targets (database reads,
    pinned host keys, secrets registered for redaction) are prepared and the outcomes logged here,
    in the job's thread; only the SSH sessions run concurrently, in one event loop."""
    import asyncio

    from inventory.jobs import ssh
    from inventory.jobs.models import DeviceAccess
    from inventory.jobs.remote import ssh_target

    results, prepared = {}, []
    for key, device, script, timeout in commands:
        try:
            prepared.append((key, device, ssh_target(ctx, device), script, timeout))
        except JobFailed as exc:
            results[key] = exc
    for _key, _device, target, script, _timeout in prepared:
        ctx.log(f"Running on {target.username}@{target.host}:{target.port}: {script[:500]}")

    async def all_of():
        gate = asyncio.Semaphore(max(1, settings.MESH_CONCURRENCY))

        async def one(target, script, timeout):
            async with gate:
                try:
                    return await ssh.run_command(target, script, timeout=timeout,
                                                 output_limit=settings.JOBS_OUTPUT_LIMIT,
                                                 connect_timeout=settings.JOBS_SSH_CONNECT_TIMEOUT)
                except ssh.SSHError as exc:  # HostKeyUnknown included
                    return exc

        return await asyncio.gather(*(one(t, sc, to) for _k, _d, t, sc, to in prepared))

    outcomes = asyncio.run(all_of()) if prepared else []
    for (key, device, target, _script, _timeout), outcome in zip(prepared, outcomes):
        if isinstance(outcome, ssh.HostKeyUnknown):
            DeviceAccess.objects.filter(device=device).update(pending_host_key=outcome.presented)
        if isinstance(outcome, ssh.SSHError):
            results[key] = JobFailed(str(outcome))
            ctx.log(f"{device}: {outcome}", level="warning")
            continue
        results[key] = outcome
        status = "timed out" if outcome.timed_out else f"exit status {outcome.exit_status}"
        ctx.log(f"Finished on {device} with {status}.")
    return results


def install_script(interface: str) -> str:
    """Installs the configuration read from standard input: the private key is in the SSH
    channel's data only, never in the command (which SSH servers and clients log)."""
    path = f"/etc/wireguard/{interface}.conf"
    q = shlex.quote
    return "\n".join([
        "set -e", "umask 077", "mkdir -p /etc/wireguard",
        f"cat > {q(path + '.new')}",
        f"chmod 600 {q(path + '.new')}", f"mv {q(path + '.new')} {q(path)}",
        f"if wg show {q(interface)} >/dev/null 2>&1; then",
        f"  wg-quick strip {q(interface)} > {q(path + '.stripped')}",
        f"  if wg syncconf {q(interface)} {q(path + '.stripped')}; then rc=0; else rc=$?; fi",
        f"  rm -f {q(path + '.stripped')}",
        f"  [ $rc -eq 0 ] && echo 'updated {interface} in place'; exit $rc",
        "fi",
        f"wg-quick up {q(interface)} >&2", f"echo 'brought {interface} up'",
    ])


def leave_script(interface: str) -> str:
    q, path = shlex.quote, f"/etc/wireguard/{interface}.conf"
    return (f"if wg show {q(interface)} >/dev/null 2>&1; then wg-quick down {q(interface)} >&2 "
            f"|| ip link delete dev {q(interface)}; fi; rm -f {q(path)}; echo 'left: {interface} is down'")


@action("join_mesh")
def join_mesh(ctx: JobContext, step: dict, state: dict) -> dict:
    """Install the peer's configuration (the device's peer in ``step["mesh"]``)."""
    device = state["device"]
    peer = (MeshPeer.objects.select_related("mesh", "device", "address", "second_address")
            .filter(mesh_id=step["mesh"], device=device).first())
    if peer is None:
        raise JobFailed(f"{device} is not a peer of mesh {step['mesh']} (any more).")
    if not peer.enabled:
        return leave_mesh(ctx, {**step, "interface": peer.interface_name}, state)
    private_key = peer.private_key
    ctx.add_secret(private_key)
    masked = config.render(peer)
    result = _ssh(ctx, device, install_script(peer.interface_name),
                  stdin=config.with_key(masked, private_key).encode())
    if result.timed_out or result.exit_status != 0:
        last = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_status}"]
        raise JobFailed(f"installing the configuration failed: {last[0][:300]}",
                        {"stdout": result.stdout, "stderr": result.stderr, "exit_status": result.exit_status})
    MeshPeer.objects.filter(pk=peer.pk).update(applied_digest=config.digest(masked))
    from .services import confirm_rotations

    confirm_rotations(peer.mesh)
    return {"output": result.stdout.strip() or f"{peer.interface_name} configured.",
            "path": f"/etc/wireguard/{peer.interface_name}.conf", "config": masked}


@action("leave_mesh")
def leave_mesh(ctx: JobContext, step: dict, state: dict) -> dict:
    device, interface = state["device"], step["interface"]
    if not INTERFACE_RE.match(interface or ""):
        raise JobFailed(f"Invalid interface name {interface!r}.")
    result = _ssh(ctx, device, leave_script(interface))
    if result.timed_out or result.exit_status != 0:
        raise JobFailed(f"leaving the mesh failed (exit status {result.exit_status}): {result.stderr.strip()[-300:]}")
    MeshPeer.objects.filter(mesh_id=step.get("mesh"), device=device).update(applied_digest="")
    return {"output": result.stdout.strip()}


# --- status ------------------------------------------------------------------------------------
def dump_script(interface: str) -> str:
    q = shlex.quote(interface)
    return "\n".join([
        f"out=$(wg show {q} dump 2>&1) || {{ echo \"NOIF $out\" | head -c 300; echo; exit 0; }}",
        # the first line is the interface's own (private key, public key, port, fwmark): not sent
        "printf '%s\\n' \"$out\" | tail -n +2 | sed 's/^/PEER\\t/'",
        f"if ip -o link show dev {q} 2>/dev/null | grep -q '[<,]UP[,>]'; then echo 'LINK up'; else echo 'LINK down'; fi",
    ])


def parse_dump(stdout: str) -> dict:
    state = {"interface": "up", "peers": {}, "error": ""}
    for line in stdout.splitlines():
        if line.startswith("NOIF"):
            state.update(interface="missing", error=line[5:].strip())
        elif line.startswith("LINK "):
            if state["interface"] != "missing":
                state["interface"] = line[5:].strip()
        elif line.startswith("PEER\t"):
            parts = line.split("\t")[1:]
            if len(parts) >= 8:
                pub, _psk, endpoint, allowed, handshake, rx, tx = parts[:7]
                state["peers"][pub] = {"endpoint": "" if endpoint == "(none)" else endpoint,
                                       "allowed_ips": allowed, "handshake": int(handshake or 0),
                                       "rx": int(rx or 0), "tx": int(tx or 0)}
    return state


def _when(epoch: int):
    return datetime.fromtimestamp(epoch, dt_timezone.utc) if epoch else None


def classify(peer: MeshPeer, state: dict, now: int, up_after: int) -> tuple[str, str]:
    """A peer's status from its own dump: up (a handshake at most ``up_after`` s old), stale
    (older), down (interface missing or down, or never a handshake), unknown (not readable)."""
    latest = max((r["handshake"] for r in state["peers"].values()), default=0)
    if state["interface"] == "unreachable":
        return PeerStatus.UNKNOWN, f"Could not read the interface: {state['error']}"
    if state["interface"] == "missing":
        return PeerStatus.DOWN, f"Interface {peer.interface_name} is not running."
    if state["interface"] == "down":
        return PeerStatus.DOWN, f"Interface {peer.interface_name} is down."
    if not latest:
        return PeerStatus.DOWN, "No handshake with any peer."
    age = now - latest
    return (PeerStatus.UP if age <= up_after else PeerStatus.STALE), f"Last handshake {age} s ago."


def gather(ctx: JobContext, mesh: Mesh, peers: list[MeshPeer], start: float, span: float) -> dict:
    """Every peer's dump (read concurrently): {peer id: state}; the peers' observed state saved."""
    states = {}
    ctx.check_cancel()
    ctx.progress(start, f"wg show on {len(peers)} peers (at most {settings.MESH_CONCURRENCY} at once)")
    outcomes = run_many(ctx, [(peer.pk, peer.device, dump_script(peer.interface_name), 30) for peer in peers])
    ctx.check_cancel()
    ctx.progress(start + span, "Interfaces read")
    for peer in peers:
        result = outcomes[peer.pk]
        if isinstance(result, JobFailed):
            states[peer.pk] = {"interface": "unreachable", "peers": {}, "error": str(result)}
            continue
        states[peer.pk] = parse_dump(result.stdout) if result.exit_status == 0 else {
            "interface": "unreachable", "peers": {}, "error": result.stderr.strip()[-300:]}
    now = timezone.now()
    up_after = settings.MESH_HANDSHAKE_UP_SECONDS
    by_key = {p.public_key: p for p in peers}
    summary = []
    for peer in peers:
        state = states[peer.pk]
        rows = state["peers"].values()
        latest = max((r["handshake"] for r in rows), default=0)
        seen = [s["peers"][peer.public_key]["endpoint"] for pk, s in states.items()
                if pk != peer.pk and peer.public_key in s["peers"] and s["peers"][peer.public_key]["endpoint"]]
        status, why = classify(peer, state, int(now.timestamp()), up_after)
        fields = {"last_check": now, "last_status": status, "last_result": why,
                  "rx_bytes": sum(r["rx"] for r in rows), "tx_bytes": sum(r["tx"] for r in rows),
                  "last_handshake": _when(latest), "reported_endpoint": sorted(seen)[0] if seen else ""}
        MeshPeer.objects.filter(pk=peer.pk).update(**fields)
        summary.append({"peer": peer.pk, "device": peer.device.name, "address": peer.address.address,
                        "status": status, "detail": why, "interface": state["interface"],
                        "last_handshake": fields["last_handshake"].isoformat() if latest else None,
                        "handshake_age": (int(now.timestamp()) - latest) if latest else None,
                        "rx_bytes": fields["rx_bytes"], "tx_bytes": fields["tx_bytes"],
                        "reported_endpoint": fields["reported_endpoint"],
                        "unknown_keys": sorted(k[:8] + "…" for k in state["peers"] if k not in by_key)})
    return {"states": states, "summary": summary}


@handler("mesh_status")
def mesh_status(ctx: JobContext):
    mesh, peers = _mesh_of(ctx)
    found = gather(ctx, mesh, peers, 5, 90)
    ctx.save_result(mesh=mesh.pk, peers=found["summary"])
    counts = {s: sum(1 for p in found["summary"] if p["status"] == s) for s in PeerStatus.values}
    ctx.log("Peers: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))


def _mesh_of(ctx: JobContext) -> tuple[Mesh, list[MeshPeer]]:
    mesh = Mesh.objects.filter(pk=ctx.job.params.get("mesh")).first()
    if mesh is None:
        raise JobFailed("The mesh of this job no longer exists.")
    peers = config.peers_of(mesh)
    if not peers:
        raise JobFailed(f"Mesh {mesh} has no enabled peers.")
    return mesh, peers


# --- connectivity check --------------------------------------------------------------------
def probe_script(targets: list[tuple[str, int]]) -> str:
    """One line per target: PROBE <address> ok|fail <rtt µs> <method>. ICMP when ping exists,
    else a TCP connect (refused counts: the host answered)."""
    lines = [
        "probe() {",
        "  if command -v ping >/dev/null 2>&1 && ping -n -c 1 -W 2 \"$1\" >/dev/null 2>&1; then",
        "    echo \"PROBE $1 ok $(ping -n -c 1 -W 2 \"$1\" 2>/dev/null | sed -n 's/.*time=\\([0-9.]*\\).*/\\1/p' | "
        "awk '{printf \"%d\", $1*1000}') icmp\"; return; fi",
        "  s=$(date +%s%N)",
        f"  if err=$(timeout {PROBE_TIMEOUT} bash -c \"exec 3<>/dev/tcp/$1/$2\" 2>&1); then r=ok; "
        "else case \"$err\" in *refused*) r=ok;; *) r=fail;; esac; fi",
        "  e=$(date +%s%N)",
        "  echo \"PROBE $1 $r $(( (e - s) / 1000 )) tcp\"",
        "}",
    ]
    lines += [f"probe {shlex.quote(addr)} {int(port)}" for addr, port in targets]
    return "\n".join(lines)


def parse_probes(stdout: str) -> dict:
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "PROBE":
            out[parts[1]] = {"ok": parts[2] == "ok", "rtt_ms": round(int(parts[3]) / 1000, 2) if parts[3].isdigit() else None,
                             "method": parts[4]}
    return out


def diagnose(src: MeshPeer, dst: MeshPeer, states: dict, probe: dict) -> str:
    s, d = states[src.pk], states[dst.pk]
    for peer, state in ((dst, d), (src, s)):
        if state["interface"] in ("missing", "down"):
            return f"{peer.device.name}: WireGuard interface {peer.interface_name} is {'not running' if state['interface'] == 'missing' else 'down'}."
        if state["interface"] == "unreachable":
            return f"{peer.device.name}: could not be read over SSH."
    row = s["peers"].get(dst.public_key)
    if row is None:
        return (f"{src.device.name} has no peer entry with {dst.device.name}'s current key: its configuration is "
                "out of date or the topology does not connect them (apply the mesh).")
    if probe.get("ok"):
        return ""
    if not row["handshake"]:
        return "No handshake: key or endpoint mismatch."
    return "Handshake but no traffic: check AllowedIPs (and firewalls) on both sides."


def nat_note(src: MeshPeer, dst: MeshPeer, states: dict) -> str:
    row = states[src.pk]["peers"].get(dst.public_key)
    configured = config.endpoint_of(dst)
    if row and row["endpoint"] and configured and row["endpoint"] != configured:
        return f"{src.device.name} sees {dst.device.name} at {row['endpoint']}, not at {configured}: NAT in between."
    return ""


@handler("mesh_check")
def mesh_check(ctx: JobContext):
    mesh, peers = _mesh_of(ctx)
    result = check_mesh(ctx, mesh, peers)
    ctx.save_result(**result)
    ok, total, diagnoses = result["reachable_pairs"], result["pairs"], result["diagnoses"]
    ctx.log(f"{ok} of {total} peer pairs reach each other" + (f"; {len(diagnoses)} diagnoses." if diagnoses else "."))


def check_mesh(ctx: JobContext, mesh: Mesh, peers: list[MeshPeer]) -> dict:
    """The connectivity check (gather, probes, matrix, diagnoses; the mesh's last_matrix saved);
    also run inline by other jobs (a blueprint's wait_for)."""
    from inventory.jobs.models import DeviceAccess

    found = gather(ctx, mesh, peers, 2, 38)
    states = found["states"]
    ports = dict(DeviceAccess.objects.filter(device__in=[p.device_id for p in peers]).values_list("device_id", "port"))
    matrix, diagnoses = {}, []
    ctx.check_cancel()
    ctx.progress(40, f"Probing from {len(peers)} peers (at most {settings.MESH_CONCURRENCY} at once)")
    started = time.monotonic()
    probing = [(src.pk, src.device,
                probe_script([(p.address.address, ports.get(p.device_id, 22)) for p in peers if p.pk != src.pk]),
                PROBE_TIMEOUT * (len(peers) - 1) + 15)
               for src in peers if states[src.pk]["interface"] != "unreachable" and len(peers) > 1]
    probed = run_many(ctx, probing)
    ctx.log(f"Probed from {len(probing)} peers in {time.monotonic() - started:.1f} s.")
    ctx.check_cancel()
    ctx.progress(90, "Building the matrix")
    for src in peers:
        others = [p for p in peers if p.pk != src.pk]
        probes = {}
        result = probed.get(src.pk)
        if isinstance(result, JobFailed):
            ctx.log(f"Probes from {src.device} failed: {result}", level="warning")
        elif result is not None:
            probes = parse_probes(result.stdout)
        row = {str(src.pk): {"ok": True, "self": True, "rtt_ms": None, "method": "", "diagnosis": ""}}
        for dst in others:
            probe = probes.get(dst.address.address, {"ok": False, "rtt_ms": None, "method": "none"})
            why = diagnose(src, dst, states, probe)
            if probe["ok"]:
                why = ""
            note = nat_note(src, dst, states)
            row[str(dst.pk)] = {"ok": probe["ok"], "rtt_ms": probe["rtt_ms"] if probe["ok"] else None,
                                "method": probe["method"], "diagnosis": why, **({"note": note} if note else {})}
            if why:
                diagnoses.append({"from": src.pk, "to": dst.pk, "from_device": src.device.name,
                                  "to_device": dst.device.name, "diagnosis": why})
            if note:
                diagnoses.append({"from": src.pk, "to": dst.pk, "from_device": src.device.name,
                                  "to_device": dst.device.name, "diagnosis": note, "kind": "nat"})
        matrix[str(src.pk)] = row
    ok = sum(1 for r in matrix.values() for k, c in r.items() if not c.get("self") and c["ok"])
    total = len(peers) * (len(peers) - 1)
    result = {"mesh": mesh.pk, "checked": timezone.now().isoformat(),
              "peers": [{"id": p.pk, "device": p.device.name, "address": p.address.address} for p in peers],
              "matrix": matrix, "reachable_pairs": ok, "pairs": total, "diagnoses": diagnoses,
              "status": found["summary"]}
    Mesh.objects.filter(pk=mesh.pk).update(last_check=timezone.now(), last_matrix=result)
    return result

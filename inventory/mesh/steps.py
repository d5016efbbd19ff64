"""The ``join_mesh`` step type for roles (inventory.configuration.steps registry).

    {"type": "join_mesh", "args": {"mesh": "corp"}}                  # install and bring up / sync
    {"type": "join_mesh", "args": {"mesh": "corp", "state": "absent"}}  # leave: down, file removed

``mesh`` names a mesh of the device's tenant that the device is a peer of (``mesh_add_peer``
first). The step writes ``/etc/wireguard/<interface>.conf`` (0600, content on stdin) and then
applies it as the ``join_mesh`` plan action does (``wg syncconf`` in place when the interface
runs, else ``wg-quick up``). The private key is put into the file only when the worker renders
the step (``step.reveal``); a preview (role test, admin, MCP) and the job's records show the
placeholder, and the key is a JOBS_SECRET_PROVIDERS value (``device_private_keys``), so the job
masks it everywhere. The plan holds ids only, as for every role step. After a successful run
the peer records the installed configuration's digest (``applied_digest``) and retired keys
are dropped once every peer has its configuration, as after the plan action.
"""

from __future__ import annotations

import shlex

from inventory.configuration.steps import Operation, StepRender, register

from . import config
from .models import MeshPeer


def _peer(device, name: str):
    return (MeshPeer.objects.select_related("mesh", "device", "address", "second_address")
            .filter(mesh__tenant_id=device.tenant_id, mesh__name=name, device=device).first())


def apply_script(interface: str) -> str:
    """Apply the installed file: in place when the interface runs, else bring it up."""
    q = shlex.quote
    return "\n".join([
        "set -e",
        f"if wg show {q(interface)} >/dev/null 2>&1; then",
        f"  t=$(mktemp) && wg-quick strip {q(interface)} > \"$t\"",
        f"  if wg syncconf {q(interface)} \"$t\"; then rc=0; else rc=$?; fi; rm -f \"$t\"",
        f"  [ $rc -eq 0 ] && echo 'updated {interface} in place'; exit $rc",
        "fi",
        f"wg-quick up {q(interface)} >&2", f"echo 'brought {interface} up'",
    ])


def expand(step: StepRender) -> list[Operation]:
    from inventory.configuration.rendering import RenderError

    from .jobs import leave_script

    name = step.args["mesh"]
    peer = _peer(step.device, name) if step.device is not None else None
    if peer is None:
        raise RenderError("error", f"{step.device} is not a peer of a mesh named {name!r} (add it with "
                                   "mesh_add_peer first)", template=f"step {step.step.label}")
    interface = peer.interface_name
    if step.args.get("state", "present") == "absent" or not peer.enabled:
        return [Operation.shell(leave_script(interface))]
    text = config.render(peer)
    if step.reveal:  # the worker only: the decrypted key, in the file's content (sent on stdin)
        text = config.with_key(text, peer.private_key)
    return [Operation.file(f"/etc/wireguard/{interface}.conf", text, mode="0600", owner="root", group="root"),
            Operation.shell(apply_script(interface))]


def after(device, args: dict) -> None:
    """The configuration is installed: remember its digest (or that none is), drop retired keys."""
    from .services import confirm_rotations

    peer = _peer(device, args.get("mesh", ""))
    if peer is None:
        return
    present = args.get("state", "present") == "present" and peer.enabled
    MeshPeer.objects.filter(pk=peer.pk).update(applied_digest=config.digest(config.render(peer)) if present else "")
    if present:
        confirm_rotations(peer.mesh)


def device_private_keys(device) -> list[str]:
    """A JOBS_SECRET_PROVIDERS entry: the device's mesh private keys (current and retired)."""
    if device is None or device.pk is None:
        return []
    return [peer.private_key for peer in MeshPeer.objects.filter(device=device) if peer.private_key]


register("join_mesh", expand, after=after,
         description="Join the device to a WireGuard mesh it is a peer of (state absent: leave it).",
         schema={"type": "object", "properties": {
             "mesh": {"type": "string", "minLength": 1, "maxLength": 100},
             "state": {"enum": ["present", "absent"]}},
             "required": ["mesh"], "additionalProperties": False})

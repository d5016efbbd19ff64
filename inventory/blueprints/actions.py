"""The fixed set of blueprint actions. Each one: its argument names (checked on save), a JSON
Schema for its rendered arguments (checked when planning), and ``run(sc)``: list the changes
(``sc.change``) or, when ``sc.apply``, make them, and return the step's outputs.

Every write goes through the domain's services (configuration, mesh, allocation, jobs' plan
actions over SSH), as the caller: the same rules as REST and MCP, audited.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import exceptions as drf

from inventory.tenancy import Action

from .engine import StepContext, StepFailed, error_text, pending


@dataclass(frozen=True)
class ActionType:
    name: str
    run: Callable[[StepContext], dict]
    schema: dict
    description: str
    required: tuple = ()
    one_of: tuple = ()
    describe: Callable[[dict], str] | None = None
    #: arguments that are not rendered (an inline role: its templates are rendered per device)
    raw: tuple = ()

    @property
    def arguments(self) -> list[str]:
        return list(self.schema.get("properties", {}))

    def title(self, args: dict) -> str:
        return self.describe(args) if self.describe else self.name.replace("_", " ")


ACTIONS: dict[str, ActionType] = {}


def action(name: str, *, schema: dict, description: str, required=(), one_of=(), describe=None, raw=()):
    def register(fn):
        full = {"type": "object", "properties": schema, "required": list(required), "additionalProperties": False}
        ACTIONS[name] = ActionType(name, fn, full, description, tuple(required), tuple(one_of), describe, tuple(raw))
        return fn

    return register


NAME = {"type": "string", "minLength": 1, "maxLength": 200}
NAMES = {"type": "array", "items": NAME, "maxItems": 500}
SCOPE = {"enum": ["tenant", "device"]}


def _drf(fn, *args, field="", **kwargs):
    """Call a service; its refusal becomes the step's failure (field messages kept)."""
    try:
        return fn(*args, **kwargs)
    except (drf.ValidationError, DjangoValidationError) as exc:
        raise StepFailed(error_text(exc), field) from None
    except drf.APIException as exc:
        raise StepFailed(str(exc.detail), field) from None


def _primary(device) -> str:
    from inventory.jobs.remote import primary_address

    return primary_address(device) if device is not None else ""


# --- select_devices ---------------------------------------------------------------------------
@action("select_devices", description="Choose devices by names, tag or datacenter (optionally `count` of them), or "
                                      "create them: create {pattern: 'web-{n}', count, network} (addresses allocated "
                                      "from the network). Outputs: devices (names), ids, count, addresses.",
        schema={"names": NAMES, "tag": NAME, "datacenter": NAME, "count": {"type": "integer", "minimum": 1,
                                                                          "maximum": 500},
                "create": {"type": "object", "required": ["pattern", "count"], "additionalProperties": False,
                           "properties": {"pattern": {"type": "string", "pattern": r"\{n\}", "maxLength": 90},
                                          "count": {"type": "integer", "minimum": 1, "maximum": 500},
                                          "network": NAME, "tags": NAMES, "username": NAME}}},
        one_of=("names", "tag", "datacenter", "create"),
        describe=lambda a: "Select devices " + (f"tagged {a['tag']}" if a.get("tag") else
                                                f"named {a['create']['pattern']}" if a.get("create") else ""))
def select_devices(sc: StepContext) -> dict:
    e, a = sc.engine, sc.args
    if a.get("create"):
        names = _create_devices(sc, a["create"])
    elif a.get("names"):
        names = [n for n, _ in e.devices(a["names"], "args.names")]
    else:
        qs = e.device_qs()
        if a.get("tag"):
            qs = qs.filter(tags__name=a["tag"])
        if a.get("datacenter"):
            qs = qs.filter(datacenter__name=a["datacenter"])
        names = list(qs.order_by("name").values_list("name", flat=True).distinct())
        what = " and ".join(x for x in (f"tagged {a['tag']!r}" if a.get("tag") else "",
                                        f"in datacenter {a['datacenter']!r}" if a.get("datacenter") else "") if x)
        if not names:
            raise StepFailed(f"no device {what} in tenant {e.tenant.name}", "args.tag" if a.get("tag") else "args")
    if a.get("count") and not a.get("create"):
        if len(names) < a["count"]:
            raise StepFailed(f"found {len(names)} device(s) ({', '.join(names)}), {a['count']} needed", "args.count")
        names = names[:a["count"]]
    pairs = e.devices(names)
    for name, device in pairs:
        if not any(c["target"] == name for c in sc.changes):
            sc.same("select", name)
    return {"devices": names, "ids": [d.pk if d else None for _, d in pairs], "count": len(names),
            "first": names[0] if names else "",
            "addresses": {n: (_primary(d) if d else pending(f"address of {n}")) for n, d in pairs}}


def _create_devices(sc: StepContext, spec: dict) -> list[str]:
    from inventory.models import Device, Network
    from inventory.services.allocation import allocate_next_ip
    from inventory.services.devices import set_tags

    e = sc.engine
    try:
        names = [spec["pattern"].format(n=i) for i in range(1, spec["count"] + 1)]
    except (KeyError, IndexError, ValueError) as exc:
        raise StepFailed(f"the pattern may only use {{n}}: {exc}", "args.create.pattern") from None
    network = None
    if spec.get("network"):
        network = Network.objects.restrict(e.principal, Action.VIEW).filter(tenant=e.tenant, name=spec["network"]).first()
        if network is None:
            raise StepFailed(f"no network named {spec['network']!r} in tenant {e.tenant.name}", "args.create.network")
    existing = set(e.device_qs().filter(name__in=names).values_list("name", flat=True))
    missing = [n for n in names if n not in existing]
    if missing and not e.principal.can(Action.ADD, e.tenant):
        raise StepFailed("your role does not allow creating devices in this tenant", "args.create")
    for name in missing:
        sc.change("create_device", name, address_from=network.name if network else "")
        e.created_devices.append(name)
        e.changed_devices.add(name)
        e.reprovision.add(name)
        if not sc.apply:
            e.pending_devices.add(name)
            continue
        device = Device(tenant=e.tenant, name=name, username=spec.get("username", ""))
        _drf(device.save, field="args.create.pattern")
        if spec.get("tags"):
            set_tags(device, spec["tags"])
        if network is not None:
            _drf(allocate_next_ip, e.principal, network, device=device, description=f"blueprint {e.doc['name']}",
                 field="args.create.network")
        sc.log(f"Created device {name}.")
    return names


# --- roles ------------------------------------------------------------------------------------
def _find_role(sc: StepContext, name: str, where: str):
    from inventory.configuration.models import Role

    e = sc.engine
    qs = Role.objects.restrict(e.principal, Action.VIEW)
    role = qs.filter(name=name, tenant=e.tenant).first() or qs.filter(name=name, tenant__isnull=True).first()
    if role is None and not (name in e.pending_roles and not sc.apply):
        raise StepFailed(f"no role named {name!r} (of tenant {e.tenant.name} or global)", where)
    return role


@action("ensure_role", description="A role by name (the tenant's or a global one), or an inline role document "
                                   "(the role YAML shape) created or updated in the tenant. Outputs: name, id.",
        schema={"name": NAME, "role": {"type": "object", "required": ["name"]}}, one_of=("name", "role"), raw=("role",),
        describe=lambda a: f"Role {a.get('name') or a.get('role', {}).get('name', '')}")
def ensure_role(sc: StepContext) -> dict:
    import yaml

    from inventory.configuration.documents import import_document, role_document
    from inventory.configuration.models import Role

    e, a = sc.engine, sc.args
    if a.get("name"):
        role = _find_role(sc, a["name"], "args.name")
        sc.same("role", a["name"])
        return {"name": a["name"], "id": role.pk if role else None}
    doc = {k: v for k, v in a["role"].items() if k != "kind"}
    text = yaml.safe_dump({"kind": "role", **doc}, sort_keys=False)
    existing = Role.objects.filter(tenant=e.tenant, name=doc["name"]).first()
    with transaction.atomic():  # what the role would be (the import's own checks), then rolled back
        point = transaction.savepoint_create()
        try:
            wanted = role_document(_drf(import_document, e.principal, text, e.tenant, given_tenant=True,
                                        field="args.role"))
        finally:
            transaction.savepoint_rollback(point)
    if existing is not None and role_document(existing) == wanted:
        sc.same("role", doc["name"])
        return {"name": doc["name"], "id": existing.pk}
    sc.change("create_role" if existing is None else "update_role", doc["name"])
    if existing is not None:
        e.changed_all = True  # devices with the role need provisioning again
    if not sc.apply:
        e.pending_roles.add(doc["name"])
        return {"name": doc["name"], "id": existing.pk if existing else None}
    role = _drf(import_document, e.principal, text, e.tenant, given_tenant=True, field="args.role")
    return {"name": role.name, "id": role.pk}


@action("assign_role", description="Assign a role to devices (in order after their other roles), with "
                                   "assignment variables (overrides of the role's defaults).",
        schema={"role": NAME, "devices": NAMES, "variables": {"type": "object"}}, required=("role", "devices"),
        describe=lambda a: f"Assign {a['role']}")
def assign_role(sc: StepContext) -> dict:
    from inventory.configuration import services
    from inventory.configuration.models import RoleAssignment

    e, a = sc.engine, sc.args
    role = _find_role(sc, a["role"], "args.role")
    variables = a.get("variables") or {}
    for name, device in e.devices(a["devices"]):
        existing = RoleAssignment.objects.filter(device=device, role=role).first() if device and role else None
        if existing is not None and existing.variables == variables:
            sc.same("assign_role", f"{a['role']} on {name}")
            continue
        sc.change("assign_role" if existing is None else "update_assignment", f"{a['role']} on {name}",
                  device=device or name, variables=variables)
        if sc.apply:
            _drf(services.assign_role, e.principal, device.pk, {"role": role.pk, "variables": variables},
                 field="args.variables")
    return {"role": a["role"], "devices": [n for n, _ in e.devices(a["devices"])]}


# --- variables and secrets ---------------------------------------------------------------------
def _targets(sc: StepContext):
    e, a = sc.engine, sc.args
    if a.get("scope", "tenant") == "tenant":
        return [("tenant", None, f"tenant:{e.tenant.pk}")]
    if not a.get("devices"):
        raise StepFailed("scope device needs devices", "args.devices")
    return [(name, device, f"device:{device.pk}" if device else None) for name, device in e.devices(a["devices"])]


def _scope_data(sc: StepContext, device) -> dict:
    if device is None:
        return {"scope": "tenant", "tenant": sc.engine.tenant.pk}
    return {"scope": "device", "device": device.pk}


@action("set_variable", description="Set a variable at the tenant scope or on devices (scope: device).",
        schema={"key": NAME, "value": {}, "scope": SCOPE, "devices": NAMES}, required=("key", "value"),
        describe=lambda a: f"Variable {a['key']}")
def set_variable(sc: StepContext) -> dict:
    from inventory.configuration import services
    from inventory.configuration.models import Variable

    a = sc.args
    for name, device, key in _targets(sc):
        row = Variable.objects.filter(scope_key=key, key=a["key"]).first() if key else None
        label = f"{a['key']} ({'tenant' if name == 'tenant' else name})"
        if row is not None and row.value == a["value"]:
            sc.same("set_variable", label)
            continue
        sc.change("set_variable", label, device=device or (name if name != "tenant" else None), value=a["value"])
        if name == "tenant":
            sc.engine.changed_all = True
        if sc.apply:
            _drf(services.set_variable, sc.engine.principal, {**_scope_data(sc, device), "key": a["key"],
                                                               "value": a["value"]}, field="args.value")
    return {"key": a["key"], "value": a["value"]}


@action("set_secret", description="A secret at the tenant scope or on devices: generate: true makes one if it "
                                  "does not exist (never replaced), or value: sets it. Only its name is ever shown.",
        schema={"name": NAME, "scope": SCOPE, "devices": NAMES, "generate": {"type": "boolean"},
                "length": {"type": "integer", "minimum": 8, "maximum": 256}, "value": {"type": "string"}},
        required=("name",), describe=lambda a: f"Secret {a['name']}")
def set_secret(sc: StepContext) -> dict:
    from inventory.configuration import services
    from inventory.configuration.models import Secret

    a = sc.args
    if not a.get("generate") and not a.get("value"):
        raise StepFailed("give value, or generate: true", "args.value")
    for name, device, key in _targets(sc):
        row = Secret.objects.filter(scope_key=key, name=a["name"]).first() if key else None
        label = f"{a['name']} ({'tenant' if name == 'tenant' else name})"
        if row is not None and (a.get("generate") or row.value == a.get("value")):
            sc.same("secret", label)
            continue
        sc.change("generate_secret" if a.get("generate") else "set_secret", label,
                  device=device or (name if name != "tenant" else None))
        if sc.apply:
            data = {**_scope_data(sc, device), "name": a["name"]}
            data.update({"generate": True, "length": a.get("length", 32)} if a.get("generate") else
                        {"value": a["value"]})
            _drf(services.set_secret, sc.engine.principal, data, field="args")
    return {"name": a["name"]}


# --- meshes ------------------------------------------------------------------------------------
MESH_FIELDS = ("overlay_cidr", "listen_port", "persistent_keepalive", "topology", "interface", "mtu", "description")


@action("ensure_mesh", description="A WireGuard mesh of the tenant, created (with its overlay network) or updated. "
                                   "Outputs: name, id, overlay_cidr, interface.",
        schema={"name": NAME, "overlay_cidr": {"type": "string", "maxLength": 49},
                "listen_port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "persistent_keepalive": {"type": "integer", "minimum": 0, "maximum": 65535},
                "topology": {"enum": ["full", "hub"]}, "interface": {"type": "string", "maxLength": 15},
                "mtu": {"type": "integer", "minimum": 1280, "maximum": 9000}, "description": {"type": "string"}},
        required=("name", "overlay_cidr"), describe=lambda a: f"Mesh {a['name']}")
def ensure_mesh(sc: StepContext) -> dict:
    from inventory.mesh.models import Mesh
    from inventory.services.common import save_model

    e, a = sc.engine, sc.args
    fields = {k: a[k] for k in MESH_FIELDS if k in a}
    mesh = Mesh.objects.restrict(e.principal, Action.VIEW).filter(tenant=e.tenant, name=a["name"]).first()
    if mesh is None:
        if not e.principal.can(Action.ADD, e.tenant):
            raise StepFailed("your role does not allow creating meshes in this tenant", "args.name")
        mesh = Mesh(tenant=e.tenant, name=a["name"], **fields)
        _drf(mesh.full_clean, exclude=["network", "second_network"], field="args")
        sc.change("create_mesh", a["name"], **fields)
        if not sc.apply:
            e.pending_meshes.add(a["name"])
            return {"name": a["name"], "id": None, "overlay_cidr": a["overlay_cidr"], "interface": mesh.interface_name}
        _drf(save_model, mesh, field="args")
    else:
        diff = {k: v for k, v in fields.items() if getattr(mesh, k) != v}
        if diff:
            sc.change("update_mesh", a["name"], **diff)
            if sc.apply:
                for k, v in diff.items():
                    setattr(mesh, k, v)
                _drf(save_model, mesh, field="args")
        else:
            sc.same("mesh", a["name"])
    return {"name": mesh.name, "id": mesh.pk, "overlay_cidr": mesh.overlay_cidr, "interface": mesh.interface_name}


def _mesh(sc: StepContext, name: str, where="args.mesh"):
    from inventory.mesh.models import Mesh

    e = sc.engine
    mesh = Mesh.objects.restrict(e.principal, Action.VIEW).filter(tenant=e.tenant, name=name).first()
    if mesh is None and not (name in e.pending_meshes and not sc.apply):
        raise StepFailed(f"no mesh named {name!r} in tenant {e.tenant.name}", where)
    return mesh


@action("join_mesh", description="Make devices peers of a mesh (overlay addresses allocated, keys generated) and "
                                 "install the configuration on every peer whose installed one is not current (over "
                                 "SSH). Outputs: peers, addresses (device → overlay address), address_list.",
        schema={"mesh": NAME, "devices": NAMES}, required=("mesh", "devices"),
        describe=lambda a: f"Join mesh {a['mesh']}")
def join_mesh(sc: StepContext) -> dict:
    from inventory.mesh import services as mesh_services
    from inventory.mesh.models import MeshPeer

    e, a = sc.engine, sc.args
    mesh = _mesh(sc, a["mesh"])
    pairs = e.devices(a["devices"])
    peers = {p.device_id: p for p in MeshPeer.objects.filter(mesh=mesh).select_related("device", "address")} \
        if mesh else {}
    added = []
    for name, device in pairs:
        if device is not None and device.pk in peers:
            sc.same("peer", f"{name} in mesh {a['mesh']}")
            continue
        sc.change("add_peer", f"{name} in mesh {a['mesh']}", device=device or name)
        added.append(name)
        if sc.apply:
            peers[device.pk] = _drf(mesh_services.add_peer, e.principal, {"mesh": mesh.pk, "device": device.pk},
                                    field="args.devices")
    interface = mesh.interface_name if mesh else e.outputs.get("mesh", {}).get("interface", "wg")
    if sc.apply:
        installed = []
        for peer in mesh_services.outdated(mesh):
            _install(sc, mesh, peer)
            installed.append(peer.device.name)
        sc.done["installed"] = installed
    else:
        if added:
            targets = [(p.device.name, p.device) for p in peers.values() if p.enabled] + [(n, None) for n in added]
        else:
            targets = [(p.device.name, p.device) for p in mesh_services.outdated(mesh)] if mesh else []
        for name, device in targets:
            sc.change("install_mesh_config", f"{name}: /etc/wireguard/{interface}.conf", device=device or name,
                      reprovision=False)
    by_device = {p.device_id: p for p in peers.values()}
    addresses = {}
    for name, device in pairs:
        peer = by_device.get(device.pk) if device else None
        addresses[name] = peer.address.address if peer else pending(f"overlay address of {name}")
    return {"mesh": a["mesh"], "interface": interface, "addresses": addresses,
            "address_list": [addresses[n] for n, _ in pairs],
            "peers": [{"device": n, "address": addresses[n]} for n, _ in pairs]}


def _install(sc: StepContext, mesh, peer):
    from inventory.jobs.runner import JobFailed
    from inventory.mesh.jobs import join_mesh as install

    try:
        result = install(sc.engine.ctx, {"mesh": mesh.pk, "name": f"Join mesh {mesh.name}"}, {"device": peer.device})
    except JobFailed as exc:
        raise StepFailed(f"{peer.device.name}: {exc.args[0]}", "args.devices") from None
    sc.log(f"{peer.device.name}: {result.get('output', '')}")


# --- provisioning and commands ------------------------------------------------------------------
def config_digest(device) -> str:
    """What provisioning would install on the device (roles in order, rendered files and commands,
    secrets masked): provisioning is planned again only when this or the device changed."""
    from inventory.configuration.planning import device_plan_roles, preview

    parts = []
    for role, _assignment in device_plan_roles(device):
        result = preview(role, device)
        parts.append({"role": role.name, "files": [(f["path"], f.get("content"), f.get("mode")) for f in result["files"]],
                      "steps": [(s["name"], s["commands"], s["files"], s["only_if"], s["unless"]) for s in result["steps"]],
                      "errors": result["errors"]})
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def last_digest(tenant, device_id) -> str | None:
    from .models import BlueprintRun

    for results in BlueprintRun.objects.filter(tenant=tenant).order_by("-id").values_list("results", flat=True)[:100]:
        for result in reversed(results or []):
            if result.get("status") == "succeeded" and str(device_id) in (result.get("provisioned") or {}):
                return result["provisioned"][str(device_id)]
    return None


@action("provision", description="Provision devices from their roles (over SSH: files, packages, services; an "
                                 "address allocated if they have none; then marked active). Only devices this run "
                                 "changed, or whose configuration differs from the last one a blueprint installed.",
        schema={"devices": NAMES, "force": {"type": "boolean"}}, required=("devices",),
        describe=lambda a: "Provision")
def provision(sc: StepContext) -> dict:
    from inventory.configuration.plans import role_plan
    from inventory.jobs.plans import ACTIONS as JOB_ACTIONS
    from inventory.jobs.plans import wrap
    from inventory.jobs.runner import JobFailed
    from inventory.jobs.services import require_access

    e, a = sc.engine, sc.args
    done = {}
    for name, device in e.devices(a["devices"]):
        reason = ""
        if device is None or name in e.reprovision:
            reason = "changed by this blueprint"
        elif e.changed_all:
            reason = "tenant-wide configuration changed"
        elif a.get("force"):
            reason = "force"
        elif device.status != "active":
            reason = f"status {device.status}"
        elif last_digest(e.tenant, device.pk) != config_digest(device):
            reason = "configuration differs from the last one a blueprint installed"
        if not reason:
            sc.same("provision", name)
            continue
        sc.change("provision", name, device=device or name, reason=reason, reprovision=False)
        if not sc.apply:
            continue
        _drf(require_access, device, field="args.devices")
        steps = _drf(role_plan, device, {"force": bool(a.get("force"))}, field="args.devices") or wrap([])
        state = {"device": device}
        for step in steps:
            sc.log(f"{name}: {step['name']}")
            try:
                out = JOB_ACTIONS[step["action"]](e.ctx, step, state)
            except JobFailed as exc:
                raise StepFailed(f"{name}: {step['name']}: {exc.args[0]}", "args.devices", {"provisioned": done}) \
                    from None
            if out.get("output"):
                sc.log(f"{name}: {out['output']}")
        done[str(device.pk)] = config_digest(state["device"])
    sc.done["provisioned"] = done
    return {"devices": [n for n, _ in e.devices(a["devices"])]}


def _register_secrets(ctx, device):
    """Every secret the device can use is masked in the job's log and results (and the run's)."""
    from inventory.configuration.plans import _register_secrets as register

    register(ctx, device)


@action("run_command", description="Run a shell command on devices over SSH (when: changed — default, only on "
                                   "devices this run changed — or always).",
        schema={"devices": NAMES, "command": {"type": "string", "minLength": 1, "maxLength": 20000},
                "when": {"enum": ["changed", "always"]}, "timeout": {"type": "integer", "minimum": 1,
                                                                      "maximum": 3600}},
        required=("devices", "command"), describe=lambda a: "Run a command")
def run_command(sc: StepContext) -> dict:
    from django.conf import settings

    from inventory.jobs.remote import execute, ssh_target
    from inventory.jobs.runner import JobFailed

    e, a = sc.engine, sc.args
    ran = {}
    for name, device in e.devices(a["devices"]):
        if a.get("when", "changed") == "changed" and device is not None and name not in e.changed_devices:
            sc.same("run_command", name)
            continue
        sc.change("run_command", name, device=device or name, command=a["command"][:500], reprovision=False)
        if not sc.apply:
            continue
        _register_secrets(e.ctx, device)
        try:
            result = execute(e.ctx, ssh_target(e.ctx, device), a["command"],
                             int(a.get("timeout") or settings.JOBS_COMMAND_TIMEOUT))
        except JobFailed as exc:
            raise StepFailed(f"{name}: {exc.args[0]}", "args.command", {"ran": ran}) from None
        ran[name] = {"exit_status": result.exit_status, "stdout": result.stdout[-2000:]}
        if result.timed_out or result.exit_status != 0:
            last = result.stderr.strip().splitlines()[-1:] or [""]
            raise StepFailed(f"{name}: the command exited with status {result.exit_status}"
                             + (f": {last[0][:300]}" if last[0] else ""), "args.command", {"ran": ran})
    sc.done["ran"] = ran
    return {"ran": sorted(ran)}


@action("wait_for", description="Wait for a mesh's connectivity check to pass (every peer reaches every other: "
                                 "mesh) or for a job to finish successfully (job), up to timeout seconds.",
        schema={"mesh": NAME, "job": {"type": "integer", "minimum": 1},
                "timeout": {"type": "integer", "minimum": 1, "maximum": 3600}}, one_of=("mesh", "job"),
        describe=lambda a: f"Wait for mesh {a['mesh']}" if a.get("mesh") else f"Wait for job {a.get('job')}")
def wait_for(sc: StepContext) -> dict:
    e, a = sc.engine, sc.args
    timeout = a.get("timeout", 120)
    if a.get("mesh"):
        mesh = _mesh(sc, a["mesh"])
        sc.checks.append({"check": "mesh connectivity (full matrix)", "target": a["mesh"], "timeout": timeout})
        if not sc.apply:
            return {"mesh": a["mesh"]}
        return _wait_mesh(sc, mesh, timeout)
    from inventory.jobs.models import Job

    sc.checks.append({"check": "job succeeded", "target": f"job {a['job']}", "timeout": timeout})
    if Job.objects.restrict(e.principal, Action.VIEW).filter(pk=a["job"]).first() is None:
        raise StepFailed(f"no job {a['job']}", "args.job")
    if not sc.apply:
        return {"job": a["job"]}
    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=a["job"])
        if job.is_finished:
            if job.status != "succeeded":
                raise StepFailed(f"job {job.pk} {job.status}: {job.error[:300]}", "args.job")
            return {"job": job.pk, "status": job.status}
        if time.monotonic() > deadline:
            raise StepFailed(f"job {job.pk} still {job.status} after {timeout} s", "args.timeout")
        e.ctx.check_cancel()
        time.sleep(1)


def _wait_mesh(sc: StepContext, mesh, timeout: int) -> dict:
    from inventory.mesh import config
    from inventory.mesh.jobs import check_mesh

    deadline = time.monotonic() + timeout
    while True:
        peers = config.peers_of(mesh)
        result = check_mesh(sc.engine.ctx, mesh, peers)
        if result["pairs"] and result["reachable_pairs"] == result["pairs"]:
            sc.log(f"Mesh {mesh.name}: {result['reachable_pairs']} of {result['pairs']} peer pairs reach each other.")
            sc.done["matrix"] = result["matrix"]
            return {"mesh": mesh.name, "reachable_pairs": result["reachable_pairs"], "pairs": result["pairs"]}
        if time.monotonic() > deadline:
            why = "; ".join(f"{d['from_device']} → {d['to_device']}: {d['diagnosis']}" for d in result["diagnoses"][:5])
            raise StepFailed(f"mesh {mesh.name}: {result['reachable_pairs']} of {result['pairs']} peer pairs reach "
                             f"each other after {timeout} s" + (f" ({why})" if why else ""), "args.mesh")
        sc.engine.ctx.check_cancel()
        time.sleep(2)


@action("output", description="Values returned to the caller (rendered from params and steps).",
        schema={"values": {"type": "object"}}, required=("values",), describe=lambda a: "Outputs")
def output(sc: StepContext) -> dict:
    return dict(sc.args["values"])

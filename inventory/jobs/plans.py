"""Provisioning plans: a plan is a list of steps, run in order by :func:`run_plan`.

A step is a dict ``{"name": str, "action": str, ...}``; actions are registered with
:func:`action` (built in: ``allocate_address``, ``ssh`` with a ``script`` template and an
optional ``timeout``, ``set_status`` with a ``status``). Plans come from providers
(``settings.JOBS_PLAN_PROVIDERS``: callables ``(device, params) -> list[step] | None``, the
first that answers wins), so roles, variables and blueprints can supply their own steps and
actions. The plan is frozen into the job's params when the job is created, and each step's
outcome is kept in ``job.result["steps"]``; a job run again after a worker crash resumes at
the first step that did not finish.

Script templates use Django template syntax, rendered without HTML escaping, with plain
data (never model objects): ``device`` (name, status, os, make_model, location, username,
domains, facts, tags, datacenter), ``address`` (primary address), ``addresses``, ``network``,
``tenant``, ``variables`` and ``job``. The ``shquote`` filter quotes a value for the shell:
``hostnamectl set-hostname {{ device.name|shquote }}``.
"""

from __future__ import annotations

import shlex

from django.conf import settings
from django.template import Context, Engine, Library, TemplateSyntaxError
from django.utils.module_loading import import_string

from inventory.models import Device, DeviceStatus, IPPool, Network
from inventory.tenancy import Principal

from .remote import execute, primary_address, ssh_target
from .runner import Cancelled, JobContext, JobFailed

DEFAULT_SCRIPTS = [
    {"name": "Check access", "script": "id -un && uname -a"},
    {"name": "Report identity", "script": "echo device={{ device.name|shquote }} address={{ address|shquote }}"},
]

# --- templates ---------------------------------------------------------------------------
register = Library()
register.filter("shquote", lambda value: shlex.quote(str(value)))
_engine = None


def engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = Engine(autoescape=False, builtins=["inventory.jobs.plans"], string_if_invalid="")
    return _engine


def check_template(text: str) -> None:
    try:
        engine().from_string(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"Template error: {exc}") from None


def render(text: str, data: dict) -> str:
    try:
        return engine().from_string(text).render(Context(data, autoescape=False))
    except TemplateSyntaxError as exc:
        raise JobFailed(f"Template error: {exc}") from None


def template_data(device: Device, job, variables: dict | None = None) -> dict:
    addresses = list(device.addresses.select_related("network").order_by("created", "pk"))
    network = addresses[0].network if addresses and addresses[0].network_id else None
    return {
        "device": {
            "id": device.pk, "name": device.name, "status": device.status, "os": device.os,
            "make_model": device.make_model, "location": device.location, "username": device.username,
            "domains": list(device.domains), "facts": device.facts, "tags": [t.name for t in device.tags.all()],
            "datacenter": device.datacenter.name if device.datacenter_id else "",
        },
        "address": addresses[0].address if addresses else "",
        "addresses": [a.address for a in addresses],
        "network": {"name": network.name, "subnet": network.subnet, "vlan_id": network.vlan_id} if network else {},
        "tenant": {"id": device.tenant_id, "name": device.tenant.name, "slug": device.tenant.slug},
        "variables": variables or {},
        "job": {"id": job.pk},
    }


# --- plans -------------------------------------------------------------------------------
def script_steps(scripts: list[dict]) -> list[dict]:
    return [{"name": s["name"], "action": "ssh", "script": s["script"],
             **({"timeout": s["timeout"]} if s.get("timeout") else {})} for s in scripts]


def wrap(steps: list[dict]) -> list[dict]:
    """Every plan allocates a primary address first and marks the device active last."""
    return ([{"name": "Allocate a primary address", "action": "allocate_address"}] + steps
            + [{"name": "Mark the device active", "action": "set_status", "status": DeviceStatus.ACTIVE}])


def default_plan(device: Device, params: dict) -> list[dict]:
    return wrap(script_steps(getattr(settings, "JOBS_PROVISIONING_SCRIPTS", None) or DEFAULT_SCRIPTS))


def build_plan(device: Device, params: dict, scripts: list[dict] | None = None) -> list[dict]:
    if scripts:
        steps = wrap(script_steps(scripts))
    else:
        steps = None
        for path in settings.JOBS_PLAN_PROVIDERS:
            steps = import_string(path)(device, params)
            if steps is not None:
                break
        steps = steps or default_plan(device, params)
    for step in steps:
        if not isinstance(step, dict) or not step.get("name") or step.get("action") not in ACTIONS:
            raise ValueError(f"Invalid plan step {step!r}: needs a name and one of the actions {sorted(ACTIONS)}.")
    return steps


# --- actions -----------------------------------------------------------------------------
ACTIONS: dict = {}


def action(name: str):
    def register_action(fn):
        ACTIONS[name] = fn
        return fn

    return register_action


@action("allocate_address")
def allocate_address(ctx: JobContext, step: dict, state: dict) -> dict:
    """Give the device a primary address from the chosen network (or its datacenter's) if it has none."""
    from rest_framework.exceptions import APIException

    from inventory.services.allocation import allocate_next_ip

    device = state["device"]
    current = primary_address(device)
    if current:
        return {"output": f"{device} already has {current}.", "address": current}
    job = ctx.job
    if job.created_by is None:
        raise JobFailed("The job has no user to allocate an address as.")
    principal = Principal(job.created_by, tenant_ids=[job.tenant_id])
    networks = Network.objects.restrict(principal, "view")
    if job.params.get("network"):
        networks = networks.filter(pk=job.params["network"])
    elif device.datacenter_id:
        networks = networks.filter(datacenter_id=device.datacenter_id, tenant_id=device.tenant_id)
    else:
        raise JobFailed(f"{device} has no address, no datacenter and no network was given to allocate one from.")
    tried = []
    for network in networks.order_by("name"):
        for target in [*IPPool.objects.filter(network=network).order_by("start_key"), network]:
            try:
                row = allocate_next_ip(principal, target, device=device, description=f"provisioning job {job.pk}")
            except APIException as exc:
                tried.append(f"{target}: {exc.detail}")
                continue
            return {"output": f"Allocated {row.address} in {network}.", "address": row.address}
    raise JobFailed("No free address: " + ("; ".join(tried) if tried else "no network to allocate from."))


@action("ssh")
def ssh_step(ctx: JobContext, step: dict, state: dict) -> dict:
    data = template_data(state["device"], ctx.job, ctx.job.params.get("variables"))
    script = render(step["script"], data)
    target = ssh_target(ctx, state["device"])
    timeout = int(step.get("timeout") or settings.JOBS_COMMAND_TIMEOUT)
    result = execute(ctx, target, script, timeout)
    out = {"script": script, **result.as_dict()}
    if result.timed_out:
        raise JobFailed(f"timed out after {timeout} s", out)
    if result.exit_status != 0:
        raise JobFailed(f"exited with status {result.exit_status}"
                        + (f": {result.stderr.strip().splitlines()[-1][:300]}" if result.stderr.strip() else ""), out)
    return out


@action("set_status")
def set_status(ctx: JobContext, step: dict, state: dict) -> dict:
    device = Device.objects.get(pk=state["device"].pk)
    device.status = step.get("status", DeviceStatus.ACTIVE)
    device.save()  # audited
    state["device"] = device
    return {"output": f"{device} is now {device.status}."}


def run_plan(ctx: JobContext, steps: list[dict], state: dict) -> None:
    results = ctx.job.result.get("steps")
    if not results or len(results) != len(steps):
        results = [{"name": s["name"], "action": s["action"], "status": "pending"} for s in steps]
    ctx.save_result(steps=results)
    total = len(steps)
    for i, step in enumerate(steps):
        if results[i]["status"] == "succeeded":
            ctx.log(f"Step {i + 1}/{total} '{step['name']}' already done (resumed run).")
            continue
        ctx.check_cancel()
        ctx.progress(i * 100 / total, f"Step {i + 1}/{total}: {step['name']}")
        ctx.log(f"Step {i + 1}/{total}: {step['name']}")
        results[i] = {"name": step["name"], "action": step["action"], "status": "running"}
        ctx.save_result(steps=results)
        try:
            out = ACTIONS[step["action"]](ctx, step, state)
        except Cancelled:
            results[i]["status"] = "cancelled"
            ctx.save_result(steps=results)
            raise
        except JobFailed as exc:
            results[i].update(status="failed", error=str(exc.args[0]), **(exc.args[1] if len(exc.args) > 1 else {}))
            ctx.save_result(steps=results)
            raise JobFailed(f"Step {i + 1} '{step['name']}' failed: {exc.args[0]}") from None
        results[i].update(status="succeeded", **out)
        ctx.save_result(steps=results)
        if out.get("output"):
            ctx.log(out["output"])

"""MCP tools for jobs, discovery, provisioning and commands (mcp_gateway.registry).

Tools that start work return the job at once (``job_id``), or, given ``wait`` (or a progress
token), wait for it with progress notifications (``follow``, see mcp_gateway.registry); ``job_get``
long-polls the same way. Results come from the same serializers as REST, so no credential
can appear in them.
"""

from __future__ import annotations

from dataclasses import replace

from mcp_gateway.registry import Conflict, InvalidParams, Tool, ToolContext, register
from mcp_gateway.schema import serializer_schema
from mcp_gateway.tools.factories import fk_renames, only_fields, page_arguments, paged

from . import services
from .models import JobKind, JobStatus
from .serializers import (CommandRequestSerializer, DiscoveredDeviceSerializer, JobDetailSerializer, JobSerializer,
                          ProvisionRequestSerializer, ScanRequestSerializer)

#: service field name -> tool argument name: the foreign keys of the request serializers, as
#: ``<name>_id`` (field errors are renamed once, by mcp_gateway.registry.tool_error)
_ARG_NAMES = {old: new for serializer in (ScanRequestSerializer, CommandRequestSerializer, ProvisionRequestSerializer)
              for old, new in fk_renames(serializer).items()}
_FIELD_NAMES = {arg: name for name, arg in _ARG_NAMES.items()}


def _data(args: dict) -> dict:
    """Tool arguments as the service's request serializer takes them."""
    return {_FIELD_NAMES.get(k, k): v for k, v in args.items()}


def _request_schema(serializer_class) -> dict:
    """A job-starting tool's input schema: its REST request serializer's, under the tool's names."""
    return serializer_schema(serializer_class(context={"principal": None}), mode="input", rename=_ARG_NAMES)


def _started(job) -> dict:
    return {"job_id": job.pk, "status": job.status, "kind": job.kind, "target": job.target,
            "message": f"Job {job.pk} queued; follow it with job_get(id={job.pk})."}


def _int(description: str) -> dict:
    return {"type": "integer", "minimum": 1, "description": description}


def _obj(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


# --- discovery ---------------------------------------------------------------------------
def discovery_scan(ctx: ToolContext, args: dict) -> dict:
    return _started(services.start_scan(ctx.principal, _data(args)))


def discovery_list(ctx: ToolContext, args: dict) -> dict:
    qs = services.visible_discoveries(ctx.principal, args.get("network_id"))
    return paged(args, qs, lambda page: only_fields(DiscoveredDeviceSerializer(page, many=True).data, args.get("fields")))


def discovery_promote(ctx: ToolContext, args: dict) -> dict:
    device = services.promote(ctx.principal, args["discovered_id"], args["name"])
    found = services.visible_discoveries(ctx.principal).get(pk=args["discovered_id"])
    return {"device_id": device.pk, "device_name": device.name, "discovered": DiscoveredDeviceSerializer(found).data}


# --- provisioning and commands -----------------------------------------------------------
def provisioning_trigger(ctx: ToolContext, args: dict) -> dict:
    data = {"device": args["device_id"]}
    if args.get("network_id"):
        data["network"] = args["network_id"]
    if args.get("force"):
        data["force"] = True
    return _started(services.start_provisioning(ctx.principal, data))


def provisioning_status(ctx: ToolContext, args: dict) -> dict:
    job = services.get_job(ctx.principal, args["job_id"])
    if job.kind != JobKind.PROVISIONING:
        raise InvalidParams("Not a provisioning job.", {"job_id": [f"Job {job.pk} is a {job.kind} job."]})
    steps = job.result.get("steps") or [{"name": s["name"], "action": s["action"], "status": "pending"}
                                        for s in job.params.get("plan", [])]
    return {"job_id": job.pk, "device_id": job.device_id, "status": job.status, "progress": job.progress,
            "step": job.step, "error": job.error, "steps": steps}


def command_execute(ctx: ToolContext, args: dict) -> dict:
    return _started(services.start_command(ctx.principal, _data(args)))


# --- jobs --------------------------------------------------------------------------------
def job_get(ctx: ToolContext, args: dict) -> dict:
    job = services.get_job(ctx.principal, args["id"])
    return JobDetailSerializer(job, context={"log_after": args.get("log_after") or 0}).data


def job_list(ctx: ToolContext, args: dict) -> dict:
    qs = services.visible_jobs(ctx.principal)
    if args.get("status"):
        qs = qs.filter(status=args["status"])
    if args.get("kind"):
        qs = qs.filter(kind=args["kind"])
    return paged(args, qs, lambda page: only_fields(JobSerializer(page, many=True).data, args.get("fields")))


def job_cancel(ctx: ToolContext, args: dict) -> dict:
    return JobSerializer(services.cancel_job(ctx.principal, args["id"])).data


def job_cancel_impact(ctx: ToolContext, args: dict):
    """What job_cancel would do (the job is not touched, no task is revoked)."""
    from inventory.tenancy import Action

    from mcp_gateway.confirm import Impact

    job = services.get_for(ctx.principal, services.Job, args["id"], Action.EXECUTE)
    if job.status in services.FINISHED:
        raise Conflict(f"Job {job.pk} has already finished ({job.status}).")
    verb = "cancels" if job.status == JobStatus.QUEUED else "asks to stop"
    return Impact(summary=f"{verb} {job.kind} job {job.pk} ({job.status}, target {job.target})",
                  tenant_id=job.tenant_id, result=JobSerializer(job).data)


def _snapshot(ctx: ToolContext, job_id, done) -> dict:
    job = services.get_job(ctx.principal, job_id)
    return {"done": done(job), "progress": job.progress, "total": 100,
            "message": job.step or job.status, "job": job}


def follow_started(ctx: ToolContext, args: dict, first: dict) -> dict:
    """Tools that start a job: done when it finishes; the answer is then the finished job
    (status, result, error), else the start answer with the current status."""
    snap = _snapshot(ctx, first["job_id"], lambda job: job.status in services.FINISHED)
    job = snap.pop("job")
    if snap["done"]:
        detail = JobDetailSerializer(job, context={"log_after": 0}).data
        snap["result"] = {**first, "status": job.status, "message": f"Job {job.pk} {job.status}.",
                          "job": {k: detail[k] for k in ("id", "status", "progress", "step", "error", "result",
                                                         "started", "finished")}}
    else:
        snap["result"] = {**first, "status": job.status, "progress": job.progress, "step": job.step,
                          "message": f"Job {job.pk} is still {job.status}; follow it with job_get(id={job.pk}, wait=...)."}
    return snap


def follow_get(ctx: ToolContext, args: dict, first: dict) -> dict:
    """job_get: done when the status changes (or the job finished); the answer is the job then."""
    snap = _snapshot(ctx, args["id"], lambda job: job.status != first.get("status") or job.status in services.FINISHED)
    job = snap.pop("job")
    snap["result"] = job_get(ctx, args) if snap["done"] or job.progress != first.get("progress") else first
    return snap


def _page(serializer) -> dict:
    return page_arguments(serializer.Meta.fields, None)


def _command_secrets(args: dict, principal=None) -> set[str]:
    """The device's known secrets, masked in the audit row of the call (a password typed into
    the command), whether or not the caller may see the device: masking reveals nothing."""
    from inventory.models import Device

    from .masking import device_secrets

    device_id = args.get("device_id")
    if not isinstance(device_id, int) or isinstance(device_id, bool) or not 0 < device_id < 2**63:
        return set()
    return device_secrets(Device.objects.filter(pk=device_id).first())


# Starting a job is not atomic here: the job service commits the job, then hands it to the broker,
# and answers UNAVAILABLE (job kept in the outbox) when the broker does not take it.
TOOLS = [
    Tool(name="discovery_scan", title="Scan a network",
         description="Start a discovery scan of a network (TCP connect; quick: common ports, full: 1-1024 and "
                     "common higher ports, deep: full plus service banners). Returns the job id at once.",
         group="discovery", action="execute", handler=discovery_scan, follow=follow_started, open_world=True, atomic=False,
         input_schema=_request_schema(ScanRequestSerializer)),
    Tool(name="discovery_list", title="List discovered hosts",
         description="Hosts found by discovery scans (ip, hostname, MAC, open ports, banners, promoted device).",
         group="discovery", action="view", handler=discovery_list, read_only=True, idempotent=True,
         input_schema=_obj({"network_id": _int("Only this network."), **_page(DiscoveredDeviceSerializer)}, [])),
    Tool(name="discovery_promote", title="Promote a discovered host to a device",
         description="Create a device with the discovered address (in its network) and link it. "
                     "A host can be promoted once (CONFLICT afterwards).",
         group="discovery", action="add", handler=discovery_promote,
         input_schema=_obj({"discovered_id": _int("Discovered host id (discovery_list)."),
                            "name": {"type": "string", "minLength": 1, "maxLength": 100,
                                     "description": "Name of the new device."}},
                           ["discovered_id", "name"])),
    Tool(name="provisioning_trigger", title="Provision a device",
         description="Run the device's provisioning plan over SSH (allocate a primary address if it has none, "
                     "run the steps of its roles (role_test first; a failing role refuses unless force) or the "
                     "default scripts, mark it active). Returns the job id at once.",
         group="provisioning", action="execute", handler=provisioning_trigger, follow=follow_started, open_world=True, atomic=False,
         input_schema=_obj({"device_id": _int("Device to provision."),
                            "network_id": _int("Network to allocate the primary address from (optional)."),
                            "force": {"type": "boolean", "default": False,
                                      "description": "Run the device's roles even if one fails its role test."}},
                           ["device_id"])),
    Tool(name="provisioning_status", title="Provisioning status",
         description="Status, progress and each step's outcome of a provisioning job.",
         group="provisioning", action="view", handler=provisioning_status, read_only=True, idempotent=True,
         input_schema=_obj({"job_id": _int("Provisioning job id.")}, ["job_id"])),
    Tool(name="command_execute", title="Run a command on a device",
         description="Run a shell command on a device over SSH (pinned host key). Returns the job id at once; "
                     "job_get gives exit status, stdout and stderr (size-capped, truncation noted).",
         group="commands", action="execute", handler=command_execute, follow=follow_started, open_world=True, destructive=True,
         atomic=False,
         secret_values=_command_secrets,
         input_schema=_request_schema(CommandRequestSerializer)),
    Tool(name="job_get", title="Get a job",
         description="A job with status, progress, result (command output, scan summary, provisioning steps) "
                     "and log lines (log_after: only newer lines).",
         group="jobs", action="view", handler=job_get, follow=follow_get, read_only=True, idempotent=True,
         input_schema=_obj({"id": _int("Job id."), "log_after": {"type": "integer", "minimum": 0}}, ["id"])),
    Tool(name="job_list", title="List jobs",
         description="Jobs you can see, newest first, optionally by status and kind.",
         group="jobs", action="view", handler=job_list, read_only=True, idempotent=True,
         input_schema=_obj({"status": {"type": "string", "enum": JobStatus.values},
                            "kind": {"type": "string", "enum": JobKind.values}, **_page(JobSerializer)}, [])),
    Tool(name="job_cancel", title="Cancel a job",
         description="Cancel a queued job (it never starts) or ask a running one to stop at its next host/step.",
         group="jobs", action="execute", handler=job_cancel, impact=job_cancel_impact,
         input_schema=_obj({"id": _int("Job id.")}, ["id"])),
]

for _tool in TOOLS:
    register(replace(_tool, renames=_ARG_NAMES))

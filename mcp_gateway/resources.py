"""MCP resources and prompts over the same tenancy as the tools.

Resources (templates in ``resources/templates/list``; ``resources/list`` pages through the
concrete ones, at most ``PAGE`` per page, tenants first):

- ``inventory://devices/{id}``, ``inventory://networks/{id}``, ``inventory://pools/{id}``: the
  object as its REST serializer renders it (JSON; ``url`` values absolute);
- ``inventory://jobs/{id}``: the job's status, progress, result and log, as text;
- ``inventory://tenants/{id}/summary``: what a tenant holds (JSON counts).

Each read goes through ``Model.objects.restrict(principal, "view")`` with the principal narrowed
to the tenants where the kind's tool group is enabled, after the same scope check as a tool
(``inventory:read``): another tenant's object is "not found", whatever the URI.

Subscriptions (``resources/subscribe``) need a session that can carry notifications (stdio, the
``/mcp/sse`` transport): while subscribed, a ``notifications/resources/updated`` goes out when the
resource changes (a job: status, progress or new log lines), until it is unsubscribed, the job
finishes, or the session ends. Stateless HTTP answers that it has no session.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from dataclasses import dataclass
from typing import Callable

import mcp_types as types
from django.conf import settings
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST

from inventory.tenancy import Action, Principal

from .policy import GroupPolicy

logger = logging.getLogger(__name__)

PAGE = 100
#: -32002: the spec's "resource not found"
RESOURCE_NOT_FOUND = -32002
MAX_SUBSCRIPTIONS = 20
WATCH_SECONDS = 3600
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Kind:
    name: str  # the URI segment: inventory://<name>/{id}
    label: str
    group: str
    model: Callable  # () -> model class (lazy: apps load first)
    render: Callable  # (obj, principal) -> (mime type, text)
    title: Callable = str  # obj -> resource title
    suffix: str = ""  # "/summary"


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False, default=str, indent=1)


def _serialized(serializer_path: str):
    def render(obj, principal):
        module, name = serializer_path.rsplit(".", 1)
        import importlib

        serializer = getattr(importlib.import_module(module), name)
        data = serializer(obj, context={"principal": principal, "base_url": settings.PUBLIC_URL}).data
        return "application/json", _json(data)

    return render


def _job_text(job, principal):
    lines = [f"Job {job.pk}: {job.kind} of {job.target}", f"status: {job.status}", f"progress: {job.progress}%"]
    if job.step:
        lines.append(f"step: {job.step}")
    if job.error:
        lines.append(f"error: {job.error}")
    for label, value in (("created", job.created), ("started", job.started), ("finished", job.finished)):
        if value:
            lines.append(f"{label}: {value.isoformat()}")
    if job.result:
        lines.append("result: " + json.dumps(job.result, ensure_ascii=False, default=str))
    lines.append("")
    lines.append("log:")
    for line in job.log_lines.order_by("id")[:2000]:
        lines.append(str(line))
    return "text/plain", "\n".join(lines)


def _tenant_summary(tenant, principal):
    from inventory.models import Datacenter, Device, IPAddress, IPPool, Network

    from inventory.jobs.models import Job

    counts = {}
    for label, model in (("devices", Device), ("datacenters", Datacenter), ("networks", Network),
                         ("pools", IPPool), ("ip_addresses", IPAddress), ("jobs", Job)):
        counts[label] = model.objects.restrict(principal, Action.VIEW).filter(tenant=tenant).count()
    role = principal.roles.get(tenant.pk)
    return "application/json", _json({"id": tenant.pk, "name": tenant.name, "slug": getattr(tenant, "slug", ""),
                                      "your_role": str(role) if role else None, "counts": counts})


def _model(path):
    def get():
        import importlib

        module, name = path.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)

    return get


KINDS = [
    Kind("tenants", "Tenant summary", "tenants", _model("inventory.models.Tenant"), _tenant_summary,
         title=lambda t: f"{t.name}: summary", suffix="/summary"),
    Kind("networks", "Network", "ipam", _model("inventory.models.Network"),
         _serialized("inventory.api.serializers.NetworkSerializer"), title=lambda n: f"Network {n}"),
    Kind("pools", "IP pool", "ipam", _model("inventory.models.IPPool"),
         _serialized("inventory.api.serializers.IPPoolSerializer"), title=lambda p: f"Pool {p}"),
    Kind("devices", "Device", "inventory", _model("inventory.models.Device"),
         _serialized("inventory.api.serializers.DeviceSerializer"), title=lambda d: f"Device {d}"),
    Kind("jobs", "Job log", "jobs", _model("inventory.jobs.models.Job"), _job_text,
         title=lambda j: f"Job {j.pk} ({j.kind}, {j.status})"),
]
BY_NAME = {k.name: k for k in KINDS}
URI = re.compile(r"inventory://(?P<kind>[a-z]+)/(?P<id>[0-9]{1,18})(?P<suffix>/summary)?")


def uri_of(kind: Kind, pk) -> str:
    return f"inventory://{kind.name}/{pk}{kind.suffix}"


def templates() -> list[types.ResourceTemplate]:
    return [types.ResourceTemplate(
        uri_template=f"inventory://{k.name}/{{id}}{k.suffix}", name=f"{k.name}{k.suffix.replace('/', '_')}",
        title=k.label, description=f"{k.label} by id ({'text log' if k.name == 'jobs' else 'JSON'}).",
        mime_type="text/plain" if k.name == "jobs" else "application/json") for k in KINDS]


def _checked(principal: Principal | None) -> Principal:
    if principal is None or not principal.is_authenticated:
        raise MCPError(INVALID_REQUEST, "The credential is missing, invalid, expired or revoked.")
    missing = principal.missing_scopes(Action.VIEW)
    if missing:
        raise MCPError(INVALID_REQUEST, f"This needs the scope {', '.join(missing)}.")
    return principal


def _narrowed(principal: Principal, kind: Kind) -> Principal:
    return GroupPolicy(principal).narrow(kind.group)


def _cursor(kind_index: int, after: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind_index, after]).encode()).decode()


def _parse_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    try:
        kind_index, after = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(kind_index, int) and isinstance(after, int) and 0 <= kind_index < len(KINDS) and after >= 0):
            raise ValueError
    except (ValueError, TypeError):
        raise MCPError(INVALID_PARAMS, "Invalid cursor.") from None
    return kind_index, after


def list_page(principal: Principal | None, cursor: str | None) -> types.ListResourcesResult:
    """One page (at most PAGE) of the resources the principal may read, kind by kind, by id."""
    principal = _checked(principal)
    kind_index, after = _parse_cursor(cursor)
    out: list[types.Resource] = []
    while kind_index < len(KINDS) and len(out) < PAGE:
        kind = KINDS[kind_index]
        model = kind.model()
        qs = model.objects.restrict(_narrowed(principal, kind), Action.VIEW).filter(pk__gt=after).order_by("pk")
        rows = list(qs[:PAGE - len(out) + 1])
        more = len(rows) > PAGE - len(out)
        rows = rows[:PAGE - len(out)]
        for obj in rows:
            out.append(types.Resource(uri=uri_of(kind, obj.pk), name=f"{kind.name}-{obj.pk}", title=kind.title(obj),
                                      mime_type="text/plain" if kind.name == "jobs" else "application/json"))
        if more:
            return types.ListResourcesResult(resources=out, next_cursor=_cursor(kind_index, rows[-1].pk))
        kind_index, after = kind_index + 1, 0
    next_cursor = _cursor(kind_index, 0) if kind_index < len(KINDS) else None
    return types.ListResourcesResult(resources=out, next_cursor=next_cursor)


def resolve(uri: str) -> tuple[Kind, int]:
    match = URI.fullmatch(uri or "")
    kind = BY_NAME.get(match["kind"]) if match else None
    if kind is None or (match["suffix"] or "") != kind.suffix:
        raise MCPError(RESOURCE_NOT_FOUND, f"Unknown resource: {uri}", {"uri": uri})
    return kind, int(match["id"])


def _get(principal: Principal, kind: Kind, pk: int):
    model = kind.model()
    obj = model.objects.restrict(_narrowed(principal, kind), Action.VIEW).filter(pk=pk).first()
    if obj is None:
        raise MCPError(RESOURCE_NOT_FOUND, f"No {kind.label.lower()} with id {pk} (or it is not visible to you).",
                       {"uri": uri_of(kind, pk)})
    return obj


def read(principal: Principal | None, uri: str) -> types.ReadResourceResult:
    principal = _checked(principal)
    kind, pk = resolve(uri)
    mime, text = kind.render(_get(principal, kind, pk), principal)
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])


def version(principal: Principal | None, uri: str):
    """What changes when the resource changes (what subscriptions watch); None once it is gone."""
    principal = _checked(principal)
    kind, pk = resolve(uri)
    try:
        obj = _get(principal, kind, pk)
    except MCPError:
        return None
    if kind.name == "jobs":
        return (obj.status, obj.progress, obj.step, obj.log_lines.count(), obj.status in _finished())
    return (getattr(obj, "updated", None),)


def _finished():
    from inventory.jobs.models import FINISHED

    return FINISHED


# --- subscriptions --------------------------------------------------------------------------
class Subscriptions:
    """Watchers of subscribed resources, per session (asyncio tasks of the serving process)."""

    def __init__(self):
        self.tasks: dict[tuple[int, str], asyncio.Task] = {}

    def subscribe(self, session, uri: str, principal_fn, run_sync) -> None:
        key = (id(session), uri)
        if key in self.tasks and not self.tasks[key].done():
            return
        mine = [k for k, t in self.tasks.items() if k[0] == id(session) and not t.done()]
        if len(mine) >= MAX_SUBSCRIPTIONS:
            raise MCPError(INVALID_REQUEST, f"At most {MAX_SUBSCRIPTIONS} subscriptions per session.")
        self.tasks[key] = asyncio.get_running_loop().create_task(self._watch(session, uri, principal_fn, run_sync))

    def unsubscribe(self, session, uri: str) -> None:
        task = self.tasks.pop((id(session), uri), None)
        if task is not None:
            task.cancel()

    async def _watch(self, session, uri, principal_fn, run_sync):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WATCH_SECONDS
        try:
            last = await run_sync(lambda: version(principal_fn(), uri))
            while loop.time() < deadline and last is not None:
                await asyncio.sleep(POLL_SECONDS)
                current = await run_sync(lambda: version(principal_fn(), uri))
                if current != last:
                    await session.send_resource_updated(uri)
                    last = current
                    if current is not None and current[-1] is True and uri.startswith("inventory://jobs/"):
                        break  # a finished job changes no more
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the session went away, the credential was revoked, ...
            logger.info("resource watch of %s ended", uri, exc_info=True)
        finally:
            self.tasks.pop((id(session), uri), None)


subscriptions = Subscriptions()


# --- prompts --------------------------------------------------------------------------------
PROMPTS = {
    "investigate_ip": (
        "Investigate an IP address", [("address", "The IP address, e.g. 10.1.0.15", True)],
        "Investigate the IP address {address} in the inventory. Use `search` with the address to find the device "
        "holding it and the networks containing it; read the network (`network_get` or the resource "
        "inventory://networks/{{id}}) and its pools; say who owns it (tenant), whether it is allocated, reserved or "
        "free, what device and interface hold it, and anything inconsistent (an address outside its network, a "
        "device without a primary address). Do not change anything."),
    "audit_tenant": (
        "Audit a tenant", [("tenant", "Tenant id or name", True)],
        "Audit the tenant {tenant}. Find it with `tenant_list` (read inventory://tenants/{{id}}/summary for its "
        "counts). Then check, with the list tools (limit/offset paging): devices without a primary address or "
        "without a datacenter, networks without pools or nearly full (`network_get` utilisation), pools that are "
        "exhausted, failed jobs (`job_list` status=failed). Report findings grouped by severity, with ids. Do not "
        "change anything."),
    "plan_provisioning": (
        "Plan a device's provisioning", [("device", "Device id or name", True)],
        "Plan the provisioning of device {device}. Find it (`search` or `device_list` query=...), read it "
        "(`device_get`), check it has SSH access and a network to take an address from, and show the plan "
        "`provisioning_trigger` would run with `dry_run: true` (nothing is started). List what is missing and the "
        "exact calls to make; start nothing without the user's go-ahead."),
    "explain_job": (
        "Explain a job", [("job_id", "Job id", True)],
        "Explain job {job_id}: read inventory://jobs/{job_id} (or `job_get`), say what it did step by step, how it "
        "ended and why, and, if it failed, the most likely cause and what to do next."),
}


def prompt_list() -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[
        types.Prompt(name=name, title=title, description=text.split(".")[0].format(**{a: f"<{a}>" for a, _d, _r in args}),
                     arguments=[types.PromptArgument(name=a, description=d, required=r) for a, d, r in args])
        for name, (title, args, text) in PROMPTS.items()])


def prompt_get(name: str, arguments: dict | None) -> types.GetPromptResult:
    if name not in PROMPTS:
        raise MCPError(INVALID_PARAMS, f"Unknown prompt: {name}")
    title, args, text = PROMPTS[name]
    arguments = arguments or {}
    missing = [a for a, _d, required in args if required and not str(arguments.get(a, "")).strip()]
    if missing:
        raise MCPError(INVALID_PARAMS, f"Missing argument(s): {', '.join(missing)}.")
    unknown = sorted(set(arguments) - {a for a, _d, _r in args})
    if unknown:
        raise MCPError(INVALID_PARAMS, f"Unknown argument(s): {', '.join(unknown)}.")
    values = {a: str(arguments.get(a, "")).strip()[:200] for a, _d, _r in args}
    if name == "explain_job" and not values["job_id"].isdigit():
        raise MCPError(INVALID_PARAMS, "job_id must be a job id (digits).")
    return types.GetPromptResult(description=title, messages=[
        types.PromptMessage(role="user", content=types.TextContent(type="text", text=text.format(**values)))])

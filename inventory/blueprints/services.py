"""Blueprint operations shared by REST, MCP and the admin (a Principal first; DRF errors: 400
field errors, 403, 404 outside the principal's view, 409 conflicts).

Visibility: private blueprints in the principal's tenants; official ones; listed community
copies (unlisted ones: superusers only). Writing private ones: the tenant's operator role (add,
change), admin for deletes and publishing. Using one runs in a tenant where the principal may
execute jobs (operator, ``jobs:execute``).
"""

from __future__ import annotations

import json
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import exceptions

from inventory.models import Tenant
from inventory.services.common import Conflict, as_drf_validation_error, forbidden
from inventory.tenancy import Action, Principal

from . import documents
from .engine import Engine
from .models import Blueprint, BlueprintRun, RunStatus, Source


class ConfirmationRequired(Conflict):
    default_code = "confirmation_required"


def _semver_key(version: str):
    main = re.split(r"[-+]", version)[0]
    return tuple(int(p) for p in main.split(".")) + ((1,) if "-" not in version else (0,))


def visible(principal: Principal):
    qs = Blueprint.objects.restrict(principal, Action.VIEW).select_related("tenant")
    if not principal.is_superuser:
        qs = qs.exclude(source=Source.COMMUNITY, listed=False)
    return qs


def catalog(principal: Principal, source: str | None = None, query: str | None = None):
    qs = visible(principal)
    if source:
        if source not in Source.values:
            raise exceptions.ValidationError({"source": [f"One of {', '.join(Source.values)}."]})
        qs = qs.filter(source=source)
    if query:
        from django.db.models import Q

        qs = qs.filter(Q(name__icontains=query) | Q(title__icontains=query) | Q(description__icontains=query))
    return qs.order_by("name", "source", "-id")


def find(principal: Principal, name: str, source: str | None = None, version: str | None = None,
         tenant=None) -> Blueprint:
    """The blueprint ``name`` as the principal sees it: a private one of theirs first, then the
    official one, then the community's (its newest version unless ``version``)."""
    qs = visible(principal).filter(name=name)
    if source:
        if source not in Source.values:
            raise exceptions.ValidationError({"source": [f"One of {', '.join(Source.values)}."]})
        qs = qs.filter(source=source)
    if tenant is not None:
        from django.db.models import Q

        qs = qs.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
    rows = list(qs)
    if version:
        rows = [r for r in rows if r.version == version]
    order = {Source.PRIVATE: 0, Source.OFFICIAL: 1, Source.COMMUNITY: 2}
    rows.sort(key=lambda r: (order[r.source], tuple(-x for x in _semver_key(r.version))))
    if not rows:
        where = f" ({source})" if source else ""
        raise exceptions.NotFound(f"No blueprint named {name!r}{where}" + (f" version {version}" if version else "")
                                  + " that you can see.")
    private = [r for r in rows if r.source == Source.PRIVATE]
    if len({r.tenant_id for r in private}) > 1:
        raise exceptions.ValidationError({"tenant": [f"Several of your tenants have a blueprint {name!r}; give the "
                                                     "tenant."]})
    return rows[0]


def get_by_id(principal: Principal, pk, action: str = Action.VIEW) -> Blueprint:
    try:
        bp = visible(principal).get(pk=pk)
    except (Blueprint.DoesNotExist, ValueError, TypeError):
        raise exceptions.NotFound(f"No blueprint with id {pk!r}.") from None
    if action != Action.VIEW:
        _require_private(principal, action, bp)
    return bp


def _require_private(principal: Principal, action: str, bp: Blueprint):
    if bp.source != Source.PRIVATE:
        raise exceptions.PermissionDenied(f"{bp} is {bp.source}: read-only (import it as a private copy to change it).")
    if not principal.can(action, bp):
        raise forbidden(principal, action, "this blueprint")


def _tenant(principal: Principal, tenant, action: str, what: str) -> Tenant:
    if tenant not in (None, ""):
        if not isinstance(tenant, Tenant):
            found = Tenant.objects.restrict(principal, Action.VIEW).filter(pk=tenant).first() \
                if str(tenant).isdigit() else Tenant.objects.restrict(principal, Action.VIEW).filter(slug=tenant).first()
            if found is None:
                raise exceptions.ValidationError({"tenant": [f"No tenant {tenant!r} that you can see."]})
            tenant = found
        if not principal.can(action, tenant):
            raise forbidden(principal, action, what)
        return tenant
    allowed = principal.tenant_ids_for(action)
    if allowed is not None and len(allowed) == 1:
        return Tenant.objects.get(pk=next(iter(allowed)))
    if allowed is not None and not allowed:
        raise forbidden(principal, action, what)
    raise exceptions.ValidationError({"tenant": ["Give the tenant (you can act in several)."]})


def _save(bp: Blueprint) -> Blueprint:
    try:
        with transaction.atomic():
            bp.save()
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    return bp


def _document(value) -> dict:
    try:
        return documents.parse(value)
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None


def save(principal: Principal, document, tenant=None, pk=None) -> tuple[Blueprint, bool]:
    """Create a private blueprint, or replace the document of one (``pk``, or the same name in
    the tenant). Returns (blueprint, created)."""
    doc = _document(document)
    if pk is not None:
        bp = get_by_id(principal, pk, Action.CHANGE)
    else:
        tenant = _tenant(principal, tenant, Action.ADD, "blueprints in this tenant")
        bp = Blueprint.objects.filter(source=Source.PRIVATE, tenant=tenant, name=doc.get("name")).first()
        if bp is not None:
            _require_private(principal, Action.CHANGE, bp)
    created = bp is None
    if created:
        bp = Blueprint(source=Source.PRIVATE, tenant=tenant)
    bp.document = doc
    return _save(bp), created


def delete(principal: Principal, pk) -> dict:
    bp = get_by_id(principal, pk, Action.DELETE)
    display = str(bp)
    bp.delete()
    return {"deleted": True, "id": int(pk), "display": display}


def publish(principal: Principal, pk, changelog: str = "") -> Blueprint:
    """A community copy of a private blueprint: the document only (never the tenant's devices,
    variables or secrets), with the author tenant's name, its version and a changelog line."""
    bp = get_by_id(principal, pk)
    if bp.source != Source.PRIVATE:
        raise exceptions.ValidationError({"id": ["Only private blueprints are published (this one is "
                                                 f"{bp.source})."]})
    if not principal.can(Action.MANAGE, bp):
        raise forbidden(principal, Action.MANAGE, "blueprints of this tenant (tenant admins publish)")
    copy = Blueprint(source=Source.COMMUNITY, tenant=None, document=json.loads(json.dumps(bp.document)),
                     changelog=(changelog or "").strip()[:500], author_name=bp.tenant.name,
                     author_tenant=bp.tenant, listed=True)
    return _save(copy)


def unlist(principal: Principal, pk, listed: bool = False) -> Blueprint:
    bp = get_by_id(principal, pk)
    if bp.source != Source.COMMUNITY:
        raise exceptions.ValidationError({"id": ["Only community blueprints are listed or unlisted."]})
    if not (principal.is_superuser and principal.tenant_ids is None and not principal.missing_scopes(Action.CHANGE)):
        raise exceptions.PermissionDenied("Only superusers may unlist community blueprints.")
    bp.listed = listed
    return _save(bp)


def import_copy(principal: Principal, pk, tenant=None, name: str | None = None) -> Blueprint:
    """A private copy (in ``tenant``) of an official or community blueprint, optionally renamed."""
    source = get_by_id(principal, pk)
    tenant = _tenant(principal, tenant, Action.ADD, "blueprints in this tenant")
    doc = json.loads(json.dumps(source.document))
    if name:
        doc["name"] = name
    copy = Blueprint(source=Source.PRIVATE, tenant=tenant, document=doc,
                     origin=f"{source.source}:{source.name}@{source.version}")
    return _save(copy)


# --- using -------------------------------------------------------------------------------------
def confirm_token(tenant, bp: Blueprint, params: dict, plan: dict) -> str:
    doc = bp.document
    secrets = {k: params.get(k) for k in sorted(documents.secret_names(doc))}
    data = json.dumps({"tenant": tenant.pk, "source": bp.source, "name": bp.name, "version": bp.version,
                       "params": params if not secrets else {**params, **secrets},
                       "changes": [s["changes"] for s in plan["steps"]]}, sort_keys=True, default=str)
    return salted_hmac("inventory.blueprints.confirm", data, algorithm="sha256").hexdigest()[:32]


def _check_params(doc: dict, params) -> dict:
    try:
        return documents.check_params(doc, params if params is not None else {})
    except documents.ParamsError as exc:
        raise exceptions.ValidationError({"params": exc.fields}) from None
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None


def use(principal: Principal, name: str, params=None, *, source=None, version=None, tenant=None,
        dry_run: bool = False, confirm: str = "", confirmed: bool = False) -> dict:
    """Validate the parameters, plan; dry run: the plan (and a confirm token when the plan
    needs confirmation); otherwise queue the job that runs it (a BlueprintRun records it).
    ``confirmed``: the caller's confirmation was taken another way (the MCP gateway's)."""
    tenant_obj = None
    if tenant not in (None, ""):
        tenant_obj = _tenant(principal, tenant, Action.VIEW, "this tenant")
    bp = find(principal, name, source, version, tenant_obj)
    if bp.source == Source.PRIVATE:
        if tenant_obj is not None and tenant_obj.pk != bp.tenant_id:
            raise exceptions.ValidationError({"tenant": [f"{bp} belongs to another tenant."]})
        tenant_obj = bp.tenant
    tenant_obj = _tenant(principal, tenant_obj, Action.EXECUTE, "blueprint runs in this tenant")
    full = _check_params(bp.document, params)
    engine = Engine(principal, tenant_obj, bp.document, full)
    plan = engine.plan()
    token = confirm_token(tenant_obj, bp, full, plan)
    masked = documents.masked(bp.document, full)
    head = {"blueprint": {"id": bp.pk, "name": bp.name, "source": bp.source, "version": bp.version},
            "tenant": {"id": tenant_obj.pk, "name": tenant_obj.name}, "params": masked}
    if dry_run:
        result = {**head, "dry_run": True, "plan": plan}
        if plan["confirmation_required"]:
            result["confirm"] = token
        return result
    if plan["confirmation_required"] and not confirmed and not constant_time_compare(confirm or "", token):
        raise ConfirmationRequired(
            "This plan needs confirmation (" + "; ".join(plan["confirmation_reasons"]) + "). Review it with "
            "dry_run=true and run again with the confirm token it returns"
            + (" (the plan changed since that token was given)." if confirm else "."))
    return start(principal, tenant_obj, bp, full, masked, plan) | head


def start(principal: Principal, tenant, bp: Blueprint, params: dict, masked: dict, plan: dict) -> dict:
    from inventory.jobs.models import JobStatus

    busy = BlueprintRun.objects.filter(tenant=tenant, blueprint_name=bp.name,
                                       status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
                                       job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
    if busy is not None:
        raise Conflict(f"{bp.name} is already running in this tenant (run {busy.pk}); wait for it or cancel its job.")
    secret = {k: params[k] for k in documents.secret_names(bp.document) if params.get(k) not in (None, "")}
    outermost = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        run = BlueprintRun(tenant=tenant, blueprint_name=bp.name, source=bp.source, version=bp.version,
                           document=bp.document, params=masked, sealed_params=json.dumps(secret) if secret else "",
                           plan=plan, status=RunStatus.QUEUED, created_by=_user(principal), via=principal.via,
                           results=[{"id": s["id"], "action": s["action"], "status": "pending"}
                                    for s in bp.document["steps"]])
        run.save()
        job = _job(principal, run)
    _check_sent(job, outermost)
    return {"run_id": run.pk, "job_id": job.pk, "status": JobStatus.QUEUED, "plan": plan,
            "message": f"Run {run.pk} queued as job {job.pk}; follow it with blueprint_run_get(id={run.pk})."}


def _user(principal: Principal):
    return principal.user if getattr(principal.user, "pk", None) else None


def _check_sent(job, outermost: bool):
    """As for every job: recorded in the outbox when the broker is down (a 503 says so)."""
    from inventory.jobs import outbox
    from inventory.jobs.models import JobLogLine

    if outermost and getattr(job, "sent_ok", None) is False:
        JobLogLine.objects.create(job=job, level="warning",
                                  message="The job queue was unreachable; the job waits in the outbox.")
        raise outbox.BrokerUnavailable(job)


def _job(principal: Principal, run: BlueprintRun):
    """The job that runs (or resumes) the run; its writes are audited as the caller's, under the
    correlation id of the request or MCP call that started it (the jobs' runner does that)."""
    import uuid

    from auditlog.cid import get_cid

    from inventory.jobs import outbox
    from inventory.jobs.models import Job, JobKind, JobLogLine

    job = Job(kind=JobKind.BLUEPRINT, tenant_id=run.tenant_id, params={"run": run.pk},
              correlation_id=(get_cid() or str(uuid.uuid4()))[:255],
              target=f"blueprint {run.blueprint_name} {run.version}"[:200], created_by=_user(principal),
              via=principal.via, client_id=principal.client_id or getattr(principal.credential, "prefix", "") or "",
              client_name=principal.client_name or "")
    job.save()
    who = job.created_by.get_username() if job.created_by else "the system"
    JobLogLine.objects.create(job=job, message=f"Queued by {who} via {job.via} (blueprint run {run.pk}).")
    BlueprintRun.objects.filter(pk=run.pk).update(job=job, jobs=[*(run.jobs or []), job.pk])
    run.job, run.jobs = job, [*(run.jobs or []), job.pk]
    outbox.enqueue(job)
    return job


def visible_runs(principal: Principal):
    return BlueprintRun.objects.restrict(principal, Action.VIEW).select_related("job", "created_by", "tenant")


def get_run(principal: Principal, pk) -> BlueprintRun:
    try:
        return visible_runs(principal).get(pk=pk)
    except (BlueprintRun.DoesNotExist, ValueError, TypeError):
        raise exceptions.NotFound(f"No blueprint run with id {pk!r}.") from None


def effective_status(run: BlueprintRun) -> str:
    """The run's status; a run whose job ended without it (cancelled before it started, or a
    worker that gave up) takes the job's."""
    job = run.job
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING) and job is not None and job.is_finished:
        return RunStatus.SUCCEEDED if job.status == "succeeded" else job.status
    return run.status


def resume(principal: Principal, pk) -> BlueprintRun:
    """Continue a failed (or cancelled) run at its first step that did not succeed."""
    run = get_run(principal, pk)
    if not principal.can(Action.EXECUTE, run):
        raise forbidden(principal, Action.EXECUTE, "blueprint runs in this tenant")
    outermost = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        locked = BlueprintRun.objects.select_for_update().get(pk=run.pk)
        status = effective_status(locked)
        if status not in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise Conflict(f"Run {run.pk} is {status}; only a failed or cancelled run can be resumed.")
        locked.status, locked.error = RunStatus.QUEUED, ""
        locked.save()
        job = _job(principal, locked)
    _check_sent(job, outermost)
    return get_run(principal, pk)


def run_view(run: BlueprintRun) -> dict:
    job = run.job
    status = effective_status(run)
    return {"id": run.pk, "blueprint": run.blueprint_name, "source": run.source, "version": run.version,
            "tenant": run.tenant_id, "status": status, "params": run.params, "plan": run.plan,
            "steps": run.results, "outputs": run.outputs, "error": run.error,
            "job": {"id": job.pk, "status": job.status, "progress": job.progress, "step": job.step} if job else None,
            "jobs": run.jobs, "created_by": run.created_by.get_username() if run.created_by else None,
            "created": run.created.isoformat() if run.created else None,
            "can_resume": status in (RunStatus.FAILED, RunStatus.CANCELLED)}


def blueprint_view(bp: Blueprint, full: bool = False) -> dict:
    data = {"id": bp.pk, "name": bp.name, "version": bp.version, "source": bp.source, "title": bp.title,
            "description": bp.description, "tenant": bp.tenant_id,
            "author": bp.author_name if bp.source == Source.COMMUNITY else
            ("official" if bp.source == Source.OFFICIAL else (bp.tenant.name if bp.tenant_id else "")),
            "changelog": bp.changelog, "listed": bp.listed, "origin": bp.origin,
            "steps": [{"id": s["id"], "action": s["action"], "title": s.get("title", "")} for s in bp.document["steps"]]}
    if full:
        data["parameters"] = documents.parameter_schema(bp.document)
        data["document"] = bp.document
        data["yaml"] = documents.as_yaml(bp.document)
    return data

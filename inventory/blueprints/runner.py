"""The ``blueprint`` job: runs a BlueprintRun's steps in order (engine, apply mode), each step's
result saved as it finishes (with the changes it made), progress and log as other jobs. Writes
are audited as every job's (inventory.jobs.runner.attributed_to_creator): the caller as actor,
the correlation id of the request or MCP call that started the job, "via job #N".
A failed step stops the run (its error and what was done kept); ``resume`` queues a new job
that starts at the first step that did not succeed, with the earlier steps' outputs."""

from __future__ import annotations

import json

from django.db import transaction

from inventory.jobs.runner import Cancelled, JobContext, JobFailed, handler
from inventory.tenancy import Principal

from .engine import Engine, StepFailed, collected_outputs, error_text
from .models import BlueprintRun, RunStatus

DB_ONLY = {"select_devices", "ensure_role", "assign_role", "set_variable", "set_secret", "ensure_mesh", "output"}


def revealed_params(run: BlueprintRun) -> dict:
    params = dict(run.params)
    if run.sealed_params:
        params.update(json.loads(run.sealed_params))
    return params


@handler("blueprint")
def run_blueprint(ctx: JobContext):
    job = ctx.job
    run = BlueprintRun.objects.filter(pk=job.params.get("run")).first()
    if run is None:
        raise JobFailed("The blueprint run of this job no longer exists.")
    if job.created_by is None:
        raise JobFailed("The job has no user to act as.")
    principal = Principal(job.created_by, tenant_ids=[job.tenant_id], via=job.via or "session")
    params = revealed_params(run)
    engine = Engine(principal, run.tenant, run.document, params, apply=True, ctx=ctx)
    for secret in engine.secrets:
        ctx.add_secret(secret)
    steps = run.document["steps"]
    results = list(run.results) if len(run.results or []) == len(steps) else [
        {"id": s["id"], "action": s["action"], "status": "pending"} for s in steps]
    for result in results:  # the outputs of steps done by an earlier attempt
        if result.get("status") == "succeeded":
            engine.outputs[result["id"]] = result.get("outputs") or {}
            engine.restore(result.get("state"))
    BlueprintRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, error="")

    def save(**fields):
        # secrets the job learnt (SSH credentials, role secrets, mesh keys, secret parameters) are
        # masked in the run's record as in the job's
        BlueprintRun.objects.filter(pk=run.pk).update(results=ctx.redact(results), **ctx.redact(fields))
        ctx.save_result(run=run.pk, steps=[{k: r.get(k) for k in ("id", "action", "status", "error")} for r in results])

    for i, step in enumerate(steps):
        label = f"Step {i + 1}/{len(steps)} '{step['id']}' ({step['action']})"
        if results[i].get("status") == "succeeded":
            ctx.log(f"{label} already done.")
            continue
        ctx.check_cancel()
        ctx.progress(i * 100 / len(steps), label)
        ctx.log(label)
        results[i] = {"id": step["id"], "action": step["action"], "status": "running"}
        save()
        try:
            if step["action"] in DB_ONLY:
                with transaction.atomic():
                    result = engine.step(i)
            else:
                result = engine.step(i)
        except Cancelled:
            results[i]["status"] = "cancelled"
            save(status=RunStatus.CANCELLED, error="Cancelled on request.")
            raise
        except StepFailed as exc:
            message = engine.redact(f"{exc.field}: {exc.message}" if exc.field else exc.message)
            results[i].update(status="failed", error=message, **engine.redact(exc.done))
            save(status=RunStatus.FAILED, error=f"{label} failed: {message}")
            raise JobFailed(f"{label} failed: {message}") from None
        except Exception as exc:  # noqa: BLE001 - a service's refusal or a bug: the run records it
            from rest_framework.exceptions import APIException

            if not isinstance(exc, APIException) and type(exc).__name__ != "ValidationError":
                results[i].update(status="failed", error=f"Internal error: {type(exc).__name__}")
                save(status=RunStatus.FAILED, error=f"{label} failed: internal error")
                raise
            message = engine.redact(error_text(exc))
            results[i].update(status="failed", error=message)
            save(status=RunStatus.FAILED, error=f"{label} failed: {message}")
            raise JobFailed(f"{label} failed: {message}") from None
        results[i] = {**result, "status": "succeeded"}
        save()
        for change in result["changes"]:
            ctx.log(f"  {change['op']}: {change['target']}")
    outputs = engine.redact(collected_outputs(run.document, engine.outputs))
    save(status=RunStatus.SUCCEEDED, outputs=outputs)
    ctx.save_result(outputs=outputs)
    ctx.log(f"Blueprint {run.blueprint_name} {run.version}: done; "
            f"{sum(len(r.get('changes') or []) for r in results)} change(s).")

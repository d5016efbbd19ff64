"""Runs a Job: atomic claim, heartbeat, progress/log in short commits, cancellation, outcome.

A job kind is a handler ``(ctx: JobContext) -> None`` registered with :func:`handler`.
Handlers must be safe to run again after a crash (upserts, resumable plans): a job whose
worker died is claimed again by the redelivered message (same host: the holder's process
is gone; any host: its heartbeat is older than JOBS_STALE_AFTER).

Delivery semantics: claim is ``UPDATE … WHERE status='queued'`` (or, for a dead holder,
``WHERE status='running' AND attempt=<seen>``), so two deliveries never run a job twice at
the same time; every later write is conditioned on holding the claim (worker + attempt).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from . import masking
from .models import FINISHED, Job, JobLogLine, JobStatus

logger = logging.getLogger(__name__)

HANDLERS: dict = {}


def handler(kind: str):
    def register(fn):
        HANDLERS[kind] = fn
        return fn

    return register


class Cancelled(Exception):
    pass


class JobFailed(Exception):
    """A readable reason the job failed (shown to users as the job's error)."""


class StillRunning(Exception):
    """Another live worker holds the job; look again later."""

    def __init__(self, countdown: float):
        self.countdown = countdown


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped by its parent is a zombie
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def holder_is_dead(job: Job, now=None) -> bool:
    now = now or timezone.now()
    if job.heartbeat is None or job.heartbeat < now - timedelta(seconds=settings.JOBS_STALE_AFTER):
        return True
    host, _, pid = job.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid():
        return _process_gone(int(pid))
    return False


def claim(job_id: int) -> Job | None:
    """Take the job for this process, or None if there is nothing (left) to run."""
    now, me = timezone.now(), worker_id()
    running = {"status": JobStatus.RUNNING, "worker": me, "heartbeat": now, "attempt": F("attempt") + 1}
    if Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(started=now, **running):
        return Job.objects.get(pk=job_id)
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status in FINISHED:
        return None
    if job.status != JobStatus.RUNNING:  # pragma: no cover - unknown state
        return None
    if not holder_is_dead(job, now):
        raise StillRunning(countdown=max(1.0, settings.JOBS_STALE_AFTER / 2))
    previous = job.worker
    if job.attempt >= settings.JOBS_MAX_ATTEMPTS:
        if Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, attempt=job.attempt).update(
            status=JobStatus.FAILED, finished=now,
            error=f"The worker running this job died {job.attempt} times; giving up.",
        ):
            JobLogLine.objects.create(job_id=job_id, level="error", message=f"Worker {previous} died; giving up.")
        return None
    if not Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, attempt=job.attempt).update(**running):
        return None  # another delivery reclaimed it first
    JobLogLine.objects.create(job_id=job_id, level="warning",
                              message=f"Worker {previous} died while running this job; running it again "
                                      f"(attempt {job.attempt + 1}).")
    return Job.objects.get(pk=job_id)


class Heartbeat(threading.Thread):
    def __init__(self, job: Job):
        super().__init__(daemon=True, name=f"job-{job.pk}-heartbeat")
        self.job_id, self.worker, self.attempt = job.pk, job.worker, job.attempt
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.wait(settings.JOBS_HEARTBEAT_SECONDS):
                try:
                    Job.objects.filter(pk=self.job_id, worker=self.worker, attempt=self.attempt,
                                       status=JobStatus.RUNNING).update(heartbeat=timezone.now())
                except Exception:  # noqa: BLE001 - a missed beat is not fatal
                    logger.exception("heartbeat of job %s failed", self.job_id)
                    close_old_connections()
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()
        self.join(5)


class JobContext:
    """What a handler uses to report; every write is its own short autocommit."""

    def __init__(self, job: Job):
        self.job = job
        self._secrets: set[str] = set()
        self._mine = {"pk": job.pk, "worker": job.worker, "attempt": job.attempt}

    # --- secrets never leave through the job ----------------------------------------
    def add_secret(self, value: str):
        self._secrets |= masking.expand(value)

    def redact(self, value):
        return masking.mask(value, self._secrets)

    # --- reporting --------------------------------------------------------------------
    def log(self, message: str, level: str = "info"):
        JobLogLine.objects.create(job_id=self.job.pk, level=level, message=self.redact(str(message)))

    def _update(self, **fields) -> int:
        return Job.objects.filter(**self._mine, status=JobStatus.RUNNING).update(heartbeat=timezone.now(), **fields)

    def progress(self, percent: float, step: str | None = None):
        fields = {"progress": max(0, min(100, int(percent)))}
        if step is not None:
            fields["step"] = self.redact(step)[:200]
            self.job.step = fields["step"]
        self.job.progress = fields["progress"]
        self._update(**fields)

    def checkpoint(self, percent: float, step: str, **data):
        """Progress and result data in one write (e.g. where a reclaimed job resumes)."""
        self.job.result.update(self.redact(data))
        self.job.progress = max(0, min(100, int(percent)))
        self.job.step = self.redact(step)[:200]
        self._update(progress=self.job.progress, step=self.job.step, result=self.job.result)

    def save_result(self, **data):
        self.job.result.update(self.redact(data))
        self._update(result=self.job.result)

    def check_cancel(self):
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise Cancelled()

    def finish(self, status: str, error: str = "") -> bool:
        fields = {"status": status, "finished": timezone.now(), "error": self.redact(error)[:10000],
                  "result": self.job.result}
        if status == JobStatus.SUCCEEDED:
            fields["progress"] = 100
        return bool(Job.objects.filter(**self._mine, status=JobStatus.RUNNING).update(**fields))


@contextlib.contextmanager
def attributed_to_creator(job: Job):
    """The job's writes (device status and facts, discovered hosts...) are audited as made by the
    job's creator, under the correlation id of the request that started it, "via job #N"."""
    from auditlog.cid import correlation_id

    from inventory.auditing import audit_context

    token = correlation_id.set(job.correlation_id or f"job-{job.pk}")
    try:
        with audit_context(job.created_by, additional_data={"via": f"job #{job.pk}", "job": job.pk,
                                                            "job_kind": job.kind}):
            yield
    finally:
        correlation_id.reset(token)


def run(job_id: int) -> str | None:
    """Claim and run a job; returns its final status (None when not run here)."""
    from celery.exceptions import SoftTimeLimitExceeded

    job = claim(job_id)
    if job is None:
        return None
    ctx = JobContext(job)
    beat = Heartbeat(job)
    beat.start()
    status, error = JobStatus.FAILED, ""
    try:
        if job.attempt == 1:
            ctx.log(f"Started on {job.worker}.")
        ctx.check_cancel()
        with attributed_to_creator(job):
            HANDLERS[job.kind](ctx)
        status = JobStatus.SUCCEEDED
    except Cancelled:
        status, error = JobStatus.CANCELLED, "Cancelled on request."
    except JobFailed as exc:
        error = str(exc)
    except SoftTimeLimitExceeded:
        error = "The job ran out of time (JOB_HARD_TIME_LIMIT)."
    except Exception as exc:  # noqa: BLE001 - the job records every failure
        logger.exception("job %s failed", job_id)
        error = f"Internal error: {type(exc).__name__}: {exc}"
    finally:
        beat.stop()
    if error:
        ctx.log(error, level="error" if status == JobStatus.FAILED else "info")
    else:
        ctx.log(f"Finished: {status}.")
    ctx.finish(status, error)
    return status

"""Celery tasks. One task runs every job kind; the Job row is the source of truth."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import APIException

from . import runner
from .models import Job, JobStatus, ScanSchedule

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="jobs.run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self, job_id: int):
    # the handlers register themselves on import
    from django.contrib.contenttypes.models import ContentType

    from . import discovery, provisioning  # noqa: F401

    # Audit entries reference content types; a long-lived worker must not trust ids cached
    # before the table was rebuilt (flush/restore). One cheap query per type per job.
    ContentType.objects.clear_cache()
    try:
        return runner.run(int(job_id))
    except runner.StillRunning as exc:
        raise self.retry(countdown=exc.countdown, max_retries=None)


class BrokerUnavailable(APIException):
    """503: the job is recorded (in the outbox) but the broker did not take it."""

    status_code = 503
    default_code = "broker_unavailable"

    def __init__(self, job: Job):
        super().__init__(
            f"The job queue (Celery broker) is unreachable right now. Job #{job.pk} is recorded and will start "
            f"when the queue is back (do not submit it again; cancel it with POST /api/jobs/{job.pk}/cancel/ "
            f"if it is no longer wanted).")
        self.job = job
        self.wait = 30  # DRF sends it as Retry-After


def send(job_id: int, task_id: str) -> bool:
    """Hand a job's task to the broker; False (logged) when the broker is unreachable. The job
    stays in the outbox (``sent`` empty) until a later :func:`send_unsent` succeeds."""
    try:
        run_job.apply_async((job_id,), task_id=task_id, retry=True, retry_policy=SEND_RETRY)
    except Exception as exc:  # noqa: BLE001 - kombu/redis raise many kinds; the outbox keeps the job
        logger.warning("could not send job %s to the broker (it stays in the outbox): %s", job_id, exc)
        return False
    Job.objects.filter(pk=job_id, sent__isnull=True).update(sent=timezone.now())
    return True


#: a few quick retries of a send, then the outbox takes over (a request must not hang on it)
SEND_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def enqueue(job: Job):
    """Send the job to a worker once the surrounding transaction commits; ``job.sent_ok``
    tells whether the broker took it (None while the transaction is still open)."""
    job.sent_ok = None

    def after_commit():
        job.sent_ok = send(job.pk, job.task_id)

    transaction.on_commit(after_commit)


@shared_task(name="jobs.send_unsent", ignore_result=True)
def send_unsent(min_age: float = 5.0) -> int:
    """The outbox: send queued jobs that never reached the broker (run by beat every minute and
    when a worker starts)."""
    cutoff = timezone.now() - timedelta(seconds=min_age)
    count = 0
    for job_id, task_id in Job.objects.filter(status=JobStatus.QUEUED, sent__isnull=True,
                                              created__lte=cutoff).values_list("pk", "task_id")[:1000]:
        if not send(job_id, task_id):
            break  # still unreachable: try again on the next round
        count += 1
    if count:
        logger.info("sent %d job(s) from the outbox", count)
    return count


@worker_ready.connect
def _send_outbox_on_worker_start(sender=None, **kwargs):
    try:
        send_unsent(min_age=0)
    except Exception:  # noqa: BLE001 - a worker must start even when the database is not there yet
        logger.warning("could not read the job outbox at worker start", exc_info=True)


def revoke(job: Job):
    from inventory.celery import app

    try:
        app.control.revoke(job.task_id)
    except Exception:  # noqa: BLE001 - the claim refuses a cancelled job anyway
        logger.warning("could not revoke task %s of job %s", job.task_id, job.pk, exc_info=True)


@shared_task(name="jobs.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    """Re-send running jobs whose worker died (e.g. a broker that lost the message)."""
    count = 0
    for job in Job.objects.filter(status=JobStatus.RUNNING):
        if runner.holder_is_dead(job):
            run_job.apply_async((job.pk,), task_id=job.task_id)
            count += 1
    return count


@shared_task(name="jobs.enqueue_due_scans", ignore_result=True)
def enqueue_due_scans() -> int:
    """Start the scheduled scans that are due (run every minute by Celery beat)."""
    from .services import create_job

    now, count = timezone.now(), 0
    due = ScanSchedule.objects.filter(enabled=True).exclude(next_run__gt=now).select_related("network")
    for schedule in due:
        with transaction.atomic():
            locked = ScanSchedule.objects.select_for_update(skip_locked=True).filter(pk=schedule.pk).first()
            if locked is None or (locked.next_run and locked.next_run > now):
                continue
            try:
                with transaction.atomic():
                    job = create_job(None, "discovery_scan", schedule.network, {"scan_type": schedule.scan_type},
                                     via="schedule")
            except DjangoValidationError as exc:  # e.g. the network is no longer allowed to be scanned
                logger.warning("scheduled scan of %s refused: %s", schedule.network, " ".join(exc.messages))
                ScanSchedule.objects.filter(pk=schedule.pk).update(
                    next_run=now + timedelta(minutes=schedule.interval_minutes))
                continue
            ScanSchedule.objects.filter(pk=schedule.pk).update(
                last_run=now, last_job=job, next_run=now + timedelta(minutes=schedule.interval_minutes))
            count += 1
    return count

"""Celery tasks. One task runs every job kind; the Job row is the source of truth."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from . import runner
from .outbox import RUN_TASK, send
from .models import Job, JobStatus, ScanSchedule

logger = logging.getLogger(__name__)


@shared_task(bind=True, name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
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

"""Handing jobs to the broker: the outbox rule. A job row is committed first and sent after
commit (``Job.sent`` stamps it); a job the broker did not take stays in the outbox, and
``tasks.send_unsent`` (beat, worker start) sends it later. Sends the task by name, so the
services that create jobs need not import the Celery tasks (no services <-> tasks cycle)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import APIException

from .models import Job

logger = logging.getLogger(__name__)

#: the one task that runs every job kind (``tasks.run_job``)
RUN_TASK = "jobs.run"


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
        from inventory.celery import app

        app.send_task(RUN_TASK, (job_id,), task_id=task_id, retry=True, retry_policy=SEND_RETRY)
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


def revoke(job: Job):
    from inventory.celery import app

    try:
        app.control.revoke(job.task_id)
    except Exception:  # noqa: BLE001 - the claim refuses a cancelled job anyway
        logger.warning("could not revoke task %s of job %s", job.task_id, job.pk, exc_info=True)

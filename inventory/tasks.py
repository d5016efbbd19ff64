"""Housekeeping run by Celery beat (see CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task
from django.core.management import call_command

#: management commands beat may run; anything else is refused
MAINTENANCE_COMMANDS = {"oauth_cleanup", "mcp"}


@shared_task(name="inventory.maintenance", ignore_result=True)
def maintenance(command: str, *args: str) -> None:
    if command not in MAINTENANCE_COMMANDS:
        raise ValueError(f"not a maintenance command: {command}")
    call_command(command, *args)

"""Delete self-registered OAuth clients nobody authorized, and expired tokens.

    manage.py oauth_cleanup [--older-than 24h] [--dry-run]

A dynamically registered (or Client ID Metadata Document) client that was never authorized (no consent, no token) is deleted
once it is older than ``--older-than`` (default: ``OAUTH_UNUSED_CLIENT_TTL``, 24h). Expired
tokens and grants are removed with django-oauth-toolkit's ``clear_expired()``, and the record
of redeemed authorization codes once it outlives ``MCP_OAUTH_REFRESH_TOKEN_TTL``. Run it
periodically (cron, or a Celery beat entry).
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from oauth2_provider.models import clear_expired, get_application_model

from inventory.management.cli import WithExamples
from oauth.conf import parse_duration
from oauth.models import RedeemedCode


def unused_clients(older_than_seconds: int):
    Application = get_application_model()
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    # CIMD rows too: DOT creates them again from the document on the client's next request
    sources = (Application.RegistrationSource.DCR, Application.RegistrationSource.CIMD)
    return (Application.objects.filter(registration_source__in=sources, created__lt=cutoff)
            .exclude(inventory_profile__first_authorized_at__isnull=False)
            .filter(accesstoken__isnull=True, refreshtoken__isnull=True, grant__isnull=True))


class Command(WithExamples, BaseCommand):
    help = "Delete never-authorized self-registered OAuth clients and expired tokens."
    examples = ("--dry-run", "--older-than 7d")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", help="e.g. 24h, 7d (default: OAUTH_UNUSED_CLIENT_TTL)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, older_than=None, dry_run=False, **options):
        try:
            seconds = parse_duration(older_than, "--older-than") if older_than else settings.OAUTH_UNUSED_CLIENT_TTL
        except ValueError as exc:
            raise CommandError(str(exc))
        clients = unused_clients(seconds)
        ids = list(clients.values_list("pk", flat=True))
        if dry_run:
            self.stdout.write(f"would delete {len(ids)} never-authorized client(s)")
            return
        get_application_model().objects.filter(pk__in=ids).delete()
        clear_expired()
        RedeemedCode.objects.filter(
            created__lt=timezone.now() - timedelta(seconds=settings.MCP_OAUTH_REFRESH_TOKEN_TTL)).delete()
        self.stdout.write(f"deleted {len(ids)} never-authorized client(s); cleared expired tokens")

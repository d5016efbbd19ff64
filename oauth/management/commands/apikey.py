"""Manage API keys from the shell.

    manage.py apikey create --user alice [--name NAME] [--scopes inventory:read,inventory:write]
                            [--tenant "Tenant A" | --tenant 3] [--expires 30d | 2027-01-31]
    manage.py apikey list [--user alice]
    manage.py apikey revoke inv_abcd1234     (the visible prefix, or the key id)

``create`` prints the key once; only its hash is stored.
"""

from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inventory.management.cli import WithExamples
from inventory.models import Tenant
from inventory.tenancy import ALL_SCOPES
from oauth.conf import parse_duration
from oauth.models import ApiKey


def parse_expiry(value: str):
    """``30d`` / ``12h`` (from now), an ISO date (end of that day, UTC) or an ISO datetime."""
    try:
        return timezone.now() + timedelta(seconds=parse_duration(value, "--expires"))
    except ValueError:
        pass
    moment = parse_datetime(value)
    if moment is None:
        try:
            moment = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time.max)
        except ValueError:
            raise CommandError(f"--expires: expected e.g. 30d, 12h, 2027-01-31 or an ISO datetime; got {value!r}")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.UTC)
    return moment


class Command(WithExamples, BaseCommand):
    help = "Create, list and revoke API keys (the key is shown once, at creation)."
    examples = ("create --user alice --name laptop --scopes inventory:read,jobs:execute --expires 30d",
                "create --user ci --tenant acme-corp --tool-mode progressive", "list --user alice",
                "revoke inv_ab12cd34")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it once")
        create.add_argument("--user", required=True, help="username")
        create.add_argument("--name", default="", help="what the key is for")
        create.add_argument("--scopes", default="",
                            help=f"comma or space separated subset of: {', '.join(sorted(ALL_SCOPES))} "
                                 "(default: all)")
        create.add_argument("--tenant", help="limit to this tenant (name, slug or id)")
        create.add_argument("--expires", help="30d, 12h, 2027-01-31 or an ISO datetime (default: never)")
        create.add_argument("--tool-mode", choices=["full", "progressive"], default="",
                            help="MCP tools/list for this key: every tool (full) or a core set plus tool_search "
                                 "(progressive); default: the server's MCP_TOOL_LIST_MODE")
        listing = sub.add_parser("list", help="list keys (never the secret)")
        listing.add_argument("--user", help="only this user's keys")
        revoke = sub.add_parser("revoke", help="revoke a key")
        revoke.add_argument("key", help="visible prefix (inv_xxxxxxxx) or id")

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def do_create(self, user, name, scopes, tenant, expires, tool_mode="", **_):
        User = get_user_model()
        try:
            owner = User.objects.get(username=user)
        except User.DoesNotExist:
            raise CommandError(f"--user: no user named {user!r}")
        scope_list = sorted(set(scopes.replace(",", " ").split()))
        unknown = set(scope_list) - ALL_SCOPES
        if unknown:
            raise CommandError(f"--scopes: unknown {', '.join(sorted(unknown))}; known: {', '.join(sorted(ALL_SCOPES))}")
        tenant_obj = None
        if tenant:
            lookup = {"pk": int(tenant)} if tenant.isdigit() else {}
            tenant_obj = (Tenant.objects.filter(**lookup).first() if lookup else
                          Tenant.objects.filter(name=tenant).first() or Tenant.objects.filter(slug=tenant).first())
            if tenant_obj is None:
                raise CommandError(f"--tenant: no tenant {tenant!r}")
        expires_at = parse_expiry(expires) if expires else None
        try:
            key, raw = ApiKey.create(owner, name or f"key for {owner.username}", scopes=scope_list,
                                     tenant=tenant_obj, expires_at=expires_at, tool_mode=tool_mode)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items()))
        self.stderr.write(f"Created API key {key.prefix} (id {key.pk}) for {owner.username}; "
                          f"scopes: {', '.join(key.scopes) or 'all'}; tenant: {key.tenant or 'all'}; "
                          f"expires: {key.expires_at or 'never'}. It is shown only once:")
        self.stdout.write(raw)

    def do_list(self, user=None, **_):
        keys = ApiKey.objects.select_related("user", "tenant").order_by("user__username", "created")
        if user:
            keys = keys.filter(user__username=user)
        for key in keys:
            self.stdout.write(
                f"{key.pk}\t{key.prefix}\t{key.user.username}\t{key.name}\t{key.status}\t"
                f"scopes={','.join(key.scopes) or 'all'}\ttenant={key.tenant or 'all'}\t"
                f"expires={key.expires_at or 'never'}\tlast_used={key.last_used_at or 'never'}"
            )

    def do_revoke(self, key, **_):
        lookup = {"pk": int(key)} if key.isdigit() else {"prefix": key[:12]}
        found = ApiKey.objects.filter(**lookup).first()
        if found is None:
            raise CommandError(f"no API key {key!r}")
        if found.revoked_at:
            self.stdout.write(f"{found.prefix} was already revoked at {found.revoked_at}")
            return
        found.revoke()
        self.stdout.write(f"Revoked {found.prefix} ({found.name})")

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from inventory.management.cli import WithExamples


class Command(WithExamples, BaseCommand):
    help = "Create a first superuser when there is none, and print its login once."
    examples = ("", "--username ops")

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(
            f"Created the first admin user. Log in at /admin/ as '{username}' with password: {password}\n"
            "This password is shown only once; change it after logging in."
        ))

"""Command-line conventions: progress and time taken, --help with examples, one-line errors."""

import io
import subprocess
import sys

import pytest
from django.core.management import call_command

from inventory.management.cli import Progress
from tests.servers import ROOT, server_env


def manage(*args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=server_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_seed_demo_help_progress_and_errors():
    help_text = manage("seed_demo", "--help")
    assert help_text.returncode == 0
    assert "examples:\n  manage.py seed_demo\n  manage.py seed_demo --devices 100000" in help_text.stdout
    bad = manage("seed_demo", "--devices", "0")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["CommandError: --devices: give a number from 1 to 10000000, not 0"]
    bad = manage("seed_demo", "--devices", "many")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "invalid int value: 'many'" in bad.stderr
    out = io.StringIO()
    call_command("seed_demo", devices=30, stdout=out)
    lines = out.getvalue().splitlines()
    # not a terminal: a line per quarter, then the summary with the time taken
    assert "Acme Corp: 25% devices" in lines and "Acme Corp: 100% relationships" in lines
    assert any(line.startswith("Acme Corp: 10 devices, 10 addresses (") and line.endswith(" s)") for line in lines)
    assert lines[-1].startswith("Demo data ready in ")


def test_progress_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    from django.core.management.base import OutputWrapper

    wrapped = OutputWrapper(out)
    progress = Progress(wrapped, "Tenant", 4)
    progress.advance(1, "devices")
    assert "\rTenant [#######.......................]  25% devices" in out.getvalue()
    progress.at(4, "done")
    assert "100%" in out.getvalue()
    elapsed = progress.finish("4 devices")
    assert out.getvalue().rstrip("\n").endswith(f"Tenant: 4 devices ({elapsed:.1f} s)")


COMMANDS_WITH_EXAMPLES = {
    "rebuild_search": "manage.py rebuild_search --batch-size 5000",
    "ensure_admin": "manage.py ensure_admin --username ops",
    "serve": "manage.py serve --no-worker",
    "apikey": "manage.py apikey list --user alice",
    "oauth_cleanup": "manage.py oauth_cleanup --dry-run",
    "mcp": "manage.py mcp config --client claude-code",
    "rotate_field_keys": "manage.py rotate_field_keys",
}


@pytest.mark.parametrize("command", sorted(COMMANDS_WITH_EXAMPLES))
def test_every_project_command_lists_examples_in_its_help(command):
    from django.core.management import load_command_class

    from inventory.management.cli import WithExamples

    app = {"apikey": "oauth", "oauth_cleanup": "oauth", "mcp": "mcp_gateway",
           "rotate_field_keys": "inventory.jobs"}.get(command, "inventory")
    cmd = load_command_class(app, command)
    assert isinstance(cmd, WithExamples) and cmd.examples
    parser = cmd.create_parser("manage.py", command)
    help_text = parser.format_help()
    assert "examples:\n" in help_text and COMMANDS_WITH_EXAMPLES[command] in help_text


def test_rebuild_search_refuses_a_bad_batch_size():
    result = manage("rebuild_search", "--batch-size", "0")
    assert result.returncode == 1 and result.stderr.strip() == "CommandError: --batch-size must be at least 1."

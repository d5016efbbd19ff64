"""Command templates (custom command tools): sandboxed Jinja2 over parameters, every value one shell word.

``secret('name')`` in a template is the device's secret of that name (inventory.configuration:
global < tenant < datacenter < device, as in role templates). It is resolved only where the
command runs: the web or MCP process renders ``«secret:name»`` in its place (the job's
``params``, the MCP audit row, the Test preview), checking that the secret exists; when the
template used a secret the job also carries, sealed (``Job.sealed``, encrypted, see
inventory.jobs.masking), the template and its variables, and the worker renders them again with
the values of that moment (:func:`render_for_run`), registering them to be masked in the job's
log and results.
"""

from __future__ import annotations

import shlex

from django.core.exceptions import ValidationError

MAX_OUTPUT = 10000


def environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # every value that reaches the command is one shell word, whatever the caller sent
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                         finalize=lambda value: shlex.quote(str(value)))


def device_secret_names(device) -> dict[str, None]:
    """The names ``secret()`` may use for ``device`` (values are not read: nothing is decrypted)."""
    from inventory.configuration.resolve import effective_secrets

    return {name: None for name in effective_secrets(device)} if device is not None else {}


def render(source: str, variables: dict, secrets: dict, *, reveal: bool = False) -> tuple[str, set[str]]:
    """The command and the secret names it used. ``secrets``: name -> value (``reveal``, the
    worker) or name -> None (elsewhere: ``«secret:name»`` is rendered). Bad templates raise
    ValidationError({"command": [...]})."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError, UndefinedError

    from inventory.configuration.rendering import Secrets

    lookup = Secrets(dict(secrets), reveal=reveal)
    try:
        text = environment().from_string(source).render({**variables, "secret": lambda name: lookup(name)})
    except UndefinedError as exc:
        raise ValidationError({"command": [f"The template uses an undefined value: {exc.message}."]}) from None
    except SecurityError as exc:
        raise ValidationError({"command": [f"The template did something the sandbox forbids: {exc}."]}) from None
    except TemplateError as exc:
        raise ValidationError({"command": [f"The template failed: {exc}."]}) from None
    if len(text) > MAX_OUTPUT:
        raise ValidationError({"command": [f"The rendered command is longer than {MAX_OUTPUT} characters."]})
    return text, lookup.used


def prepare(source: str, variables: dict, device) -> tuple[str, dict | None]:
    """(the command as stored and shown, what the worker needs to render it with secrets, or None
    when the template uses none)."""
    text, used = render(source, variables, device_secret_names(device))
    return text, ({"source": source, "variables": variables} if used else None)


def render_for_run(ctx, device, template: dict) -> str:
    """In the worker: the command with the device's secret values (each registered for masking)."""
    from inventory.configuration.resolve import effective_secrets
    from inventory.fields import DecryptionError

    from .runner import JobFailed

    try:
        values = {name: row.value for name, row in effective_secrets(device).items()}
    except DecryptionError as exc:
        raise JobFailed(f"A secret of {device} cannot be decrypted: {exc}") from None
    for value in values.values():
        ctx.add_secret(value)
    try:
        text, _used = render(template["source"], template.get("variables") or {}, values, reveal=True)
    except ValidationError as exc:
        raise JobFailed(" ".join(exc.messages)) from None
    return text

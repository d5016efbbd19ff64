"""Known secret values, masked wherever a job's input is stored or shown.

A password or key typed into a command (``echo hunter2 | sudo -S …``) is a secret the system
knows: the device's SSH credential, and whatever the providers in ``JOBS_SECRET_PROVIDERS``
return (dotted paths of ``(device) -> iterable of str``; the roles app adds its secrets there).
The command is stored masked in ``Job.params`` and the MCP audit arguments; the worker runs the
real one, kept encrypted at rest in ``Job.sealed`` (inventory.fields.EncryptedTextField).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

MASK = "********"
#: shorter values are not masked (they would mask ordinary words)
MIN_LENGTH = 4


def expand(value: str) -> set[str]:
    """A secret and the parts of it that may be echoed on their own (a key's long lines)."""
    found = set()
    if value and len(value) >= MIN_LENGTH:
        found.add(value)
        for line in value.splitlines():
            if len(line.strip()) >= 16:
                found.add(line.strip())
    return found


def device_secrets(device) -> set[str]:
    """Every secret value the system holds for ``device``."""
    from inventory.fields import DecryptionError

    from .models import DeviceAccess

    found: set[str] = set()
    if device is None:
        return found
    try:
        access = DeviceAccess.objects.filter(device=device).first()
    except DecryptionError:  # unreadable: nothing to compare with (the job itself will fail)
        access = None
    if access is not None:
        found |= expand(access.secret)
    for path in getattr(settings, "JOBS_SECRET_PROVIDERS", []):
        for value in import_string(path)(device) or ():
            found |= expand(str(value))
    return found


def mask(value, secrets, replacement: str = MASK):
    """``value`` (str, or dicts and lists of them) with every secret replaced."""
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, replacement)
        return value
    if isinstance(value, dict):
        return {k: mask(v, secrets, replacement) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v, secrets, replacement) for v in value]
    return value

"""A model field encrypted at rest with cryptography's MultiFernet.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (a list, or a comma-separated string
in the ``FIELD_ENCRYPTION_KEYS`` environment variable; newest first). When none are
configured, one key is generated on first use into ``DATA_DIR/field_encryption_keys``
(mode 0600; one key a line, newest first), so the embedded default works out of the box.

Encryption uses the first key; decryption tries them all. A value no key can decrypt
raises :class:`DecryptionError`: ciphertext is never handed out as if it were the secret.
``manage.py rotate_field_keys`` re-encrypts every encrypted field with the newest key.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models

#: the largest object id (PostgreSQL bigint); larger ids are a 404 or a field error, never a database error
MAX_ID = 2**63 - 1

KEY_FILE_NAME = "field_encryption_keys"


class DecryptionError(Exception):
    """Stored ciphertext could not be decrypted with any configured key."""


def _key_file_keys() -> list[str]:
    path = settings.DATA_DIR / KEY_FILE_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        key = Fernet.generate_key().decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race
            text = path.read_text()
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(key + "\n")
            return [key]
    return [line.strip() for line in text.splitlines() if line.strip()]


def configured_keys() -> list[str]:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or []
    if isinstance(keys, str):
        keys = keys.split(",")
    keys = [k.strip() for k in keys if k and k.strip()]
    return keys or _key_file_keys()


@lru_cache(maxsize=1)
def multifernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in configured_keys()])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from None


def _reset(**kwargs):
    if kwargs.get("setting") in ("FIELD_ENCRYPTION_KEYS", "DATA_DIR"):
        multifernet.cache_clear()


setting_changed.connect(_reset)


def encrypt(value: str) -> str:
    return multifernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return multifernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "An encrypted value could not be decrypted with any configured key "
            "(FIELD_ENCRYPTION_KEYS changed or the data was tampered with)."
        ) from None


def rotate(token: str) -> str:
    try:
        return multifernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("An encrypted value could not be decrypted for rotation.") from None


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; empty stays empty (no secret set).

    Never use it in lookups: the ciphertext differs on every save.
    """

    description = "Text encrypted at rest (MultiFernet)"

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    def value_to_string(self, obj):  # serialization (dumpdata) never writes the clear text
        return "********" if self.value_from_object(obj) else ""


def encrypted_fields():
    """(model, [field names]) for every model with encrypted fields."""
    from django.apps import apps

    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            yield model, names


class BoundedJSONDecoder(json.JSONDecoder):
    """A JSON decoder that turns nesting deeper than Python's recursion limit into an ordinary
    decode error (form fields answer "Enter a valid JSON.", not a 500)."""

    def decode(self, s, *args, **kwargs):
        try:
            return super().decode(s, *args, **kwargs)
        except RecursionError:
            raise json.JSONDecodeError("nested too deep", s, 0) from None

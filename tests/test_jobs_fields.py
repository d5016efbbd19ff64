"""The encrypted field (MultiFernet): at rest, wrong keys, rotation, the key file; SSH access validation."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command
from django.db import connection

from tests.test_jobs_support import SSHServer

PASSWORD = "correct horse battery staple 42"


def raw_secret(access) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM jobs_deviceaccess WHERE id = %s", [access.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    return settings, old, new


def make_access(tenant, secret=PASSWORD, **kwargs):
    from inventory.jobs.models import DeviceAccess
    from inventory.models import Device

    device = Device.objects.create(tenant=tenant, name=kwargs.pop("name", "box"))
    return DeviceAccess.objects.create(device=device, credential_type=kwargs.pop("credential_type", "password"),
                                       secret=secret, **kwargs)


def test_secret_is_encrypted_at_rest_and_read_back(db, tenant_a, keys):
    from inventory.jobs.models import DeviceAccess

    access = make_access(tenant_a)
    stored = raw_secret(access)
    assert PASSWORD not in stored and stored.startswith("gAAAA")
    assert DeviceAccess.objects.get(pk=access.pk).secret == PASSWORD
    access.save()
    assert raw_secret(access) != stored  # a fresh token on every save


def test_wrong_key_raises_instead_of_returning_ciphertext(db, tenant_a, keys):
    from inventory.fields import DecryptionError
    from inventory.jobs.models import DeviceAccess

    settings, old, new = keys
    access = make_access(tenant_a)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    with pytest.raises(DecryptionError, match="could not be decrypted"):
        DeviceAccess.objects.get(pk=access.pk)


def test_rotate_command_reencrypts_with_the_newest_key(db, tenant_a, keys):
    from inventory.jobs.models import DeviceAccess

    settings, old, new = keys
    access = make_access(tenant_a)
    empty = make_access(tenant_a, secret="", name="no-secret")
    before = raw_secret(access)
    settings.FIELD_ENCRYPTION_KEYS = f"{new},{old}"  # the env form: newest first, comma-separated
    call_command("rotate_field_keys", stdout=open(os.devnull, "w"))
    after = raw_secret(access)
    assert after != before and raw_secret(empty) == ""
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key can go now
    assert DeviceAccess.objects.get(pk=access.pk).secret == PASSWORD
    assert Fernet(new.encode()).decrypt(after.encode()).decode() == PASSWORD


def test_invalid_key_is_a_configuration_error(db, tenant_a, settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="invalid Fernet key"):
        make_access(tenant_a)


def test_key_file_is_created_0600_under_data_dir(settings, tmp_path):
    from inventory.fields import KEY_FILE_NAME, decrypt, encrypt

    settings.DATA_DIR = tmp_path
    settings.FIELD_ENCRYPTION_KEYS = []
    token = encrypt("x-secret")
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert decrypt(token) == "x-secret"
    Fernet(path.read_text().strip().encode())  # a valid key


def test_access_validation(db, tenant_a, keys):
    server = SSHServer()
    with pytest.raises(ValidationError) as err:
        make_access(tenant_a, secret="not a key", credential_type="key")
    assert "Not a private key" in str(err.value.message_dict["secret"])
    with pytest.raises(ValidationError) as err:
        make_access(tenant_a, name="b2", host_key="ssh-ed25519 garbage")
    assert "Not an SSH public key" in str(err.value.message_dict["host_key"])
    encrypted = server.client_key.export_private_key("pkcs8-pem", passphrase="pw").decode()
    with pytest.raises(ValidationError) as err:
        make_access(tenant_a, name="b3", secret=encrypted, credential_type="key")
    assert "passphrase-protected" in str(err.value.message_dict["secret"])
    ok = make_access(tenant_a, name="b4", secret=server.client_private, credential_type="key",
                     host_key=server.host_public + " a-comment")
    assert ok.host_key == server.host_public  # comment dropped
    assert ok.host_key_fingerprint.startswith("ssh-ed25519 SHA256:")

"""WireGuard keys: X25519 from ``cryptography``, as WireGuard's base64 (44 characters)."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

_RAW = {"encoding": serialization.Encoding.Raw}


def generate() -> tuple[str, str]:
    """(private key, public key), base64 as ``wg genkey`` / ``wg pubkey`` write them."""
    private = X25519PrivateKey.generate()
    private_raw = private.private_bytes(format=serialization.PrivateFormat.Raw,
                                        encryption_algorithm=serialization.NoEncryption(), **_RAW)
    return base64.b64encode(private_raw).decode(), public_of_raw(private)


def public_of_raw(private: X25519PrivateKey) -> str:
    return base64.b64encode(private.public_key().public_bytes(format=serialization.PublicFormat.Raw, **_RAW)).decode()


def public_key(private_b64: str) -> str:
    """The public key of a base64 private key (``wg pubkey``)."""
    return public_of_raw(X25519PrivateKey.from_private_bytes(decode(private_b64)))


def decode(value: str) -> bytes:
    """32 bytes from a WireGuard base64 key; ValueError otherwise."""
    try:
        raw = base64.b64decode((value or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Not a WireGuard key: expected 44 characters of base64.") from None
    if len(raw) != 32:
        raise ValueError("Not a WireGuard key: it must encode 32 bytes (44 characters of base64).")
    return raw


def normalize(value: str) -> str:
    return base64.b64encode(decode(value)).decode()

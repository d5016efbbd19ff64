"""The cache generation of resolved credentials (oauth.credentials keeps them under it), in a
module of its own so that the models can drop them without importing the credentials module."""

from inventory.runtime.caching import bump

CREDENTIALS = "credentials"  # the generation every change of a key, token, client, user, membership or tenant bumps


def forget_credentials() -> None:
    """Drop every cached credential (a key, token, client, user, membership or tenant changed)."""
    bump(CREDENTIALS)

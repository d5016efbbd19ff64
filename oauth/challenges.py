"""``WWW-Authenticate`` header values for protected endpoints (RFC 6750, RFC 9728).

Plain functions returning the header value; the caller sets the status code::

    response.status_code = 401
    response["WWW-Authenticate"] = unauthorized()                       # no/bad credential
    response.status_code = 403
    response["WWW-Authenticate"] = insufficient_scope(["inventory:write"])

``resource`` is the path of the protected resource whose metadata clients should read:
``"/mcp"`` (default) or ``"/api"``.
"""

from __future__ import annotations

from typing import Iterable

from django.conf import settings

from inventory.tenancy import Scope

#: what a client should ask for when it has no token yet: every scope (the consent page
#: lets the user untick some, and the user's roles limit the rest)
DEFAULT_CHALLENGE_SCOPES = tuple(Scope.values)


def resource_metadata_url(resource: str = "/mcp") -> str:
    """``<PUBLIC_URL>/.well-known/oauth-protected-resource/mcp`` (RFC 9728 path form)."""
    return f"{settings.PUBLIC_URL.rstrip('/')}/.well-known/oauth-protected-resource/{resource.strip('/')}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scope_string(scopes: Iterable[str] | str | None) -> str:
    if scopes is None:
        scopes = DEFAULT_CHALLENGE_SCOPES
    if isinstance(scopes, str):
        scopes = scopes.split()
    return " ".join(dict.fromkeys(str(s) for s in scopes))


def unauthorized(scopes: Iterable[str] | str | None = None, *, resource: str = "/mcp",
                 error: str | None = None, description: str | None = None) -> str:
    """401 challenge. Pass ``error="invalid_token"`` when a credential was presented but refused."""
    parts = []
    if error:
        parts.append(f"error={_quote(error)}")
        if description:
            parts.append(f"error_description={_quote(description)}")
    parts.append(f"resource_metadata={_quote(resource_metadata_url(resource))}")
    scope = _scope_string(scopes)
    if scope:
        parts.append(f"scope={_quote(scope)}")
    return "Bearer " + ", ".join(parts)


def insufficient_scope(scopes: Iterable[str] | str, *, resource: str = "/mcp",
                       description: str | None = None) -> str:
    """403 challenge naming every scope the operation needs, so clients can step up."""
    parts = ['error="insufficient_scope"', f"scope={_quote(_scope_string(scopes))}"]
    if description:
        parts.append(f"error_description={_quote(description)}")
    parts.append(f"resource_metadata={_quote(resource_metadata_url(resource))}")
    return "Bearer " + ", ".join(parts)

"""The protected resources this server issues OAuth tokens for (RFC 8707 / RFC 9728).

A token is bound to exactly one of them: ``PUBLIC_URL + "/mcp"`` (the MCP gateway) or
``PUBLIC_URL + "/api"`` (the REST API). Comparison ignores a trailing slash, the case of the
scheme and host, and a default port, so ``https://h/mcp/`` and ``https://H:443/mcp`` match.
"""

from posixpath import normpath
from urllib.parse import urlsplit

from django.conf import settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def mcp_resource() -> str:
    return settings.PUBLIC_URL.rstrip("/") + "/mcp"


def api_resource() -> str:
    return settings.PUBLIC_URL.rstrip("/") + "/api"


def allowed_resources() -> list[str]:
    """Every resource a client may ask a token for; anything else is ``invalid_target``."""
    return [mcp_resource(), api_resource()]


def normalize(uri) -> tuple | None:
    """A comparable form of a resource URI, or None when it is not an absolute http(s) URL
    without userinfo and fragment."""
    if not isinstance(uri, str) or "#" in uri:
        return None
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc or parts.query:
        return None
    return (scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], normpath(parts.path or "/"))


def same_resource(a, b) -> bool:
    na = normalize(a)
    return na is not None and na == normalize(b)


def canonical(uri) -> str | None:
    """The allowed resource ``uri`` names (in our spelling), or None if it names none of them."""
    for candidate in allowed_resources():
        if same_resource(uri, candidate):
            return candidate
    return None

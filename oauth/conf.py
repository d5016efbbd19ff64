"""OAuth 2.1 and API-key settings (imported at the end of inventory.settings).

Environment:

- ``PUBLIC_URL`` (inventory.settings): the issuer and the base of every advertised URL. The
  MCP resource is ``PUBLIC_URL + "/mcp"``, the REST resource ``PUBLIC_URL + "/api"``.
- ``MCP_OAUTH_ACCESS_TOKEN_TTL`` (default ``1h``) and ``MCP_OAUTH_REFRESH_TOKEN_TTL``
  (default ``720h``): seconds (``3600``) or a number with a unit ``s``, ``m``, ``h``, ``d``
  (``90m``, ``1h``, ``30d``). A refresh token dies that long after it was issued (each
  rotation issues a new one).
- ``OAUTH_REGISTRATION_RATE`` (default ``20/h``): dynamic client registrations allowed per
  client IP, as ``<count>/<s|m|h|d>``.
- ``OAUTH_UNUSED_CLIENT_TTL`` (default ``24h``): ``manage.py oauth_cleanup`` deletes
  self-registered clients that nobody authorized within that time.
- Client ID Metadata Documents (``oauth/cimd.py``): ``OAUTH_CIMD_ENABLED`` (default ``true``),
  ``OAUTH_CIMD_ALLOWED_HOSTS`` (comma-separated, ALLOWED_HOSTS syntax; empty: any host),
  ``OAUTH_CIMD_ALLOWED_NETWORKS`` (comma-separated CIDRs whose non-public addresses may be fetched,
  e.g. ``127.0.0.0/8`` for development; empty by default), ``OAUTH_CIMD_CA_FILE`` (trust only
  these CAs for the fetch; default: the system's), ``OAUTH_CIMD_TIMEOUT`` (seconds, default 5),
  ``OAUTH_CIMD_MAX_BYTES`` (default 5120, the draft's recommendation).
"""

import ipaddress as _ipaddress
import re

import environ as _environ

_env = _environ.Env()

__all__ = [  # what inventory.settings takes from here
    "MCP_OAUTH_ACCESS_TOKEN_TTL", "MCP_OAUTH_REFRESH_TOKEN_TTL", "OAUTH_REGISTRATION_RATE",
    "OAUTH_UNUSED_CLIENT_TTL", "OAUTH_CIMD_ENABLED", "OAUTH_CIMD_ALLOWED_HOSTS", "OAUTH_CIMD_ALLOWED_NETWORKS",
    "OAUTH_CIMD_CA_FILE", "OAUTH_CIMD_TIMEOUT", "OAUTH_CIMD_MAX_BYTES", "OAUTH2_PROVIDER_APPLICATION_MODEL", "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL", "OAUTH2_PROVIDER",
]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int, name: str = "duration") -> int:
    """``"3600"``, ``3600``, ``"90m"``, ``"1h"``, ``"720h"``, ``"30d"`` -> seconds (> 0)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(value).lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{name}: expected seconds or a number with s/m/h/d, got {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_rate(value: str, name: str = "rate") -> tuple[int, int]:
    """``"20/h"`` -> (20, 3600): at most 20 events per hour."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*", str(value).lower())
    if not match:
        raise ValueError(f"{name}: expected <count>/<s|m|h|d>, got {value!r}")
    return int(match.group(1)), int(match.group(2) or 1) * _UNITS[match.group(3)]


MCP_OAUTH_ACCESS_TOKEN_TTL = parse_duration(
    _env.str("MCP_OAUTH_ACCESS_TOKEN_TTL", default="1h"), "MCP_OAUTH_ACCESS_TOKEN_TTL"
)
MCP_OAUTH_REFRESH_TOKEN_TTL = parse_duration(
    _env.str("MCP_OAUTH_REFRESH_TOKEN_TTL", default="720h"), "MCP_OAUTH_REFRESH_TOKEN_TTL"
)
OAUTH_REGISTRATION_RATE = parse_rate(_env.str("OAUTH_REGISTRATION_RATE", default="20/h"))
OAUTH_UNUSED_CLIENT_TTL = parse_duration(
    _env.str("OAUTH_UNUSED_CLIENT_TTL", default="24h"), "OAUTH_UNUSED_CLIENT_TTL"
)

OAUTH_CIMD_ENABLED = _env.bool("OAUTH_CIMD_ENABLED", default=True)
OAUTH_CIMD_ALLOWED_HOSTS = _env.list("OAUTH_CIMD_ALLOWED_HOSTS", default=[])
OAUTH_CIMD_ALLOWED_NETWORKS = [str(_ipaddress.ip_network(n.strip(), strict=False))  # a typo fails at start
                               for n in _env.list("OAUTH_CIMD_ALLOWED_NETWORKS", default=[]) if n.strip()]
OAUTH_CIMD_CA_FILE = _env.str("OAUTH_CIMD_CA_FILE", default="")
OAUTH_CIMD_TIMEOUT = _env.float("OAUTH_CIMD_TIMEOUT", default=5.0)
OAUTH_CIMD_MAX_BYTES = _env.int("OAUTH_CIMD_MAX_BYTES", default=5120)

_SCOPES = {
    "inventory:read": "Read the inventory",
    "inventory:write": "Create and change inventory objects",
    "inventory:delete": "Delete inventory objects",
    "jobs:execute": "Run jobs: scans, provisioning and commands",
}

# DOT's models are used as they are (not swapped); named here because migrations refer to them
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"

OAUTH2_PROVIDER = {
    "SCOPES": _SCOPES,
    "DEFAULT_SCOPES": list(_SCOPES),
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.InventoryOAuth2Validator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": MCP_OAUTH_ACCESS_TOKEN_TTL,
    # DOT counts this from the access token's expiry; oauth.validators also caps it from issue
    "REFRESH_TOKEN_EXPIRE_SECONDS": MCP_OAUTH_REFRESH_TOKEN_TTL,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # replaying a used refresh token revokes its family
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],  # http only for loopback (oauth.registration)
    "ALLOW_LOCALHOST_LOOPBACK": True,  # http://localhost:<any port> like 127.0.0.1 (RFC 8252)
    "REQUEST_APPROVAL_PROMPT": "force",  # always show the consent page
    "OIDC_ENABLED": False,
    # "OIDC_ISS_ENDPOINT": the issuer, pinned (RFC 9207 `iss`, never from the Host header): set to
    # PUBLIC_URL by inventory.settings (fragments import nothing from the settings being loaded)
    "DCR_ENABLED": False,  # DOT's registration is unsafe by default; oauth.views.RegisterView instead
    # Client ID Metadata Documents: DOT resolves them, with our fetcher and host policy (oauth.cimd)
    "CIMD_ENABLED": OAUTH_CIMD_ENABLED,
    "CIMD_METADATA_FETCHER": "oauth.cimd.InventoryMetadataFetcher",
    "CIMD_REGISTRATION_PERMISSION_CLASSES": ("oauth.cimd.AllowedHostsPermission",),
    "CIMD_MAX_DOCUMENT_SIZE": OAUTH_CIMD_MAX_BYTES,
    "CIMD_FETCH_TIMEOUT_SECONDS": OAUTH_CIMD_TIMEOUT,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # only sha256 checksums of tokens are stored
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

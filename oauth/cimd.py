"""Client ID Metadata Documents (CIMD): an ``https`` URL as ``client_id``.

django-oauth-toolkit resolves such a client_id itself (``oauth2_provider.cimd``: the document's
``client_id`` must equal the URL, no ``client_secret``, public client, the Application row is
created on first sight and re-fetched when its ``Cache-Control`` lifetime is over, a failed URL is
backed off for a minute, at most 10 fetches in flight per process). This module is the fetcher and
the permission class it calls (``CIMD_METADATA_FETCHER``, ``CIMD_REGISTRATION_PERMISSION_CLASSES``
in ``oauth/conf.py``), with our rules:

- the fetch: ``https`` only; every address the host resolves to must be public, or inside
  ``OAUTH_CIMD_ALLOWED_NETWORKS`` (empty by default: no loopback, private or link-local target);
  the connection goes to the address that was checked (no second lookup to rebind); TLS verified
  against the system's CAs, or only ``OAUTH_CIMD_CA_FILE`` when set; no redirects (anything but
  ``200`` fails); a JSON content type; at most ``OAUTH_CIMD_MAX_BYTES``; one deadline of
  ``OAUTH_CIMD_TIMEOUT`` seconds for resolving, connecting and reading, checked between reads, so a
  server sending a byte at a time is cut off too;
- the document: the same rules as dynamic registration (``oauth.views.validate_redirect_uri``:
  https, or http on a loopback host; no fragment, credentials or invisible characters; 1 to 10
  URIs; the name without invisible characters), ``authorization_code`` among its grant types (the
  ones we do not issue, such as Claude's ``jwt-bearer``, are ignored), ``response_types`` with
  ``code``, ``token_endpoint_auth_method`` ``none``;
- which hosts may be clients at all: ``OAUTH_CIMD_ALLOWED_HOSTS`` (ALLOWED_HOSTS syntax; empty:
  any host).

A refused document is logged (logger ``oauth2_provider.cimd``, INFO, with the reason) and looks
like an unknown client to the OAuth flow (``Invalid client_id``), as the draft asks.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from urllib.parse import urlparse

import urllib3
from django.conf import settings
from django.http.request import validate_host
from oauth2_provider import cimd as dot_cimd
from oauth2_provider.cimd import CIMDError

SUPPORTED_GRANTS = ("authorization_code", "refresh_token")
MAX_REDIRECT_URIS = 10


def allowed_networks():
    return [ipaddress.ip_network(n, strict=False) for n in settings.OAUTH_CIMD_ALLOWED_NETWORKS]


def address_allowed(ip: str) -> bool:
    """A public address, or one inside ``OAUTH_CIMD_ALLOWED_NETWORKS``."""
    if dot_cimd._ip_is_public(ip):
        return True
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in allowed_networks())


def resolve(hostname: str, port: int) -> list[str]:
    """The host's addresses, all of them allowed, or CIMDError (one bad address refuses the host)."""
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise CIMDError(f"could not resolve the client_id host: {exc}") from exc
    ips = list(dict.fromkeys(info[4][0] for info in infos))
    for ip in ips:
        if not address_allowed(ip):
            raise CIMDError(f"the client_id host resolves to a non-public address ({ip}); "
                            "see OAUTH_CIMD_ALLOWED_NETWORKS")
    if not ips:
        raise CIMDError("the client_id host did not resolve to any address")
    return ips


def clean_document(metadata: dict) -> dict:
    """Our registration rules applied to a fetched document; returns the fields DOT reads."""
    from oauth.views import RegistrationError, strip_invisible, validate_redirect_uri

    if "client_secret" in metadata or "client_secret_expires_at" in metadata:
        raise CIMDError("the document must not carry client_secret or client_secret_expires_at")
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        raise CIMDError(f"redirect_uris must be a list of 1 to {MAX_REDIRECT_URIS} URIs")
    try:
        uris = [validate_redirect_uri(uri) for uri in uris]
    except RegistrationError as exc:
        raise CIMDError(f"{exc.error}: {exc.description}") from exc
    grants = metadata.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants) or "authorization_code" not in grants:
        raise CIMDError("grant_types must be a list of strings including authorization_code")
    responses = metadata.get("response_types", ["code"])
    if not isinstance(responses, list) or "code" not in responses:
        raise CIMDError('response_types must include "code"')
    auth_method = metadata.get("token_endpoint_auth_method") or "none"
    if auth_method != "none":
        raise CIMDError(f'token_endpoint_auth_method must be "none" (a public client), not {auth_method!r}')
    name = metadata.get("client_name", "")
    if not isinstance(name, str):
        raise CIMDError("client_name must be a string")
    host = urlparse(metadata.get("client_id") or "").hostname or "unnamed client"
    return {
        "client_id": metadata.get("client_id"),
        "client_name": strip_invisible(name).strip()[:100] or host,
        "redirect_uris": uris,
        "grant_types": [g for g in SUPPORTED_GRANTS if g in grants],
        "token_endpoint_auth_method": "none",
    }


class InventoryMetadataFetcher:
    """``fetch(client_id) -> (document, max_age_seconds)`` or CIMDError (DOT's fetcher contract)."""

    def fetch(self, client_id: str):
        if len(client_id) > 255:
            raise CIMDError("the client_id URL is longer than 255 characters")
        parsed = dot_cimd._validate_client_id_url(client_id)
        deadline = time.monotonic() + settings.OAUTH_CIMD_TIMEOUT
        port = parsed.port or 443
        ips = resolve(parsed.hostname, port)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        headers = {"Host": parsed.netloc, "Accept": "application/json, application/*+json"}
        context = ssl.create_default_context(cafile=settings.OAUTH_CIMD_CA_FILE or None)
        last = None
        for ip in ips:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # connect to the checked address; SNI, certificate check and Host use the name
            pool = urllib3.HTTPSConnectionPool(
                host=ip, port=port, retries=False, maxsize=1, ssl_context=context,
                server_hostname=parsed.hostname,
                timeout=urllib3.Timeout(connect=remaining, read=remaining, total=remaining),
            )
            try:
                response = pool.urlopen("GET", path, headers=headers, redirect=False, preload_content=False)
                try:
                    return self.read(response, deadline)
                finally:
                    response.release_conn()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                last = exc
            finally:
                pool.close()
        raise CIMDError(f"could not fetch the client_id document: {last or 'timed out'}")

    def read(self, response, deadline: float):
        if response.status != 200:  # a redirect too: it is never followed
            raise CIMDError(f"the client_id document answered HTTP {response.status}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
            raise CIMDError(f"the client_id document is not JSON (Content-Type {media_type!r})")
        limit = settings.OAUTH_CIMD_MAX_BYTES
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise CIMDError(f"the client_id document is larger than {limit} bytes")
        body = bytearray()
        sock = getattr(getattr(response, "connection", None), "sock", None)
        while len(body) <= limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CIMDError(f"the client_id document took longer than {settings.OAUTH_CIMD_TIMEOUT} s")
            if sock is not None:
                sock.settimeout(remaining)  # each read waits at most until the deadline
            chunk = response.read1(limit + 1 - len(body)) if hasattr(response, "read1") else response.read(1024)
            if not chunk:
                break
            body += chunk
        if len(body) > limit:
            raise CIMDError(f"the client_id document is larger than {limit} bytes")
        try:
            data = json.loads(bytes(body))
        except (ValueError, RecursionError) as exc:
            raise CIMDError("the client_id document is not valid JSON") from exc
        if not isinstance(data, dict):
            raise CIMDError("the client_id document must be a JSON object")
        return clean_document(data), dot_cimd._effective_max_age(response.headers.get("Cache-Control"))


class AllowedHostsPermission:
    """``OAUTH_CIMD_ALLOWED_HOSTS`` (ALLOWED_HOSTS syntax) names the hosts whose URLs may be
    client ids; empty: any host (the fetch rules still apply)."""

    def has_permission(self, request, client_id) -> bool:
        allowed = settings.OAUTH_CIMD_ALLOWED_HOSTS
        if not allowed:
            return True
        host = urlparse(client_id).hostname
        return bool(host) and validate_host(host, allowed)

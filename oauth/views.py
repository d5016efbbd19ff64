"""OAuth 2.1 endpoints: metadata, registration, consent, a probe, and the OAuth clients page.

URLs (oauth/urls.py, included at the site root):

- ``/.well-known/oauth-authorization-server`` (RFC 8414), ``/.well-known/oauth-protected-resource``
  and ``/.well-known/oauth-protected-resource/mcp`` (RFC 9728, the MCP resource) and
  ``/.well-known/oauth-protected-resource/api`` (the REST API). Every URL comes from
  ``settings.PUBLIC_URL``, never from the Host header.
- ``/oauth/register/`` dynamic client registration (RFC 7591), public clients only.
- ``/oauth/authorize/`` consent (login: the admin login), ``/oauth/token/``, ``/oauth/revoke/``.
- ``/oauth/whoami`` a protected probe (MCP resource) used by tests and for troubleshooting.
- ``/oauth-clients/`` the clients a user authorized (all clients for superusers), with revoke.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_access_token_model, get_application_model, get_grant_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView, RevokeTokenView
from oauth2_provider.views import TokenView as DOTTokenView
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from inventory.models import Tenant
from inventory.tenancy import Action, Principal, Scope
from oauth import challenges
from oauth.credentials import authenticate_bearer, tenant_scopes
from oauth.resources import api_resource, canonical, mcp_resource

log = logging.getLogger(__name__)

Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
SCOPE_WORDS = dict(Scope.choices)


def _cors(response):
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _public(path: str = "") -> str:
    return settings.PUBLIC_URL.rstrip("/") + path


# --- metadata --------------------------------------------------------------------------
@require_GET
def authorization_server_metadata(request):
    """RFC 8414 metadata; the issuer is PUBLIC_URL."""
    methods = ["none", "client_secret_basic", "client_secret_post"]
    return _cors(JsonResponse({
        "issuer": _public(),
        "authorization_endpoint": _public("/oauth/authorize/"),
        "token_endpoint": _public("/oauth/token/"),
        "registration_endpoint": _public("/oauth/register/"),
        "revocation_endpoint": _public("/oauth/revoke/"),
        "scopes_supported": list(Scope.values),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        # client_credentials: only admin-created confidential service clients
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": oauth2_settings.CIMD_ENABLED,
    }))


@require_GET
def protected_resource_metadata(request, resource: str = "mcp"):
    """RFC 9728 metadata for the MCP resource (root and ``/mcp`` forms) or the REST API."""
    return _cors(JsonResponse({
        "resource": api_resource() if resource == "api" else mcp_resource(),
        "authorization_servers": [_public()],
        "scopes_supported": list(Scope.values),
        "bearer_methods_supported": ["header"],
        "resource_name": "Inventory REST API" if resource == "api" else "Inventory MCP server",
    }))


# --- dynamic client registration (RFC 7591) --------------------------------------------
class RegistrationError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


def _registration_error(error, description, status=400):
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limited(request) -> bool:
    """At most OAUTH_REGISTRATION_RATE registrations per client IP (fixed window, Django cache)."""
    limit, window = settings.OAUTH_REGISTRATION_RATE
    key = f"oauth:register:{_client_ip(request)}"
    if cache.add(key, 1, window):
        return False
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, window)
        return False
    return count > limit


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: invisible characters that can make one text look like another (bidirectional overrides such as
#: U+202E, zero-width joiners; category Cf) and line/paragraph separators
_INVISIBLE = {"Cf", "Zl", "Zp"}


def strip_invisible(text: str) -> str:
    """``text`` without Unicode format (Cf) and control characters, which could disguise a name."""
    return "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE and unicodedata.category(c) != "Cc")


def validate_redirect_uri(uri) -> str:
    """https anywhere, or http on a loopback host (any port); no fragment, no userinfo."""
    if not isinstance(uri, str) or not uri or len(uri) > 2000 or any(c.isspace() for c in uri):
        raise RegistrationError("invalid_redirect_uri", "Each redirect URI must be a non-empty string without spaces.")
    if strip_invisible(uri) != uri:
        raise RegistrationError("invalid_redirect_uri", "A redirect URI must not contain invisible (format or control) characters.")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise RegistrationError("invalid_redirect_uri", f"{uri!r} is not a valid URL.")
    if "#" in uri:
        raise RegistrationError("invalid_redirect_uri", f"{uri!r}: a redirect URI must not have a fragment.")
    if "@" in parts.netloc:
        raise RegistrationError("invalid_redirect_uri", f"{uri!r}: a redirect URI must not carry credentials.")
    if not parts.hostname:
        raise RegistrationError("invalid_redirect_uri", f"{uri!r}: an absolute URL with a host is required.")
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri
    raise RegistrationError(
        "invalid_redirect_uri",
        f"{uri!r}: redirect URIs must be https, or http on a loopback address (127.0.0.1, [::1], localhost).",
    )


def clean_registration(data) -> dict:
    """Validate RFC 7591 metadata for a public authorization-code client; return model fields."""
    if not isinstance(data, dict):
        raise RegistrationError("invalid_client_metadata", "The body must be a JSON object.")
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not 1 <= len(uris) <= 5:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris must be a list of 1 to 5 URIs.")
    uris = [validate_redirect_uri(u) for u in uris]

    grant_types = data.get("grant_types", ["authorization_code", "refresh_token"])
    if (not isinstance(grant_types, list) or "authorization_code" not in grant_types
            or not set(grant_types) <= {"authorization_code", "refresh_token"}):
        raise RegistrationError(
            "invalid_client_metadata",
            "grant_types must be authorization_code (and optionally refresh_token); other grants, "
            "such as client_credentials, cannot be registered.",
        )
    response_types = data.get("response_types", ["code"])
    if response_types != ["code"]:
        raise RegistrationError("invalid_client_metadata", 'response_types must be ["code"].')
    auth_method = data.get("token_endpoint_auth_method") or "none"
    if auth_method != "none":
        raise RegistrationError(
            "invalid_client_metadata",
            'Only public clients can register: token_endpoint_auth_method must be "none".',
        )
    name = data.get("client_name", "")
    if not isinstance(name, str):
        raise RegistrationError("invalid_client_metadata", "client_name must be a string.")
    name = strip_invisible(name).strip()[:100] or "Unnamed client"
    return {"name": name, "redirect_uris": " ".join(uris)}


@csrf_exempt
def register(request):
    """Anonymous registration of public MCP clients; rate-limited per IP."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if _rate_limited(request):
        response = _registration_error(
            "temporarily_unavailable", "Too many client registrations from this address; try again later.", 429)
        response["Retry-After"] = str(settings.OAUTH_REGISTRATION_RATE[1])
        return response
    if len(request.body) > 16384:
        return _registration_error("invalid_client_metadata", "The registration request is too large.")
    try:
        data = json.loads(request.body or b"null")
        fields = clean_registration(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _registration_error("invalid_client_metadata", "The body must be valid JSON (and nested at most a few levels).")
    except RegistrationError as exc:
        return _registration_error(exc.error, exc.description)
    app = Application(
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        registration_source=Application.RegistrationSource.DCR,
        skip_authorization=False,
        client_secret="",  # public: no secret (and no costly hashing of a useless one)
        hash_client_secret=False,
        **fields,
    )
    app.full_clean()
    app.save()
    log.info("registered OAuth client %s (%s) from %s", app.client_id, app.name, _client_ip(request))
    return JsonResponse({
        "client_id": app.client_id,
        "client_id_issued_at": int(app.created.timestamp()),
        "client_name": app.name,
        "redirect_uris": app.redirect_uris.split(),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": " ".join(Scope.values),
    }, status=201)


# --- consent ---------------------------------------------------------------------------
ALL_TENANTS = "*"


class ConsentForm(AllowForm):
    """DOT's hidden authorization fields plus the user's choices: scopes and tenants."""

    granted_scopes = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    tenants = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        requested = (self.data.get("scope") if self.is_bound else self.initial.get("scope")) or ""
        requested = [s for s in requested.split() if s in SCOPE_WORDS] or list(Scope.values)
        self.fields["granted_scopes"].choices = [(s, f"{SCOPE_WORDS[s]} ({s})") for s in requested]
        self.fields["granted_scopes"].initial = requested
        self.tenant_list = list(Tenant.objects.restrict(Principal(user), Action.VIEW).order_by("name"))
        choices = [(str(t.pk), t.name) for t in self.tenant_list]
        if len(self.tenant_list) > 1 or user.is_superuser:
            label = ("All tenants, including future ones (administrator access)" if user.is_superuser
                     else "All my tenants, including ones I join later")
            choices.append((ALL_TENANTS, label))
        self.fields["tenants"].choices = choices
        if len(self.tenant_list) == 1:
            self.fields["tenants"].initial = [str(self.tenant_list[0].pk)]

    def clean(self):
        data = super().clean()
        if not data.get("allow"):
            return data  # deny needs no choices
        if not data.get("granted_scopes"):
            self.add_error("granted_scopes", "Choose at least one permission, or deny.")
        chosen = data.get("tenants") or []
        if self.tenant_list and not chosen:
            self.add_error("tenants", "Choose the tenants this client may act in, or deny.")
        return data

    def tenant_ids(self):
        """None = all (the "all" option), else the chosen tenant ids."""
        chosen = self.cleaned_data.get("tenants") or []
        if ALL_TENANTS in chosen:
            return None
        return [int(c) for c in chosen]


class ConsentView(AuthorizationView):
    """Authorization endpoint with our consent page (admin look) and tenant choice."""

    template_name = "oauth/authorize.html"
    form_class = ConsentForm

    def get(self, request, *args, **kwargs):
        # DOT lets a client skip the consent page with approval_prompt=auto; we always ask,
        # because the tenant choice is made there
        if "approval_prompt" in request.GET:
            request.GET = request.GET.copy()
            request.GET.pop("approval_prompt")
        return super().get(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def redirect(self, redirect_to, application):
        """Every redirect back to the client, errors included (RFC 9207 section 2), names the
        issuer. DOT adds it to successful responses only."""
        parts = urlsplit(redirect_to)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(key == "iss" for key, _ in query):
            query.append(("iss", oauth2_settings.oauth2_authorization_server_issuer(self.request)))
            redirect_to = urlunsplit(parts._replace(query=urlencode(query)))
        return super().redirect(redirect_to, application)

    def validate_authorization_request(self, request):
        """DOT's checks plus: S256 PKCE only, and the resource must be ours (RFC 8707)."""
        scopes, credentials = super().validate_authorization_request(request)

        def fail(error):
            error.state = credentials.get("state")
            raise OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"])

        if credentials.get("code_challenge_method") != "S256":
            fail(oauth_errors.InvalidRequestError(
                description='PKCE with code_challenge_method "S256" is required.'))
        for uri in request.GET.getlist("resource"):
            if canonical(uri) is None:
                fail(oauth_errors.CustomOAuth2Error(
                    error="invalid_target", description=f"Unknown resource {uri!r}."))
        return scopes, credentials

    def form_valid(self, form):
        self._tenant_scopes = []
        if form.cleaned_data.get("allow"):
            form.cleaned_data["scope"] = " ".join(form.cleaned_data["granted_scopes"])
            self._tenant_scopes = tenant_scopes(form.tenant_ids()) if form.cleaned_data.get("tenants") else []
        return super().form_valid(form)

    def create_authorization_response(self, request, scopes, credentials, allow):
        credentials["consented_tenant_scopes"] = getattr(self, "_tenant_scopes", [])
        return super().create_authorization_response(request, scopes, credentials, allow)

    def form_invalid(self, form):
        application = Application.objects.filter(client_id=form.data.get("client_id", "")).first()
        if application is None:
            raise Http404("Unknown client")
        return self.render_to_response(self.get_context_data(
            form=form, application=application, redirect_uri=form.data.get("redirect_uri", "")))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        redirect_uri = context.get("redirect_uri") or ""
        host = urlsplit(redirect_uri).hostname or ""
        context.update({
            # a name stored before registration stripped invisible characters is shown without them
            "client_name": strip_invisible(application.name) if application is not None else "",
            "title": "Authorize access",
            "site_header": "Infrastructure inventory",
            "unverified": application is not None and application.registration_source != "manual",
            # a Client ID Metadata Document client: its identity is the host publishing the document
            "cimd_host": (urlsplit(application.client_id).hostname
                          if application is not None and application.registration_source == "cimd" else ""),
            "redirect_host": host,
            "redirect_is_loopback": is_loopback_host(host),
            "resource": (context.get("resource") or mcp_resource()),
        })
        return context


# --- token and revocation endpoints ----------------------------------------------------
class JsonErrorsMixin:
    """DOT answers some token errors with a JSON body but an HTML content type; fix that."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.content[:1] == b"{" and "json" not in response.get("Content-Type", ""):
            response["Content-Type"] = "application/json"
        response.setdefault("Cache-Control", "no-store")
        return response


class TokenView(JsonErrorsMixin, DOTTokenView):
    pass


class RevokeView(JsonErrorsMixin, RevokeTokenView):
    pass


# --- protected probe -------------------------------------------------------------------
def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() != "bearer ":
        return None
    return header[7:].strip()


@require_GET
def whoami(request):
    """Who the bearer is, seen from the MCP resource: user, client, scopes, visible tenants.

    ``?need=<scope>`` answers 403 ``insufficient_scope`` when the token lacks that scope.
    """
    raw = _bearer(request)
    principal = authenticate_bearer(raw, resource=mcp_resource()) if raw else None
    if principal is None:
        response = JsonResponse({"error": "invalid_token" if raw else "unauthorized"}, status=401)
        response["WWW-Authenticate"] = challenges.unauthorized(error="invalid_token" if raw else None)
        return response
    need = request.GET.get("need")
    if need and need in Scope.values and not principal.has_scope(need):
        response = JsonResponse({"error": "insufficient_scope", "scope": need}, status=403)
        response["WWW-Authenticate"] = challenges.insufficient_scope(sorted(set(principal.scopes) | {need}))
        return response
    tenants = Tenant.objects.restrict(principal, Action.VIEW).order_by("name").values_list("name", flat=True)
    return JsonResponse({
        "user": principal.user.get_username(),
        "via": principal.via,
        "client_id": principal.client_id,
        "client_name": principal.client_name,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
        "tenants": list(tenants),
    })


# --- OAuth clients page ----------------------------------------------------------------
def _clients_for(user):
    """Clients the user authorized (all clients for a superuser), with active-token counts."""
    now = timezone.now()
    active = Q(accesstoken__expires__gt=now)
    if not user.is_superuser:
        active &= Q(accesstoken__user=user)
    qs = Application.objects.select_related("inventory_profile").annotate(
        active_tokens=Count("accesstoken", filter=active, distinct=True))
    if not user.is_superuser:
        qs = qs.filter(
            Q(accesstoken__user=user) | Q(refreshtoken__user=user, refreshtoken__revoked__isnull=True)
            | Q(user=user)
        ).distinct()
    return qs.order_by("-created")


@login_required
def client_list(request):
    clients = list(_clients_for(request.user))
    for client in clients:
        client.redirect_list = client.redirect_uris.split()
        client.profile = getattr(client, "inventory_profile", None)
    return render(request, "oauth/clients.html", {
        "title": "OAuth clients",
        "site_header": "Infrastructure inventory",
        "clients": clients,
        "is_admin": request.user.is_superuser,
    })


@login_required
@require_POST
def client_revoke(request, pk: int):
    """Revoke the current user's tokens for a client (a superuser: everyone's)."""
    client = get_object_or_404(_clients_for(request.user), pk=pk)
    revoke_client_tokens(client, None if request.user.is_superuser else request.user)
    return redirect("oauth-clients")


@login_required
@require_POST
def client_delete(request, pk: int):
    """Superusers only: delete the client, which deletes all its grants and tokens at once."""
    if not request.user.is_superuser:
        raise Http404
    client = get_object_or_404(Application, pk=pk)
    client.delete()
    return redirect("oauth-clients")


def revoke_client_tokens(client, user=None) -> None:
    """Delete access tokens and grants, revoke refresh tokens of ``client`` (for ``user`` or all)."""
    who = {"user": user} if user is not None else {}
    with transaction.atomic():
        RefreshToken.objects.filter(application=client, revoked__isnull=True, **who).update(
            revoked=timezone.now(), access_token=None)
        AccessToken.objects.filter(application=client, **who).delete()
        Grant.objects.filter(application=client, **who).delete()

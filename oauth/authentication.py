"""DRF authentication for ``Authorization: Bearer <API key | OAuth access token>``.

Returns ``(user, principal)`` so ``request.auth`` is the :class:`~inventory.tenancy.Principal`
(``Principal.of(request)`` finds it). OAuth tokens must be bound to the REST resource
(``PUBLIC_URL + "/api"``); API keys work everywhere. A bearer that is unknown, revoked,
expired or bound elsewhere is a 401 whose ``WWW-Authenticate`` names the resource metadata.
"""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from inventory.auditing import attribute_to
from oauth.challenges import unauthorized
from oauth.credentials import authenticate_bearer
from oauth.resources import api_resource


class BearerAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None  # not ours: let session authentication try
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid bearer token.")
        principal = authenticate_bearer(raw, resource=api_resource())
        if principal is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked bearer token.")
        attribute_to(request._request, principal.user)  # audit entries of this request name the key's user
        return (principal.user, principal)

    def authenticate_header(self, request):
        presented = get_authorization_header(request)[:7].lower() == b"bearer "
        return unauthorized(resource="/api", error="invalid_token" if presented else None)

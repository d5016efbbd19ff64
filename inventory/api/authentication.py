"""Stand-in used only until ``oauth.authentication.BearerAuthentication`` exists."""

from rest_framework.authentication import BaseAuthentication


class BearerChallenge(BaseAuthentication):
    """Authenticates nobody; makes unauthenticated answers 401 with ``WWW-Authenticate: Bearer``."""

    def authenticate(self, request):
        return None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'

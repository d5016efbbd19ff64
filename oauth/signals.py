"""Drop cached credentials (``oauth.credentials``) whenever what they were resolved from changes:
API keys, OAuth tokens and clients, users, tenant memberships, tenants."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import get_access_token_model, get_application_model

from inventory.models import Membership, Tenant
from oauth.credentials import forget_credentials
from oauth.models import ApiKey, ClientProfile


def _changed(sender, **kwargs):
    forget_credentials()


def connect() -> None:
    for model in (ApiKey, ClientProfile, get_access_token_model(), get_application_model(), get_user_model(), Membership, Tenant):
        post_save.connect(_changed, sender=model, dispatch_uid=f"oauth-credentials-{model._meta.label}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"oauth-credentials-delete-{model._meta.label}")

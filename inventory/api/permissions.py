"""The REST side of the tenancy rule: one permission class and one viewset mixin for every kind."""

from rest_framework.permissions import BasePermission

from inventory.services.common import forbidden
from inventory.tenancy import Action, Principal

#: viewset action -> tenancy action (views may override with ``tenancy_actions``)
DEFAULT_ACTIONS = {
    "list": Action.VIEW,
    "retrieve": Action.VIEW,
    "create": Action.ADD,
    "update": Action.CHANGE,
    "partial_update": Action.CHANGE,
    "destroy": Action.DELETE,
    "bulk_update": Action.CHANGE,
    "bulk_partial_update": Action.CHANGE,
    "bulk_destroy": Action.DELETE,
    "metadata": Action.VIEW,
}
SAFE_METHODS_ACTION = Action.VIEW


def tenancy_action(view, request) -> str:
    actions = {**DEFAULT_ACTIONS, **getattr(view, "tenancy_actions", {})}
    name = getattr(view, "action", None)
    if name in actions:
        action = actions[name]
        return action.get(request.method.lower(), Action.VIEW) if isinstance(action, dict) else action
    return Action.VIEW if request.method in ("GET", "HEAD", "OPTIONS") else Action.CHANGE


class TenancyPermission(BasePermission):
    """Authenticated; the credential has the action's scope (403 naming it); the role allows
    the action in at least one tenant (writes) or on the object (object level).

    Objects outside ``restrict(principal, "view")`` never reach here: they are 404.
    """

    def has_permission(self, request, view):
        principal = Principal.of(request)
        if not principal.is_authenticated:
            return False  # 401 with the Bearer challenge
        action = tenancy_action(view, request)
        if principal.missing_scopes(action):
            raise forbidden(principal, action)
        if getattr(view, "action", None) == "create" and hasattr(view, "check_create"):
            view.check_create(principal)
        return True

    def has_object_permission(self, request, view, obj):
        # writes check the object in the serializer/service (one place for REST and MCP);
        # deletes in inventory.services.common.delete_object
        return True

"""Permission checks, validated saves and the exceptions every service raises."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connections, transaction
from rest_framework import exceptions
from rest_framework.settings import api_settings

from inventory.runtime import precompiled
from inventory.tenancy import Action, Principal


class Conflict(exceptions.APIException):
    """409: the request is valid but the current state refuses it (full pool, race)."""

    status_code = 409
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def forbidden(principal: Principal, action: str, what: str = "") -> exceptions.PermissionDenied:
    """The 403 for ``action``: names the missing credential scope, else the missing role."""
    what = f" {what}" if what else ""
    missing = principal.missing_scopes(action)
    if missing:
        exc = exceptions.PermissionDenied(
            f"This credential lacks the scope {' '.join(missing)} needed to {action}{what}.",
            code="insufficient_scope",
        )
        if principal.via != "session":
            exc.auth_header = f'Bearer error="insufficient_scope", scope="{" ".join(missing)}"'
        return exc
    return exceptions.PermissionDenied(
        f"Your role does not allow you to {Action(action).label}{what}.", code="permission_denied"
    )


def check(principal: Principal, action: str, target=None, what: str = "") -> None:
    """Raise 403 unless ``principal.can(action, target)``."""
    if not principal.can(action, target):
        raise forbidden(principal, action, what)


#: while a call is traced (tenant_trace), the tenant of the first object it read, saved or deleted
_traced: ContextVar[list | None] = ContextVar("inventory_traced_tenant", default=None)


@contextlib.contextmanager
def tenant_trace():
    """Yields a list that receives the tenant id of the first object the code inside reads
    through :func:`get_for`, saves through :func:`save_model` or deletes through
    :func:`delete_object`: which tenant a call (an MCP tool call) acted in, for its audit row,
    without each handler saying it."""
    box: list = []
    token = _traced.set(box)
    try:
        yield box
    finally:
        _traced.reset(token)


def _trace(obj) -> None:
    box = _traced.get()
    if box is not None and not box:
        tenant_id = getattr(obj, "tenant_id", None)
        if tenant_id is not None:
            box.append(tenant_id)


_INTEGER_KEYS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField"}


def as_pk(model, pk) -> int | None:
    """The primary key as the database compares it, or None when no row can have it."""
    if isinstance(pk, bool):
        return None
    try:
        value = int(pk) if isinstance(pk, int) else int(str(pk).strip())
    except (TypeError, ValueError):
        return None
    low, high = connections[model.objects.db].ops.integer_field_range(model._meta.pk.get_internal_type())
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def get_for(principal: Principal, model, pk, action: str = Action.VIEW, *, build=None, shape=None):
    """The object ``pk`` of ``model`` as the principal sees it.

    Outside ``restrict(principal, "view")`` (another tenant's, or absent): 404. Visible but
    ``action`` not allowed: 403. ``build``: a function returning the queryset to read through
    (joins, row locks), the same every time for its ``shape`` name (see inventory.runtime.precompiled).
    An integer key no row can have (``"abc"``, ``True``, ``1.5``, out of the column's range): 404.
    """
    if build is None:
        build, shape = model.objects.all, ("all", model)
    if model._meta.pk.get_internal_type() in _INTEGER_KEYS:
        pk_value = as_pk(model, pk)
        if pk_value is None:
            raise exceptions.NotFound(f"No {model._meta.verbose_name} with id {pk!r}.")
    else:
        pk_value = pk
    try:
        obj = precompiled.get_visible(principal, model, shape, build, pk_value)  # restrict().get() when off
    except (model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise exceptions.NotFound(f"No {model._meta.verbose_name} with id {pk!r}.") from None
    _trace(obj)
    if action != Action.VIEW:
        check(principal, action, obj, f"this {model._meta.verbose_name}")
    return obj


#: fields that only scope a uniqueness rule; the error belongs to the other field
_CONTEXT_FIELDS = {"tenant", "network", "type"}


def as_drf_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A model ValidationError as a DRF one; uniqueness errors land on their field."""
    if not hasattr(exc, "error_dict"):
        return exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.messages})
    detail: dict[str, list[str]] = {}
    for field, errors in exc.error_dict.items():
        for error in errors:
            key = field
            if field == NON_FIELD_ERRORS:
                check_fields = (error.params or {}).get("unique_check") if error.code == "unique_together" else None
                named = [f for f in (check_fields or ()) if f not in _CONTEXT_FIELDS]
                key = named[-1] if named else api_settings.NON_FIELD_ERRORS_KEY
            detail.setdefault(key, []).extend(error.messages)
    return exceptions.ValidationError(detail)


def save_model(instance, *, exclude=None, savepoint: bool = True, clean: bool = True) -> None:
    """Validate (fields, clean, uniqueness, constraints) then save; errors become 400/409.

    The database's unique constraints stay the last line: a lost race is a 409.
    ``savepoint=False``: the caller's transaction is abandoned on a conflict anyway (spares
    two round trips). ``clean=False``: the caller has validated the instance itself.
    """
    if clean:
        try:
            instance.full_clean(exclude=exclude)
        except DjangoValidationError as exc:
            raise as_drf_validation_error(exc) from None
    try:
        with transaction.atomic(savepoint=savepoint):
            if hasattr(instance, "tenant_links"):  # TenantOwned: already validated above
                instance.save(validate=False)
            else:
                instance.save()
    except IntegrityError:
        raise Conflict(
            f"This {instance._meta.verbose_name} conflicts with one saved at the same moment; reload and retry."
        ) from None
    except DjangoValidationError as exc:  # pragma: no cover - validation inside save()
        raise as_drf_validation_error(exc) from None
    _trace(instance)


def check_delete(principal: Principal, instance) -> None:
    """Raise 403 unless the principal may delete ``instance`` (what :func:`delete_object` checks)."""
    from inventory.models import Tenant

    if isinstance(instance, Tenant):
        if not principal.can_create_tenants():
            raise forbidden(principal, Action.DELETE, "tenants") if principal.missing_scopes(Action.DELETE) else \
                exceptions.PermissionDenied("Only superusers may delete tenants.", code="permission_denied")
    else:
        check(principal, Action.DELETE, instance, f"this {instance._meta.verbose_name}")


def delete_object(principal: Principal, instance) -> None:
    """Delete ``instance`` if the principal may (admin role and ``inventory:delete`` scope).

    Tenants themselves can be deleted only by principals that may create tenants.
    """
    check_delete(principal, instance)
    _trace(instance)
    with transaction.atomic():
        instance.delete()

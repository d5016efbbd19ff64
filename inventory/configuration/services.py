"""Configuration operations shared by REST, MCP and the admin (a Principal first; DRF errors).

Reading: ``restrict(principal, "view")`` (global rows included); an object outside it is 404.
Writing: the tenant's operator role (add/change), admin for deletes; global rows only for
superusers with an unnarrowed credential. Every write is validated by the models and runs in
one transaction: bad input writes nothing.
"""

from __future__ import annotations

import secrets as pysecrets
import string

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from rest_framework import exceptions

from inventory.models import Device
from inventory.services.common import Conflict, as_drf_validation_error, forbidden
from inventory.tenancy import Action, Principal

from .models import Role, RoleAssignment, RoleDependency, RoleStep, RoleTemplate, ScopeLevel, Secret, Variable
from .models.base import can
from .models.roles import reachable


def get_visible(principal: Principal, model, pk, action: str = Action.VIEW):
    try:
        obj = model.objects.restrict(principal, Action.VIEW).get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise exceptions.NotFound(f"No {model._meta.verbose_name} with id {pk!r}.") from None
    require(principal, action, obj)
    return obj


def require(principal: Principal, action: str, obj, what: str = "") -> None:
    if action == Action.VIEW:
        return
    if not can(principal, action, obj):
        if getattr(obj, "is_global", False) and not principal.missing_scopes(action):
            raise exceptions.PermissionDenied(f"{obj} is global: read-only except for superusers.")
        raise forbidden(principal, action, what or f"this {obj._meta.verbose_name}")


def _save(obj):
    try:
        obj.save()
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None


def _child_errors(exc: DjangoValidationError) -> dict:
    return as_drf_validation_error(exc).detail


# --- roles -----------------------------------------------------------------------------------
def _tenant_for_new(principal: Principal, data: dict, given: set):
    if "tenant" in given:
        tenant = data.get("tenant")
        if tenant is None:
            if not (principal.is_superuser and principal.tenant_ids is None):
                raise exceptions.PermissionDenied("Only superusers may create global roles.")
            return None
        if not principal.can(Action.ADD, tenant):
            raise forbidden(principal, Action.ADD, "roles in this tenant")
        return tenant
    allowed = principal.tenant_ids_for(Action.ADD)
    if allowed is not None and len(allowed) == 1:
        from inventory.models import Tenant

        return Tenant.objects.get(pk=next(iter(allowed)))
    if allowed is not None and not allowed:
        raise forbidden(principal, Action.ADD, "roles")
    raise exceptions.ValidationError({"tenant": ["Give the tenant (you can add roles in several), or null for a "
                                                 "global role."]})


def save_role(principal: Principal, role: Role | None, data: dict, given: set | None = None) -> Role:
    given = set(given if given is not None else data)
    with transaction.atomic():
        if role is None:
            role = Role(tenant=_tenant_for_new(principal, data, given))
        else:
            require(principal, Action.CHANGE, role)
            if "tenant" in given and (data.get("tenant").pk if data.get("tenant") else None) != role.tenant_id:
                raise exceptions.ValidationError({"tenant": ["A role cannot move to another tenant."]})
        for name in ("name", "description", "defaults", "parameters_schema"):
            if name in data:
                setattr(role, name, data[name])
        _save(role)
        if "templates" in data:
            _replace(role, RoleTemplate, "templates", data["templates"])
        if "steps" in data:
            _replace(role, RoleStep, "steps", data["steps"])
        if "dependencies" in data:
            _set_dependencies(principal, role, data["dependencies"])
        role.refresh_from_db()
    return role


def _replace(role: Role, model, field: str, items: list[dict]):
    getattr(role, field).all().delete()
    errors, seen = {}, set()
    for i, item in enumerate(items):
        obj = model(role=role, position=i, **item)
        if model is RoleTemplate:
            if obj.path in seen:
                errors[i] = {"path": [f"{obj.path} appears twice in this role."]}
                continue
            seen.add(obj.path)
        try:
            obj.full_clean(exclude=["role"])
        except DjangoValidationError as exc:
            errors[i] = _child_errors(exc)
            continue
        obj.save()
    if errors:
        raise exceptions.ValidationError({field: [errors.get(i, {}) for i in range(len(items))]})


def _set_dependencies(principal: Principal, role: Role, ids: list[int]):
    role.dependency_links.all().delete()
    if len(set(ids)) != len(ids):
        raise exceptions.ValidationError({"dependencies": ["A role is listed twice."]})
    visible = {r.pk: r for r in Role.objects.restrict(principal, Action.VIEW).filter(pk__in=ids)}
    missing = [i for i in ids if i not in visible]
    if missing:
        raise exceptions.ValidationError({"dependencies": [f"No role with id {i} exists (or it is not visible to you)."
                                                           for i in missing]})
    for i, rid in enumerate(ids):
        link = RoleDependency(role=role, depends_on=visible[rid], position=i)
        try:
            link.full_clean()
        except DjangoValidationError as exc:
            detail = _child_errors(exc)
            raise exceptions.ValidationError({"dependencies": detail.get("depends_on") or detail}) from None
        link.save()


def delete_role(principal: Principal, role_id) -> dict:
    role = get_visible(principal, Role, role_id, Action.DELETE)
    display = str(role)
    users = list(role.assignments.values_list("device__name", flat=True)[:5])
    if users:
        raise Conflict(f"{role} is assigned to {', '.join(users)}; remove it from those devices first.")
    if role.dependent_links.exists():
        names = ", ".join(role.dependent_links.values_list("role__name", flat=True)[:5])
        raise Conflict(f"Roles {names} depend on {role}; change them first.")
    with transaction.atomic():
        role.delete()
    return {"deleted": True, "id": int(role_id), "display": display}


# --- assignments -----------------------------------------------------------------------------
def assign_role(principal: Principal, device_id, data: dict) -> RoleAssignment:
    from .serializers import RoleAssignmentSerializer

    device = get_device(principal, device_id, Action.CHANGE)
    serializer = RoleAssignmentSerializer(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    attrs = serializer.validated_data
    role = attrs["role"]
    existing = RoleAssignment.objects.filter(device=device, role=role).first()
    with transaction.atomic():
        assignment = existing or RoleAssignment(device=device, role=role, tenant_id=device.tenant_id)
        if "variables" in attrs:
            assignment.variables = attrs["variables"]
        if "position" in attrs:
            assignment.position = attrs["position"]
        elif existing is None:
            last = RoleAssignment.objects.filter(device=device).aggregate(m=Max("position"))["m"]
            assignment.position = 0 if last is None else last + 1
        try:
            _save(assignment)
        except IntegrityError:
            raise Conflict(f"{role} was assigned to {device} at the same moment; reload.") from None
    return assignment


def remove_role(principal: Principal, device_id, role_id) -> dict:
    device = get_device(principal, device_id, Action.CHANGE)
    assignment = RoleAssignment.objects.filter(device=device, role_id=role_id).select_related("role").first()
    if assignment is None:
        raise exceptions.NotFound(f"Role {role_id} is not assigned to {device}.")
    display = str(assignment)
    assignment.delete()
    return {"removed": True, "device_id": device.pk, "role_id": int(role_id), "display": display}


def get_device(principal: Principal, device_id, action=Action.VIEW) -> Device:
    from inventory.services.common import get_for

    return get_for(principal, Device, device_id, action)


# --- variables and secrets -------------------------------------------------------------------
def scoped_rows(principal: Principal, model, scope: str | None = None, scope_id=None):
    qs = model.objects.restrict(principal, Action.VIEW).select_related("tenant", "datacenter", "device")
    if scope:
        if scope not in ScopeLevel.values:
            raise exceptions.ValidationError({"scope": [f"One of {', '.join(ScopeLevel.values)}."]})
        qs = qs.filter(scope=scope)
        if scope_id not in (None, ""):
            if scope == ScopeLevel.GLOBAL:
                raise exceptions.ValidationError({"scope_id": ["Global values have no scope id."]})
            try:
                scope_id = int(scope_id)
            except (TypeError, ValueError):
                raise exceptions.ValidationError({"scope_id": ["Expected an integer id."]}) from None
            qs = qs.filter(scope_key=f"{scope}:{scope_id}")
    elif scope_id not in (None, ""):
        raise exceptions.ValidationError({"scope_id": ["Give the scope too."]})
    return qs


def _scoped_instance(principal: Principal, model, attrs: dict, key_field: str):
    """The row at that scope and key (new or existing), with the write checked."""
    probe = model(scope=attrs["scope"], tenant=attrs.get("tenant"), datacenter=attrs.get("datacenter"),
                  device=attrs.get("device"), **{key_field: attrs[key_field]})
    from .models.values import ScopedValue

    try:
        ScopedValue.clean(probe)  # the scope and its target only; the value is checked on save
    except DjangoValidationError as exc:
        raise as_drf_validation_error(exc) from None
    existing = model.objects.filter(scope_key=probe.scope_key, **{key_field: attrs[key_field]}).first()
    target = existing or probe
    action = Action.CHANGE if existing else Action.ADD
    if probe.scope == ScopeLevel.GLOBAL:
        if not (principal.is_superuser and principal.tenant_ids is None):
            if principal.missing_scopes(action):
                raise forbidden(principal, action)
            raise exceptions.PermissionDenied("Global variables and secrets are read-only except for superusers.")
        if principal.missing_scopes(action):
            raise forbidden(principal, action)
    elif not principal.can(action, probe.tenant_id):
        raise forbidden(principal, action, f"{model._meta.verbose_name_plural} in this tenant")
    return target


def set_variable(principal: Principal, data: dict) -> Variable:
    from .serializers import VariableSerializer

    serializer = VariableSerializer(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    attrs = serializer.validated_data
    variable = _scoped_instance(principal, Variable, attrs, "key")
    variable.value = attrs["value"]
    with transaction.atomic():
        _save(variable)
    return variable


def delete_scoped(principal: Principal, model, pk) -> dict:
    row = get_visible(principal, model, pk, Action.DELETE)
    display = str(row)
    row.delete()
    return {"deleted": True, "id": int(pk), "display": display}


DEFAULT_ALPHABET = string.ascii_letters + string.digits


def set_secret(principal: Principal, data: dict) -> Secret:
    from .serializers import SecretSerializer

    serializer = SecretSerializer(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    attrs = serializer.validated_data
    secret = _scoped_instance(principal, Secret, attrs, "name")
    if attrs.get("generate"):
        alphabet = attrs.get("alphabet") or DEFAULT_ALPHABET
        secret.value = "".join(pysecrets.choice(alphabet) for _ in range(attrs.get("length") or 32))
    else:
        secret.value = attrs["value"]
    secret.changed_by = principal.user if getattr(principal.user, "pk", None) else None
    with transaction.atomic():
        _save(secret)
    return secret


# --- role test -------------------------------------------------------------------------------
def role_test(principal: Principal, role_id, data: dict) -> dict:
    from .planning import preview
    from .serializers import RoleTestRequestSerializer

    role = get_visible(principal, Role, role_id)
    serializer = RoleTestRequestSerializer(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    device = serializer.validated_data["device"]
    if role.tenant_id is not None and role.tenant_id != device.tenant_id:
        raise exceptions.ValidationError({"device": [f"{device} is in another tenant than {role}."]})
    result = preview(role, device)
    if serializer.validated_data.get("compare"):
        from .compare import start_compare

        job = start_compare(principal, role, device)
        result["compare_job_id"] = job.pk
        result["message"] = f"Comparing on the machine in job {job.pk}; its result has a diff per file."
    return result

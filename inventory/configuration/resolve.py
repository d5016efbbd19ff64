"""Effective variables and secrets of a device ("where does this value come from?").

Precedence, weakest first: global < tenant < datacenter < role default < role assignment < device.
For one role (rendering, provisioning) the role levels are that role's defaults and its
assignment on the device (a role pulled in only as a dependency has no assignment). The
device-wide view merges every planned role's defaults, then every assignment, in plan order.

Secrets have the scopes global < tenant < datacenter < device; the winning row per name is used.
"""

from __future__ import annotations

from django.db.models import Q

from .models import ScopeLevel, Secret, Variable


def _scope_filter(device) -> Q:
    q = Q(scope=ScopeLevel.GLOBAL) | Q(scope=ScopeLevel.TENANT, tenant_id=device.tenant_id)
    q |= Q(scope=ScopeLevel.DEVICE, device_id=device.pk)
    if device.datacenter_id:
        q |= Q(scope=ScopeLevel.DATACENTER, datacenter_id=device.datacenter_id)
    return q


_RANK = {ScopeLevel.GLOBAL: 0, ScopeLevel.TENANT: 1, ScopeLevel.DATACENTER: 2, ScopeLevel.DEVICE: 9}


def _rows(model, device) -> list:
    rows = list(model.objects.filter(_scope_filter(device)))
    rows.sort(key=lambda r: (_RANK[r.scope], r.pk))
    return rows


def _source(row) -> str:
    return {ScopeLevel.GLOBAL: "global", ScopeLevel.TENANT: f"tenant {row.tenant_id}",
            ScopeLevel.DATACENTER: f"datacenter {row.datacenter_id}", ScopeLevel.DEVICE: f"device {row.device_id}"}[row.scope]


def effective_variables(device, roles: list[tuple] | None = None) -> dict[str, dict]:
    """key -> {"value", "scope", "source", "overrides": [scopes it won over]}.

    ``roles``: [(role, assignment or None)] in plan order (default: the device's plan).
    """
    from .planning import device_plan_roles

    if roles is None:
        roles = device_plan_roles(device)
    result: dict[str, dict] = {}

    def put(key, value, scope, source):
        previous = result.get(key)
        overridden = ([*previous["overrides"], previous["scope"]] if previous else [])
        result[key] = {"value": value, "scope": scope, "source": source, "overrides": overridden}

    device_rows = []
    for row in _rows(Variable, device):
        if row.scope == ScopeLevel.DEVICE:
            device_rows.append(row)
        else:
            put(row.key, row.value, row.scope, _source(row))
    for role, _assignment in roles:
        for key, value in (role.defaults or {}).items():
            put(key, value, "role_default", f"role {role.name}")
    for role, assignment in roles:
        if assignment is not None:
            for key, value in (assignment.variables or {}).items():
                put(key, value, "role_assignment", f"assignment of role {role.name}")
    for row in device_rows:
        put(row.key, row.value, row.scope, _source(row))
    return result


def plain(variables: dict[str, dict]) -> dict:
    return {k: v["value"] for k, v in variables.items()}


def effective_secrets(device) -> dict[str, Secret]:
    """name -> the winning Secret row (decrypt only in the worker: ``row.value``)."""
    winners: dict[str, Secret] = {}
    for row in Secret.objects.filter(_scope_filter(device)).defer("value"):
        current = winners.get(row.name)
        if current is None or (_RANK[row.scope], row.pk) > (_RANK[current.scope], current.pk):
            winners[row.name] = row
    return winners


def secret_values(device) -> list[str]:
    """The values of the device's secrets (a JOBS_SECRET_PROVIDERS entry: masked wherever a job's
    input is stored or shown). Decrypts: used to mask, never to show."""
    if device is None or device.pk is None:
        return []
    return [row.value for row in Secret.objects.filter(_scope_filter(device))]

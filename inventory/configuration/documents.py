"""Roles as YAML documents (export, import; the shape blueprints ship roles in)::

    kind: role
    name: nginx
    description: ...
    defaults: {listen_port: 80}
    parameters_schema: {...}          # optional JSON Schema
    dependencies: [base-hardening]    # role names: the tenant's, else global
    templates:
      - {path: /etc/nginx/conf.d/site.conf, mode: "0644", owner: root, group: root, content: "..."}
    steps:
      - {name: Install nginx, type: ensure_package, args: {name: nginx}}
      - {type: upload_templates}
      - {type: run, args: {command: "nginx -t"}, timeout: 30, only_if: "...", unless: "..."}
"""

from __future__ import annotations

import yaml
from rest_framework import exceptions

from inventory.tenancy import Action, Principal

from .models import Role

MAX_DOCUMENT_BYTES = 1024 * 1024
FIELDS = ("name", "description", "defaults", "parameters_schema")


def role_document(role: Role) -> dict:
    doc = {"kind": "role", **{f: getattr(role, f) for f in FIELDS}}
    doc["dependencies"] = [r.name for r in role.ordered_dependencies()]
    doc["templates"] = [{"path": t.path, "mode": t.mode, "owner": t.owner, "group": t.group, "content": t.content}
                        for t in role.templates.all()]
    doc["steps"] = [{k: v for k, v in {"name": s.name, "type": s.type, "args": s.args, "timeout": s.timeout,
                                       "only_if": s.only_if, "unless": s.unless}.items() if v not in ("", None, {})}
                    | {"type": s.type} for s in role.steps.all()]
    return doc


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def export_yaml(role: Role) -> str:
    return yaml.dump(role_document(role), Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def parse(text: str) -> dict:
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise exceptions.ValidationError({"document": [f"Larger than {MAX_DOCUMENT_BYTES} bytes."]})
    try:
        if any(isinstance(token, yaml.AliasToken) for token in yaml.scan(text)):  # no "billion laughs"
            raise exceptions.ValidationError({"document": ["YAML aliases (*name) are not accepted."]})
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise exceptions.ValidationError({"document": [f"Not valid YAML: {exc}"]}) from None
    if not isinstance(doc, dict) or doc.get("kind", "role") != "role":
        raise exceptions.ValidationError({"document": ["A role document is a mapping with kind: role."]})
    unknown = set(doc) - {"kind", *FIELDS, "dependencies", "templates", "steps"}
    if unknown:
        raise exceptions.ValidationError({"document": [f"Unknown key(s): {', '.join(sorted(map(str, unknown)))}."]})
    return doc


def resolve_dependencies(names, tenant_id, principal: Principal | None) -> list[int]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise exceptions.ValidationError({"dependencies": ["A list of role names."]})
    qs = Role.objects.all() if principal is None else Role.objects.restrict(principal, Action.VIEW)
    ids = []
    for name in names:
        found = (qs.filter(name=name, tenant_id=tenant_id).first() if tenant_id else None) or \
            qs.filter(name=name, tenant__isnull=True).first()
        if found is None:
            raise exceptions.ValidationError({"dependencies": [f"No role named {name!r} (of this tenant or global)."]})
        ids.append(found.pk)
    return ids


def import_document(principal: Principal, text: str, tenant=None, *, given_tenant: bool = False) -> Role:
    """Create the role of a YAML document, or replace the same-named role of that tenant."""
    from .serializers import RoleSerializer
    from .services import save_role

    doc = parse(text)
    data = {k: v for k, v in doc.items() if k != "kind"}
    tenant_id = tenant.pk if tenant is not None else None
    data["dependencies"] = resolve_dependencies(doc.get("dependencies") or [], tenant_id, principal)
    if given_tenant:
        data["tenant"] = tenant_id
    serializer = RoleSerializer(data=data, context={"principal": principal})
    serializer.is_valid(raise_exception=True)
    existing = Role.objects.restrict(principal, Action.VIEW).filter(name=data.get("name"), tenant_id=tenant_id).first()
    given = set(data)
    if existing is not None:
        given.discard("tenant")
    return save_role(principal, existing, dict(serializer.validated_data), given=given)

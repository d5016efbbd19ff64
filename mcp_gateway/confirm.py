"""Confirmation before destructive MCP calls, impact without writing, and ``dry_run``.

Which calls ask: per tenant, :class:`~mcp_gateway.models.ConfirmationPolicy` (no row: every
tool annotated destructive). The question shows the call's :class:`Impact`, computed without
writing ("deletes tenant Acme: 33,333 devices, 120 networks, ..."). How it is asked depends on
the client (``mcp_gateway.server`` picks):

- 2026-07-28 clients that declare elicitation: an ``input_required`` result
  (``InputRequiredResult``) carrying an ``elicitation/create`` form; the retry carries the answer
  and the sealed ``requestState`` (the SDK's ``RequestStateBoundary``);
- 2025 sessions that declare elicitation and have a back-channel (stdio, the SSE transport):
  an ``elicitation/create`` request while the call waits;
- anyone else: a ``CONFIRMATION_REQUIRED`` tool error with the impact and a ``confirm_token``;
  calling the same tool again with the same arguments plus ``confirm_token`` runs it.

Every path goes through one :class:`~mcp_gateway.models.Confirmation` row: single-use, bound to
the caller (credential), the tool and the exact arguments, valid ``MCP_CONFIRMATION_TTL``
seconds; the row records the request and the answer (the audit of both, with the McpCall ids).
A declined, expired, replayed or mismatched confirmation writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import models
from django.utils import timezone

from .audit import mask_values, redact, secret_values_of
from .models import Confirmation, ConfirmationPath, ConfirmationPolicy, ConfirmationStatus
from .registry import Tool, ToolError

#: arguments the gateway adds to every write tool; handlers never see them
DRY_RUN = "dry_run"
CONFIRM_TOKEN = "confirm_token"
META_ARGS = (DRY_RUN, CONFIRM_TOKEN)
#: the key of the confirmation form in ``input_requests`` / ``input_responses``
INPUT_KEY = "confirm"
MAX_DEPTH = 4


class ConfirmationRequired(ToolError):
    code = "CONFIRMATION_REQUIRED"


class ConfirmationDeclined(ToolError):
    code = "CONFIRMATION_DECLINED"


class ConfirmationInvalid(ToolError):
    code = "CONFIRMATION_INVALID"


def ttl() -> int:
    return int(getattr(settings, "MCP_CONFIRMATION_TTL", 300))


# --- impact -------------------------------------------------------------------------------
@dataclass
class Impact:
    """What a call would do, computed without writing."""

    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    objects: int = 1
    tenant_id: int | None = None
    #: extra keys of the ``dry_run`` answer, so it still matches the tool's output schema
    result: dict = field(default_factory=dict)
    #: whether this call is destructive, when the tool knows better than its flag (a blueprint
    #: plan that touches production or creates many devices: True; a harmless one: False)
    destructive: bool | None = None

    def as_dict(self) -> dict:
        return {"summary": self.summary, "counts": self.counts, "objects": self.objects,
                "tenant_id": self.tenant_id}


def _reverse_relations(model):
    """Reverse one-to-many/one-to-one relations onto ``model``, hidden ones included
    (tenant-owned models point at their tenant with ``related_name="+"``)."""
    for rel in model._meta.get_fields(include_hidden=True):
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one):
            if rel.related_model._meta.auto_created:  # many-to-many join rows
                continue
            yield rel


def _plural(model, n: int) -> str:
    name = model._meta.verbose_name if n == 1 else model._meta.verbose_name_plural
    return f"{n:,} {name}"


def deletion_impact(obj, *, verb: str = "deletes") -> Impact:
    """Everything deleting ``obj`` would delete (cascades, counted once per row however many
    paths reach it) and unlink (``SET_NULL``), counted with queries only."""
    cascades: dict[type, list] = defaultdict(list)
    unlinks: dict[type, list] = defaultdict(list)

    def walk(model, keys, depth, path):
        for rel in _reverse_relations(model):
            related = rel.related_model
            cond = models.Q(**{f"{rel.field.attname}__in": keys})
            if rel.on_delete is models.CASCADE:
                cascades[related].append(cond)
                if depth < MAX_DEPTH and related not in path:
                    walk(related, related._base_manager.filter(cond).values("pk"), depth + 1, path | {related})
            elif rel.on_delete in (models.SET_NULL, models.SET_DEFAULT) and related._meta.app_label != "mcp_gateway":
                unlinks[related].append(cond)

    model = type(obj)
    walk(model, model._base_manager.filter(pk=obj.pk).values("pk"), 1, {model})
    counts, parts = {}, []
    for related, conds in cascades.items():
        n = related._base_manager.filter(reduce(or_, conds)).count()
        if n:
            counts[str(related._meta.verbose_name_plural)] = n
            parts.append((n, _plural(related, n)))
    unlinked = []
    for related, conds in unlinks.items():
        cond = reduce(or_, conds)
        if related in cascades:  # rows deleted through another path are not also "unlinked"
            cond &= ~reduce(or_, cascades[related])
        n = related._base_manager.filter(cond).count()
        if n:
            counts[f"{related._meta.verbose_name_plural} unlinked"] = n
            unlinked.append(_plural(related, n))
    parts.sort(key=lambda p: -p[0])
    summary = f"{verb} {model._meta.verbose_name} {obj}"
    if parts:
        summary += ": " + ", ".join(text for _n, text in parts)
    if unlinked:
        summary += "; unlinks " + ", ".join(unlinked)
    tenant_id = obj.pk if model._meta.label == "inventory.Tenant" else getattr(obj, "tenant_id", None)
    return Impact(summary=summary, counts=counts, objects=1 + sum(n for n, _t in parts), tenant_id=tenant_id)


def generic_impact(tool: Tool, args: dict, principal=None) -> Impact:
    shown = json.dumps(mask_values(redact(args, tool.secret_fields), secret_values_of(tool, args, principal)),
                       ensure_ascii=False, default=str)
    if len(shown) > 600:
        shown = shown[:600] + "…"
    tenant_id = args.get("tenant_id") if isinstance(args.get("tenant_id"), int) else None
    return Impact(summary=f"{tool.title}: {tool.name}({shown})", tenant_id=tenant_id)


# --- policy -------------------------------------------------------------------------------
def requires_confirmation(tool: Tool, principal, impact: Impact | None) -> bool:
    """Whether the call must be confirmed: the policy of the impact's tenant, or, when the call
    names no tenant, of any tenant the caller belongs to (the stricter answer)."""
    if tool.read_only:
        return False
    tenant_id = impact.tenant_id if impact is not None else None
    if tenant_id is not None:
        tenants = {tenant_id}
    else:
        tenants = set(principal.roles) if principal is not None else set()
    rows = {p.tenant_id: p for p in ConfirmationPolicy.objects.filter(tenant_id__in=tenants)}
    policies = [rows.get(t) or ConfirmationPolicy(tenant_id=t) for t in tenants] or [ConfirmationPolicy()]
    for policy in policies:
        if policy.requires(tool, impact.destructive if impact is not None else None):
            return True
        if policy.impact_threshold and impact is not None and impact.objects > policy.impact_threshold:
            return True
    return False


# --- binding --------------------------------------------------------------------------------
def caller_digest(principal) -> str:
    """The caller a confirmation is bound to: user, and the credential (API key or OAuth token)."""
    credential = getattr(principal, "credential", None)
    parts = [str(getattr(principal.user, "pk", "")), principal.via or "", type(credential).__name__,
             str(getattr(credential, "pk", "") or ""), principal.client_id or ""]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def arguments_digest(tool: Tool, args: dict) -> str:
    clean = {k: v for k, v in args.items() if k not in META_ARGS}
    text = json.dumps([tool.name, clean], sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ask(*, tool: Tool, principal, args: dict, impact: Impact, path: str, call_id) -> str:
    """Record a pending confirmation; returns the raw single-use token (only its hash is kept)."""
    raw = secrets.token_urlsafe(24)
    user = principal.user if getattr(principal.user, "pk", None) else None
    known = secret_values_of(tool, args, principal)  # e.g. a password typed into a command: never stored
    Confirmation.objects.create(
        token_hash=_hash(raw), expires=timezone.now() + timedelta(seconds=ttl()), user=user,
        username=getattr(user, "username", "") or "", caller=caller_digest(principal),
        tenant_id=impact.tenant_id, tool=tool.name,
        arguments=mask_values(redact({k: v for k, v in args.items() if k not in META_ARGS}, tool.secret_fields), known),
        arguments_digest=arguments_digest(tool, args), impact=mask_values(impact.as_dict(), known),
        impact_text=mask_values(impact.summary, known)[:1000],
        path=path, request_call_id=call_id,
    )
    return raw


def consume(token: str, *, tool: Tool, principal, args: dict, call_id) -> Confirmation:
    """Use a confirmation once. Raises :class:`ConfirmationInvalid` (nothing runs) when the
    token is unknown, issued to another caller or for another call, used, declined or expired."""
    row = Confirmation.objects.filter(token_hash=_hash(token)).first() if isinstance(token, str) else None
    if row is None:
        raise ConfirmationInvalid("Unknown confirmation token.", {CONFIRM_TOKEN: ["Unknown token."]})
    if row.caller != caller_digest(principal):
        raise ConfirmationInvalid("This confirmation token was issued to another caller.",
                                  {CONFIRM_TOKEN: ["Issued to another caller."]})
    if row.tool != tool.name or row.arguments_digest != arguments_digest(tool, args):
        raise ConfirmationInvalid("This confirmation token was issued for another call; call again without it "
                                  "to get one for these arguments.", {CONFIRM_TOKEN: ["Issued for another call."]})
    now = timezone.now()
    if row.status != ConfirmationStatus.PENDING:
        raise ConfirmationInvalid(f"This confirmation token was already {row.status}.",
                                  {CONFIRM_TOKEN: ["Already used."]})
    if row.expires <= now:
        raise ConfirmationInvalid("This confirmation token has expired; call again without it to get a new one.",
                                  {CONFIRM_TOKEN: ["Expired."]})
    updated = Confirmation.objects.filter(pk=row.pk, status=ConfirmationStatus.PENDING, expires__gt=now).update(
        status=ConfirmationStatus.ACCEPTED, answered=now, answer_call_id=call_id)
    if updated != 1:
        raise ConfirmationInvalid("This confirmation token was already used.", {CONFIRM_TOKEN: ["Already used."]})
    return row


def decline(token: str, *, call_id) -> None:
    Confirmation.objects.filter(token_hash=_hash(token), status=ConfirmationStatus.PENDING).update(
        status=ConfirmationStatus.DECLINED, answered=timezone.now(), answer_call_id=call_id)


# --- what the client is shown ---------------------------------------------------------------
def form_schema(impact: Impact) -> dict:
    """The elicitation form: one boolean (the spec's primitive schemas only)."""
    return {"type": "object", "properties": {"confirm": {
        "type": "boolean", "title": "Confirm", "description": f"Yes: {impact.summary}", "default": False}},
        "required": ["confirm"]}


def form_message(tool: Tool, impact: Impact) -> str:
    return f"Confirm {tool.name}? This {impact.summary}. Nothing is changed unless you confirm."


def accepted(answer) -> bool:
    """An ElicitResult (model or dict) that confirms."""
    if answer is None:
        return False
    action = answer.get("action") if isinstance(answer, dict) else getattr(answer, "action", None)
    content = answer.get("content") if isinstance(answer, dict) else getattr(answer, "content", None)
    return action == "accept" and isinstance(content, dict) and content.get("confirm") is True


def required_error(tool: Tool, impact: Impact, token: str) -> ConfirmationRequired:
    return ConfirmationRequired(
        f"Confirmation required: this {impact.summary}. Ask the user; to go ahead call {tool.name} again with the "
        f"same arguments plus confirm_token (single use, valid {ttl() // 60} minutes).",
        {"impact": impact.as_dict(), CONFIRM_TOKEN: token, "expires_in": ttl()})


def declined_error(impact: Impact | None) -> ConfirmationDeclined:
    what = f" ({impact.summary})" if impact else ""
    return ConfirmationDeclined(f"Not confirmed: nothing was changed{what}.")


PATHS = ConfirmationPath

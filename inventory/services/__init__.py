"""Operations shared by the REST API, the MCP gateway and jobs.

Every function takes a :class:`inventory.tenancy.Principal` first and enforces the tenancy
rules itself. Failures are raised as DRF exceptions (``rest_framework.exceptions``):
``ValidationError`` (400, field messages in ``.detail``), ``PermissionDenied`` (403; code
``insufficient_scope`` when the credential lacks a scope), ``NotFound`` (404) and
:class:`inventory.services.common.Conflict` (409). Each has ``.status_code``, ``.detail``
and ``.get_codes()``, so any surface can map them to its own error format.

Modules: ``common`` (those exceptions, permission checks, validated saves, delete),
``devices`` (atomic device save with addresses, tags and domains), ``allocation``
(next free IP of a network or pool), ``search`` (cross-kind search).
"""

"""Custom MCP tools: declarations over what the product already does (no code posted).

- :mod:`.models`: the ``CustomTool`` row (tenant-owned or global), validated on every save.
- :mod:`.kinds`: the fixed set of kinds (``query``, ``command``, ``blueprint``), each a thin
  declaration over an existing tool or service.
- :mod:`.provider`: turns visible rows into registry :class:`~mcp_gateway.registry.Tool` objects for
  ``tools/list`` and ``tools/call``, from the shared cache (generation ``customtools``).
- :mod:`.api`: ``/api/mcp/tools/`` (the one catalog: built-ins read-only and custom tools) and
  ``/api/mcp/tool-groups/``.
"""

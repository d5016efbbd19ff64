"""The tool catalog: custom tools join the registry, ``tool_search`` finds any tool, and the
progressive listing mode.

Full mode (the default) lists every tool the caller may call. Progressive mode
(``MCP_TOOL_LIST_MODE=progressive``, or the API key's / OAuth client's own setting) lists a small
core set (``MCP_CORE_TOOLS`` plus ``MCP_PINNED_TOOLS``) and leaves the rest to ``tool_search``, which
returns full definitions; a tool that was not listed can still be called by whoever may call it.
"""

from __future__ import annotations

import re

from django.conf import settings

from inventory.tenancy import Action, Principal

from ..custom import provider
from ..registry import GROUPS, Tool, ToolContext, register, registry
from ..schema import with_error

registry.add_source(provider.tools_for, provider.find)

FULL, PROGRESSIVE = "full", "progressive"
MODES = (FULL, PROGRESSIVE)


def tool_mode(principal: Principal) -> str:
    own = getattr(getattr(principal, "credential", None), "tool_mode", "") or ""
    return own if own in MODES else settings.MCP_TOOL_LIST_MODE


def listed(principal: Principal, tools: list[Tool]) -> list[Tool]:
    """What ``tools/list`` shows of the tools the principal may call."""
    if tool_mode(principal) != PROGRESSIVE:
        return tools
    core = {*settings.MCP_CORE_TOOLS, *settings.MCP_PINNED_TOOLS, "tool_search"}
    return [t for t in tools if t.name in core]


# --- tool_search ---------------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _score(tool: Tool, terms: list[str]) -> int:
    name_words = set(tool.name.split("_"))
    text_words = set(_words(f"{tool.title} {tool.description}"))
    group_words = set(_words(f"{tool.group} {GROUPS.get(tool.group, '')}"))
    score = 0
    for term in terms:
        if term == tool.name:
            score += 20
        if term in name_words:
            score += 8
        elif any(w.startswith(term) or (len(w) >= 5 and term.startswith(w)) for w in name_words):
            score += 5
        if term in group_words:
            score += 3
        if term in text_words:
            score += 2
        elif len(term) >= 4 and any(w.startswith(term[:max(4, len(term) - 3)]) for w in text_words):
            score += 1  # connectivity ~ connect, connections
    return score


def definition(tool: Tool) -> dict:
    from ..server import mcp_tool

    wire = mcp_tool(tool).model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"name": tool.name, "title": tool.title, "description": wire.get("description", ""),
            "group": tool.group, "inputSchema": wire["inputSchema"],
            **({"outputSchema": wire["outputSchema"]} if "outputSchema" in wire else {}),
            "annotations": wire.get("annotations", {})}


def search_tools(principal: Principal, query: str, *, group: str | None = None, limit: int = 10) -> list[Tool]:
    from ..server import visible_tools

    terms = _words(query)
    found = []
    for tool in visible_tools(principal):
        if tool.name == "tool_search" or (group and tool.group != group):
            continue
        score = _score(tool, terms) if terms else 1
        if score > 0:
            found.append((-score, tool.name, tool))
    return [tool for _s, _n, tool in sorted(found, key=lambda x: (x[0], x[1]))[:limit]]


def _tool_search(ctx: ToolContext, args: dict) -> dict:
    tools = search_tools(ctx.base_principal or ctx.principal, args.get("query", ""), group=args.get("group"),
                         limit=args.get("limit", 10))
    return {"tools": [definition(t) for t in tools], "count": len(tools)}


register(Tool(
    name="tool_search", title="Find tools",
    description="Find the tools you may call by what they do (words matched against tool names, groups and "
                "descriptions; best matches first). Returns each tool's full definition: name, description, "
                "input schema and annotations. Call a found tool by its name, listed or not.",
    group="inventory", action=Action.VIEW, handler=_tool_search,
    input_schema={"type": "object", "properties": {
        "query": {"type": "string", "maxLength": 200, "description": "What you want to do, e.g. 'mesh connectivity'."},
        "group": {"type": "string", "maxLength": 50, "description": "Only tools of this group."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10, "description": "Most tools returned."},
    }, "required": ["query"], "additionalProperties": False},
    output_schema=with_error({"type": "object", "properties": {
        "tools": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
            "group": {"type": "string"}, "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"},
            "annotations": {"type": "object"}}, "required": ["name", "inputSchema"]}},
        "count": {"type": "integer"},
    }, "required": ["tools", "count"]}),
    read_only=True, idempotent=True,
))

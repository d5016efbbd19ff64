from django import template

register = template.Library()


@register.simple_tag
def mcp_client_config():
    """The client snippets of GET /api/mcp/config (no secrets), for the admin's MCP Server dialog."""
    import json

    from mcp_gateway import clients

    data = clients.describe()
    return {
        "url": data["url"],
        "clients": [(name, json.dumps(snippet, indent=2), data["files"].get(name, ""))
                    for name, snippet in data["clients"].items()],
        "claude_code": data["commands"]["claude-code"],
    }

from django.apps import AppConfig


class McpGatewayConfig(AppConfig):
    name = "mcp_gateway"
    verbose_name = "MCP gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from inventory.runtime.caching import bump

        from .models import ToolGroupPolicy
        from .policy import POLICIES

        def changed(sender, **kwargs):
            bump(POLICIES)

        post_save.connect(changed, sender=ToolGroupPolicy, dispatch_uid="mcp-toolgroups-save", weak=False)
        post_delete.connect(changed, sender=ToolGroupPolicy, dispatch_uid="mcp-toolgroups-delete", weak=False)

        # custom tools: every worker lists a change on its next request (shared cache generation)
        from auditlog.registry import auditlog
        from django.db.models.signals import m2m_changed

        from .custom.models import CustomTool
        from .custom.provider import GENERATION

        def tools_changed(sender, **kwargs):
            bump(GENERATION)

        post_save.connect(tools_changed, sender=CustomTool, dispatch_uid="mcp-customtools-save", weak=False)
        post_delete.connect(tools_changed, sender=CustomTool, dispatch_uid="mcp-customtools-delete", weak=False)
        m2m_changed.connect(tools_changed, sender=CustomTool.groups.through, dispatch_uid="mcp-customtools-groups",
                            weak=False)
        auditlog.register(CustomTool, m2m_fields={"groups"}, exclude_fields=["updated"])

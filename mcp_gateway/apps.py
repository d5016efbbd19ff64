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

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from auditlog.registry import auditlog

        from inventory import auditing
        from inventory import models as m
        from inventory import signals  # noqa: F401

        auditing.connect()

        for model in (m.Tenant, m.Membership, m.Datacenter, m.Network, m.IPPool, m.IPAddress,
                      m.Tag, m.DeviceRelationship):
            auditlog.register(model)
        auditlog.register(m.Device, m2m_fields={"tags"}, exclude_fields=["search_text", "updated"])

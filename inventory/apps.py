from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from auditlog.registry import auditlog

        from inventory import auditing, kinds
        from inventory import signals, statements  # noqa: F401

        auditing.connect()

        for kind in kinds.all_kinds():  # every kind is audited unless its declaration says audit=None
            if kind.audit is not None and not auditlog.contains(kind.get_model()):
                auditlog.register(kind.get_model(), **kind.audit)

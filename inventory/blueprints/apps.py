from django.apps import AppConfig


class BlueprintsConfig(AppConfig):
    name = "inventory.blueprints"
    label = "blueprints"
    verbose_name = "Blueprints"

    def ready(self):
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        from . import runner  # noqa: F401  (registers the "blueprint" job handler)
        from .models import Blueprint, BlueprintRun
        from .shipped import install_official

        auditlog.register(Blueprint, exclude_fields=["updated"])
        # params are masked already; the sealed (encrypted) secret parameters never reach the log
        auditlog.register(BlueprintRun, exclude_fields=["updated", "sealed_params", "results", "plan"])
        post_migrate.connect(install_official, sender=self)

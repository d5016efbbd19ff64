from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    name = "inventory.configuration"
    label = "configuration"
    verbose_name = "Configuration"

    def ready(self):
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        from . import compare, plans  # noqa: F401  (register the provisioning action and the job handler)
        from .models import Role, RoleAssignment, RoleDependency, RoleStep, RoleTemplate, Secret, Variable
        from .shipped import install_global_roles

        for model in (Role, RoleTemplate, RoleStep, RoleDependency, RoleAssignment, Variable):
            auditlog.register(model, exclude_fields=["updated"])
        # the value never reaches the audit log (not even encrypted): only who changed which name
        auditlog.register(Secret, exclude_fields=["value", "updated"])
        post_migrate.connect(install_global_roles, sender=self)

from django.apps import AppConfig


class MeshConfig(AppConfig):
    name = "inventory.mesh"
    label = "mesh"
    verbose_name = "Mesh networking"

    def ready(self):
        from auditlog.registry import auditlog

        from . import jobs  # noqa: F401  (registers the job handlers and the join_mesh/leave_mesh plan steps)
        from . import steps  # noqa: F401  (the join_mesh step type of roles)
        from .models import Mesh, MeshPeer

        auditlog.register(Mesh, exclude_fields=["updated", "last_check", "last_matrix"])
        # the private key never reaches the audit log (not even masked); observed state is not a change
        auditlog.register(MeshPeer, exclude_fields=[
            "private_key", "updated", "last_handshake", "rx_bytes", "tx_bytes", "reported_endpoint",
            "last_check", "last_status", "last_result", "applied_digest"])

"""Admin registrations, one module per domain concept; all go through the tenancy layer."""

from . import datacenters, devices, networks, tenants  # noqa: F401

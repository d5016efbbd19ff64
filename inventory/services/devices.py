"""The parts of a device save beyond its own row: its tags and its addresses (called by
DeviceSerializer.after_save inside the save's transaction)."""

from __future__ import annotations

from django.db import transaction
from rest_framework import exceptions

from inventory.models import Device, IPAddress, Tag

from .common import save_model


def set_tags(device: Device, names: list[str]) -> None:
    """Replace the device's tags by these names, creating missing tags in its tenant."""
    existing = {t.name: t for t in Tag.objects.filter(tenant_id=device.tenant_id, name__in=names)}
    for name in names:
        if name not in existing:
            tag = Tag(tenant_id=device.tenant_id, name=name)
            save_model(tag)
            existing[name] = tag
    device.tags.set(existing.values())


def set_addresses(device: Device, items: list[dict]) -> None:
    """Make the device hold exactly these addresses (``[{"ip": ..., "dns_name"?: ...}]``).

    Addresses no longer listed are deleted; an address already recorded in the tenant and
    free is attached; one held by another device is a 400 (the model refuses it). Must run inside a transaction
    (the caller's): any error leaves nothing written.
    """
    if not transaction.get_connection().in_atomic_block:  # pragma: no cover - misuse
        raise RuntimeError("set_addresses must run inside transaction.atomic()")
    current = {a.address: a for a in device.addresses.all()}
    wanted = {item["ip"] for item in items}
    for address, row in current.items():
        if address not in wanted:
            row.delete()
    errors: list[dict] = []
    for item in items:
        row = current.get(item["ip"])
        if row is None:
            row = (
                IPAddress.objects.select_for_update(of=("self",))
                .filter(tenant_id=device.tenant_id, address=item["ip"])
                .order_by("-network__prefix_length").first()
            )
            if row is None:
                row = IPAddress(tenant_id=device.tenant_id, address=item["ip"])
            row.device = device
        if "dns_name" in item:
            row.dns_name = item["dns_name"]
        try:
            save_model(row)
        except exceptions.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"ip": exc.detail}
            errors.append({("ip" if k in ("address", "device") else k): v for k, v in detail.items()})
            continue
        errors.append({})
    if any(errors):
        raise exceptions.ValidationError({"addresses": errors})

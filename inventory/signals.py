"""Keep derived data fresh: device search text, allocation hints, cached list counts."""

from django.db.models import Case, F, QuerySet, Value, When
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from inventory.runtime.counting import bump_counts
from inventory.models import Device, IPAddress, IPPool, Network, Tenant


@receiver(m2m_changed, sender=Device.tags.through)
def _tags_changed(sender, instance, action, reverse, **kwargs):
    if action in ("post_add", "post_remove", "post_clear") and not reverse:
        instance.refresh_search_text()


@receiver(post_save, sender=IPAddress)
@receiver(post_delete, sender=IPAddress)
def _address_changed(sender, instance, **kwargs):
    if instance.device_id:
        device = Device.objects.filter(pk=instance.device_id).first()
        if device is not None:
            device.refresh_search_text()


def _lower_hint(model, pk, key):
    """An address at ``key`` may be free now: the hint must not stay above it."""
    model.objects.filter(pk=pk).update(
        alloc_hint=Case(When(alloc_hint__gt=key, then=Value(key)), default=F("alloc_hint"))
    )


def _network_deleted_too(address: IPAddress, origin) -> bool:
    """Whether the deletion that removes ``address`` removes its network as well (the network
    or the tenant was deleted, and the address with it): its hints and its pools' need no care.
    Each freed address would otherwise rewrite the doomed rows, two writes per address."""
    if isinstance(origin, QuerySet):
        return origin.model in (Network, Tenant)  # addresses go with their own network, or tenant
    if isinstance(origin, Network):
        return origin.pk == address.network_id
    if isinstance(origin, Tenant):
        return origin.pk == address.tenant_id
    return False


def _freed_by(origin) -> dict:
    """What the deletion call ``origin.delete()`` frees, kept on ``origin``: ``floors`` maps
    (model, pk) of each network and pool to [the lowest freed address key, lowered yet].

    Django sends ``pre_delete`` for every row it will delete, then deletes them, then sends
    ``post_delete`` for each: the first ``pre_delete`` after a ``post_delete`` begins the next
    call made on the same object (a queryset deleted twice).
    """
    return origin.__dict__.setdefault("_inventory_freed", {"phase": "pre", "floors": {}})


@receiver(pre_delete, sender=IPAddress)
def _address_to_free(sender, instance, origin=None, **kwargs):
    if origin is None or _network_deleted_too(instance, origin):
        return
    state = _freed_by(origin)
    if state["phase"] == "post":
        state["phase"], state["floors"] = "pre", {}
    for model, pk in ((Network, instance.network_id), (IPPool, instance.pool_id)):
        if pk:
            floor = state["floors"].setdefault((model, pk), [instance.address_key, False])
            floor[0] = min(floor[0], instance.address_key)


@receiver(post_delete, sender=IPAddress)
def _address_freed(sender, instance, origin=None, **kwargs):
    """Lower the hints of the address's network and pool to the lowest address this deletion
    frees in them: once per network and pool however many addresses go (the row stays locked
    by that write until the transaction ends, so the hint cannot rise above them meanwhile)."""
    if _network_deleted_too(instance, origin):
        return
    floors = {}
    if origin is not None:
        state = _freed_by(origin)
        state["phase"], floors = "post", state["floors"]
    for model, pk in ((Network, instance.network_id), (IPPool, instance.pool_id)):
        if not pk:
            continue
        floor = floors.get((model, pk))
        if floor is None:  # no pre_delete seen (a signal sent by hand): this address alone
            _lower_hint(model, pk, instance.address_key)
        elif not floor[1]:
            _lower_hint(model, pk, floor[0])
            floor[1] = True


@receiver(post_save, sender=Device)
@receiver(post_save, sender=IPAddress)
def _row_created(sender, instance, created, **kwargs):
    if created:
        bump_counts(sender)


@receiver(post_delete, sender=Device)
@receiver(post_delete, sender=IPAddress)
def _row_deleted(sender, instance, **kwargs):
    bump_counts(sender)

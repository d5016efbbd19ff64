"""Keep derived data fresh: device search text, allocation hints, cached list counts."""

from django.db.models import Case, F, QuerySet, Value, When
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from inventory.counting import bump_counts
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


@receiver(post_delete, sender=IPAddress)
def _address_freed(sender, instance, origin=None, **kwargs):
    if _network_deleted_too(instance, origin):
        return
    if instance.network_id:
        _lower_hint(Network, instance.network_id, instance.address_key)
    if instance.pool_id:
        _lower_hint(IPPool, instance.pool_id, instance.address_key)


@receiver(post_save, sender=Device)
@receiver(post_save, sender=IPAddress)
def _row_created(sender, instance, created, **kwargs):
    if created:
        bump_counts(sender)


@receiver(post_delete, sender=Device)
@receiver(post_delete, sender=IPAddress)
def _row_deleted(sender, instance, **kwargs):
    bump_counts(sender)

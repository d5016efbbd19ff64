"""Keep derived data fresh: device search text, allocation hints, cached list counts and the
address counts of networks and pools."""

from django.db.models import Case, F, QuerySet, Value, When
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from inventory.models.addresses import COUNTED_LINKS
from inventory.runtime.counting import bump_addresses, bump_counts, bump_used
from inventory.models import Device, IPAddress, IPPool, Network, Tenant
from inventory.models.base import TenantOwned, check_same_tenant


@receiver(m2m_changed, dispatch_uid="inventory.same_tenant_m2m")
def _same_tenant_m2m(sender, instance, action, reverse, model, pk_set, **kwargs):
    """A many-to-many link between tenant-owned objects (a device's tags) stays in one tenant,
    whoever adds it (admin form, service, shell): the rule of TenantOwned.clean_tenant_links."""
    if action != "pre_add" or not pk_set or not isinstance(instance, TenantOwned) or not issubclass(model, TenantOwned):
        return
    field = next((f for f in type(instance)._meta.many_to_many if f.remote_field.through is sender), None)
    name = field.name if field is not None else model._meta.verbose_name_plural
    check_same_tenant(str(name), instance.tenant_id, model._base_manager.filter(pk__in=pk_set).exclude(tenant_id=instance.tenant_id))


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
def _row_created(sender, instance, created, **kwargs):
    if created:
        bump_counts(sender)


@receiver(post_delete, sender=Device)
def _row_deleted(sender, instance, **kwargs):
    bump_counts(sender)


# --- address counts: the list's, and each network's and pool's (inventory/utilisation.py) -----
@receiver(pre_save, sender=IPAddress)
def _address_links_before(sender, instance, update_fields=None, **kwargs):
    """The network and pool a saved address is in before this save (read by its validation,
    ``IPAddress.clean_stored``, else here), to know whether the save moves it."""
    stored = instance.__dict__.pop("_stored_links", None)
    if instance._state.adding or (update_fields is not None and not COUNTED_LINKS & set(update_fields)):
        instance._links_before = None
        return
    if stored is None:
        stored = IPAddress._base_manager.filter(pk=instance.pk).values_list("network_id", "pool_id").first()
    instance._links_before = stored


@receiver(post_save, sender=IPAddress)
def _address_saved(sender, instance, created, **kwargs):
    if created:
        bump_addresses([instance.network_id], [instance.pool_id])
        return
    before = instance.__dict__.pop("_links_before", None)
    if before is not None and before != (instance.network_id, instance.pool_id):  # moved: left one, joined another
        network, pool = (instance.network_id, before[0]), (instance.pool_id, before[1])
        bump_used(network if network[0] != network[1] else (), pool if pool[0] != pool[1] else ())


@receiver(post_delete, sender=IPAddress)
def _address_deleted(sender, instance, **kwargs):
    bump_addresses([instance.network_id], [instance.pool_id])


@receiver(post_save, sender=Network)
@receiver(post_save, sender=IPPool)
@receiver(post_delete, sender=Network)
@receiver(post_delete, sender=IPPool)
def _counted_row_changed(sender, instance, created=True, **kwargs):
    """A network or pool created or deleted starts or ends its address count's generation (so no
    entry can outlive its row, whatever happens to ids)."""
    if created:
        bump_used(*(([instance.pk], ()) if sender is Network else ((), [instance.pk])))

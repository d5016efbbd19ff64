"""The device change page: one inline per relation (the rows it has listed read-only and
deletable, new rows added in editable rows), queries constant whatever the device's rows; the
pieces that make it cheap render Django's HTML; the changelist's many-valued lookups (tags)
narrow with EXISTS and find what Django's join finds."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.admin.base import LeanAutocompleteSelect, LeanAutocompleteSelectMultiple, lean_input
from inventory.models import Datacenter, Device, DeviceRelationship, IPAddress, Network, Tag

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15


def build(tenant, rows=1):
    """A device with ``rows`` addresses, ``rows`` relationships from it and ``rows`` to it."""
    dc = Datacenter.objects.create(tenant=tenant, name=f"dc-{tenant.pk}")
    net = Network.objects.create(tenant=tenant, name=f"net-{tenant.pk}", subnet="127.61.0.0/24", datacenter=dc)
    device = Device.objects.create(tenant=tenant, name="hub", datacenter=dc)
    grow(device, net, 0, rows)
    return device, net


def grow(device, net, start, count):
    for i in range(start, start + count):
        IPAddress.objects.create(network=net, address=f"127.61.0.{i + 1}", device=device)
        DeviceRelationship.objects.create(parent=device, child=Device.objects.create(tenant=device.tenant,
                                                                                      name=f"child-{i}"),
                                          type="contains")
        DeviceRelationship.objects.create(parent=Device.objects.create(tenant=device.tenant, name=f"rack-{i}"),
                                          child=device, type="contains")


def change_url(device):
    return reverse("admin:inventory_device_change", args=[device.pk])


def form_data(client, device, **changes) -> dict:
    """What the page posts unchanged: the device's fields and every inline's management form and
    row ids (the rows themselves are read-only: nothing else of theirs is in the page)."""
    page = client.get(change_url(device))
    data = {"name": device.name, "status": device.status, "domains": "[]", "facts": "{}"}
    for formset in page.context["inline_admin_formsets"]:
        fs = formset.formset
        data[f"{fs.prefix}-TOTAL_FORMS"] = data[f"{fs.prefix}-INITIAL_FORMS"] = fs.initial_form_count()
        for i, form in enumerate(fs.initial_forms):
            data[f"{fs.prefix}-{i}-{fs.model._meta.pk.name}"] = form.instance.pk
    data.update(changes)
    return data


def test_one_inline_per_relation_rows_read_only(client, operator_a, tenant_a):
    device, _ = build(tenant_a, rows=2)
    client.force_login(operator_a)
    page = client.get(change_url(device))
    prefixes = [f.formset.prefix for f in page.context["inline_admin_formsets"]]
    assert prefixes[:3] == ["addresses", "child_links", "parent_links"]
    assert not [p for p in prefixes if re.search(r"-\d+$", p)], prefixes  # no second inline of a relation
    body = page.content.decode()
    for prefix in ("addresses", "child_links", "parent_links"):
        assert f'name="{prefix}-0-DELETE"' in body and f'name="{prefix}-1-DELETE"' in body  # deletable
        assert f'id="{prefix}-empty"' in body  # the row "Add another" copies
    assert 'name="addresses-0-address"' not in body and 'name="addresses-__prefix__-address"' in body
    assert 'name="child_links-0-child"' not in body and 'name="child_links-__prefix__-child"' in body
    assert "127.61.0.1" in body and "child-1" in body and "rack-0" in body  # the rows, read-only


def test_rows_added_and_deleted_from_the_device_page_listed_rows_unchanged(client, operator_a, tenant_a):
    device, net = build(tenant_a, rows=2)
    first, second = IPAddress.objects.filter(device=device).order_by("address_key")
    other = Device.objects.create(tenant=tenant_a, name="peer")
    client.force_login(operator_a)
    data = form_data(client, device, **{
        "addresses-0-DELETE": "on",
        "addresses-1-address": "127.61.0.99",  # a listed row is read-only here: ignored
        "addresses-TOTAL_FORMS": 3, "addresses-2-address": "127.61.0.50", "addresses-2-network": net.pk,
        "addresses-2-status": "allocated", "addresses-2-dns_name": "",
        "child_links-TOTAL_FORMS": 3, "child_links-2-type": "depends_on", "child_links-2-child": other.pk,
    })
    response = client.post(change_url(device), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert not IPAddress.objects.filter(pk=first.pk).exists()
    second.refresh_from_db()
    assert str(second.address) == "127.61.0.2" and second.device_id == device.pk
    assert IPAddress.objects.get(address="127.61.0.50").device_id == device.pk
    assert DeviceRelationship.objects.filter(parent=device, child=other, type="depends_on").exists()


def test_new_rows_follow_the_model_rules_and_the_tenancy(client, operator_a, tenant_a, tenant_b):
    device, net = build(tenant_a, rows=1)
    theirs = Device.objects.create(tenant=tenant_b, name="theirs")
    client.force_login(operator_a)
    data = form_data(client, device, **{"child_links-TOTAL_FORMS": 2, "child_links-1-type": "contains",
                                        "child_links-1-child": theirs.pk})
    response = client.post(change_url(device), data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not DeviceRelationship.objects.filter(child=theirs).exists()


def test_viewer_sees_the_rows_without_adding_or_deleting(client, viewer_a, tenant_a):
    device, _ = build(tenant_a, rows=1)
    client.force_login(viewer_a)
    body = client.get(change_url(device)).content.decode()
    assert "127.61.0.1" in body and "child-0" in body
    assert "DELETE" not in body and "__prefix__" not in body


@pytest.mark.parametrize("role", ["operator", "superuser"])
def test_change_page_queries_do_not_grow_with_the_devices_rows(client, operator_a, superuser, tenant_a, role):
    device, net = build(tenant_a, rows=1)
    client.force_login(operator_a if role == "operator" else superuser)

    def count():
        client.get(change_url(device))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(change_url(device)).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    grow(device, net, 1, 12)
    many = count()
    assert few == many <= MAX_QUERIES, (few, many)


# --- the same HTML -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "", 0, 12, "a&b\"<c>", True, False])
@pytest.mark.parametrize("attrs", [None, {"id": "id_x-0-id"}, {"id": "i", "class": "a b", "disabled": True,
                                                                   "data-x": False, "data-y": 'q"<'}])
def test_lean_inputs_render_djangos_html(value, attrs):
    from django.contrib.admin import widgets as admin_widgets

    for cls in (forms.HiddenInput, forms.CheckboxInput, forms.TextInput, forms.NumberInput, forms.EmailInput,
                forms.DateInput, admin_widgets.AdminTextInputWidget, admin_widgets.AdminIntegerFieldWidget):
        lean = lean_input(cls())
        assert type(lean) is not cls and isinstance(lean, cls), cls
        assert lean.render("x-0-id", value, attrs) == cls().render("x-0-id", value, attrs), (cls, value, attrs)


@pytest.mark.parametrize("value", [None, "", "2", ["1", "b&<"], 3])
@pytest.mark.parametrize("attrs", [None, {"id": "id_s", "class": "a b", "disabled": True, "data-x": False}])
def test_lean_selects_render_djangos_html(value, attrs):
    choices = [("", "---------"), ("1", "one"), ("2", 'two "<2>"'), ("Group & co", [("b&<", "B"), (3, "three")])]
    for cls in (forms.Select, forms.SelectMultiple, forms.NullBooleanSelect):
        if cls is forms.NullBooleanSelect and isinstance(value, list):
            continue  # one value only
        stock = cls() if cls is forms.NullBooleanSelect else cls(choices=choices)
        lean = lean_input(cls() if cls is forms.NullBooleanSelect else cls(choices=choices))
        assert type(lean) is not cls and isinstance(lean, cls), cls
        assert lean.render("s", value, attrs) == stock.render("s", value, attrs), (cls, value, attrs)


@pytest.mark.parametrize("value", [None, "", "one line", "a&b\n\"<c>\n", 12])
@pytest.mark.parametrize("attrs", [None, {"id": "id_d", "class": "vLargeTextField", "required": True, "data-x": False}])
def test_lean_textareas_render_djangos_html(value, attrs):
    from django.contrib.admin import widgets as admin_widgets

    for cls in (forms.Textarea, admin_widgets.AdminTextareaWidget):
        lean = lean_input(cls())
        assert type(lean) is not cls and isinstance(lean, cls), cls
        assert lean.render("description", value, attrs) == cls().render("description", value, attrs), (cls, value)


@pytest.mark.fast_paths("lean_admin_forms")
@pytest.mark.parametrize("auto_id", ["id_%s", False])
def test_lean_labels_render_djangos_html(auto_id):
    """Every field's label of an admin form (TenantOwnedForm) is the HTML of Django's label.html."""
    from inventory.admin.base import TenantOwnedForm

    fields = ["name", "status", "description", "datacenter", "tags"]
    stock = forms.modelform_factory(Device, fields=fields)
    lean = forms.modelform_factory(Device, form=TenantOwnedForm, fields=fields)
    for cls in (stock, lean):
        cls.required_css_class = "required"
    calls = [{}, {"contents": "Tags & <b>"}, {"attrs": {"class": "inline", "data-x": 'q"<'}},
             {"label_suffix": ""}, {"label_suffix": " →"}, {"tag": "legend"}]
    for name in fields:
        for kwargs in calls:
            expected = stock(auto_id=auto_id)[name].label_tag(**kwargs)
            assert lean(auto_id=auto_id)[name].label_tag(**kwargs) == expected, (name, kwargs)
        assert lean(auto_id=auto_id)[name].legend_tag() == stock(auto_id=auto_id)[name].legend_tag()


@pytest.mark.fast_paths("lean_admin_forms")
def test_lean_management_forms_render_djangos_html(superuser, tenant_a):
    """An inline's management form renders Django's HTML, unbound, bound, and bound with errors."""
    from inventory.admin.base import _lean_formset

    device = Device.objects.create(tenant=tenant_a, name="m")
    stock = forms.inlineformset_factory(Device, IPAddress, fields=["address"], extra=1)
    lean = _lean_formset(stock)
    prefix = "addresses"
    bound = {f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0",
             f"{prefix}-MAX_NUM_FORMS": "1000"}
    for data in (None, bound, {f"{prefix}-TOTAL_FORMS": "x"}):
        made = [cls(data, instance=device, prefix=prefix) for cls in (stock, lean)]
        assert type(made[1].management_form) is not type(made[0].management_form)
        assert str(made[1].management_form) == str(made[0].management_form), data


@pytest.mark.fast_paths("lean_admin_forms")
def test_lean_error_lists_render_djangos_html(tenant_a):
    """An admin form's (and an inline formset's) error lists, empty or not, render Django's HTML;
    the empty ones without a template."""
    from django.forms.utils import ErrorList

    from inventory.admin.base import TenantOwnedForm, _lean_formset

    form = forms.modelform_factory(Device, form=TenantOwnedForm, fields=["tenant", "name", "status"])(
        {"tenant": tenant_a.pk, "name": "", "status": "nonsense"})
    assert not form.is_valid() and form.error_class is not ErrorList
    for name in ("name", "status"):
        errors = form[name].errors
        stock = ErrorList(list(errors), field_id=errors.field_id)
        assert str(errors) == str(stock) and errors.as_ul() == stock.as_ul() and "errorlist" in str(errors)
    empty = form.error_class()
    assert (str(empty), empty.as_ul(), empty.as_text()) == (str(ErrorList()), ErrorList().as_ul(), "")
    device = Device.objects.create(tenant=tenant_a, name="e")
    formset = _lean_formset(forms.inlineformset_factory(Device, IPAddress, form=TenantOwnedForm, fields=["address"]))(
        instance=device, prefix="a")
    assert str(formset.non_form_errors()) == str(ErrorList(error_class="nonform")) == ""
    assert formset.empty_form.error_class is formset.error_class is not ErrorList


def test_only_plain_inputs_are_made_lean():
    from django.contrib.admin import widgets as admin_widgets

    for widget in (forms.RadioSelect(), forms.ClearableFileInput(), forms.SplitDateTimeWidget(),
                   admin_widgets.AdminURLFieldWidget()):  # templates of their own
        before = type(widget)
        assert type(lean_input(widget)) is before


def test_autocomplete_with_nothing_selected_renders_djangos_html_without_a_query(rf, superuser, tenant_a):
    request = rf.get("/admin/")
    request.user = superuser
    Network.objects.create(tenant=tenant_a, name="n", subnet="127.62.0.0/24")
    for stock, lean, field in ((AutocompleteSelect, LeanAutocompleteSelect, IPAddress._meta.get_field("network")),
                               (AutocompleteSelectMultiple, LeanAutocompleteSelectMultiple,
                                Device._meta.get_field("tags"))):
        widgets = []
        for cls in (stock, lean):
            widget = cls(field, admin.site)
            widget.choices = forms.ModelChoiceField(queryset=field.related_model.objects.all(), required=False).choices
            widgets.append(widget)
        for value in (None, "", []):
            expected = widgets[0].render("f", value)
            with CaptureQueriesContext(connection) as ctx:
                assert widgets[1].render("f", value) == expected
            assert not ctx.captured_queries


# --- many-valued lookups with EXISTS -------------------------------------------------------------
@pytest.fixture
def tagged(tenant_a, tenant_b):
    """Devices of two tenants, tags named alike in both: prod, db; one device with both, one without."""
    out = {}
    for tenant in (tenant_a, tenant_b):
        prod = Tag.objects.create(tenant=tenant, name="prod")
        db = Tag.objects.create(tenant=tenant, name="db")
        both = Device.objects.create(tenant=tenant, name=f"both-{tenant.pk}")
        both.tags.add(prod, db)
        Device.objects.create(tenant=tenant, name=f"prod-{tenant.pk}").tags.add(prod)
        Device.objects.create(tenant=tenant, name=f"db-{tenant.pk}").tags.add(db)
        Device.objects.create(tenant=tenant, name=f"bare-{tenant.pk}")
        out[tenant.pk] = {"prod": prod, "db": db}
    return out


@pytest.mark.parametrize("role", ["operator", "superuser"])
def test_tag_lookups_find_what_djangos_join_finds(client, operator_a, superuser, tenant_a, tagged, role):
    from inventory.tenancy import Action, Principal

    user = operator_a if role == "operator" else superuser
    client.force_login(user)
    prod, db = tagged[tenant_a.pk]["prod"], tagged[tenant_a.pk]["db"]
    cases = [
        ({"tags__name": "prod"}, Q(tags__name="prod")),
        ({"tags__name": ["prod", "db"]}, Q(tags__name="prod") | Q(tags__name="db")),
        ({"tags__id__exact": prod.pk}, Q(tags__id__exact=prod.pk)),  # the "By tag" filter
        ({"tags__isnull": "True"}, Q(tags__isnull=True)),
        ({"tags__isnull": "False"}, Q(tags__isnull=False)),
        ({"tags__name": "prod", "tags__id__exact": db.pk}, None),  # a filter and a lookup: each its own join
        ({"tags__name": "db", "status__exact": "planned"}, Q(tags__name="db", status="planned")),
    ]
    visible = Device.objects.restrict(Principal.of(user), Action.VIEW)
    for params, q in cases:
        with CaptureQueriesContext(connection) as ctx:
            page = client.get("/admin/inventory/device/", params)
        assert page.status_code == 200, params
        found = sorted(d.pk for d in page.context["cl"].result_list)
        if q is None:
            expected = visible.filter(tags__name="prod").filter(tags__id__exact=db.pk).distinct()
        else:
            expected = visible.filter(q).distinct()
        assert found == sorted(expected.values_list("pk", flat=True)), params
        assert page.context["cl"].result_count == len(found), params
        listing = [x["sql"] for x in ctx.captured_queries if "inventory_device" in x["sql"] and "EXISTS" in x["sql"]]
        assert listing and not [s for s in listing if "DISTINCT" in s], params
    assert client.get("/admin/inventory/device/", {"tags__id__exact": "x"}).status_code in (200, 302)

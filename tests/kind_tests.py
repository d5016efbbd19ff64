"""The generic per-kind test case: declare a kind's test data, get its CRUD, bad-input, isolation,
audit, MCP, search and admin tests (like NetBox's ``APIViewTestCases``).

    from tests.kind_tests import KindTests

    class TestRack(KindTests):
        kind = "rack"

        def make(self, tenant, suffix="1"):          # one saved object in ``tenant``
            dc = Datacenter.objects.create(tenant=tenant, name=f"dc-{suffix}")
            return Rack.objects.create(datacenter=dc, name=f"r-{suffix}")

        def create_data(self, tenant):               # a REST body creating one in ``tenant``
            return {"datacenter": Datacenter.objects.create(tenant=tenant, name="dc-new").pk, "name": "new"}

        update = {"description": "changed"}         # a PATCH body (one plain field)
        bad = [({"height_u": 0}, "height_u")]        # (PATCH body, field refused with a 400)
        search_word = "r-1"                          # finds make(tenant)'s object (kinds with search)

Every test runs as an admin of tenant A (who is not in B) against an object of A and one of B.
tests/test_kinds.py checks that every declared kind has such a class.
"""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from rest_framework.test import APIClient

from inventory import kinds
from inventory.tenancy import Principal


class KindTests:
    kind: str = ""
    update: dict = {}
    bad: list[tuple[dict, str]] = []
    search_word: str | None = None

    def make(self, tenant, suffix: str = "1"):  # pragma: no cover - each kind says
        raise NotImplementedError

    def create_data(self, tenant) -> dict:  # pragma: no cover - each kind says
        raise NotImplementedError

    # --- helpers ----------------------------------------------------------------------------
    @property
    def declared(self) -> kinds.Kind:
        return kinds.get(self.kind)

    @pytest.fixture
    def side(self, db, tenant_a, tenant_b, make_user):
        """(admin of A, A's object, B's object)."""
        user = make_user(f"{self.kind}_admin_a", {tenant_a: "admin"})
        return user, self.make(tenant_a, "a"), self.make(tenant_b, "b")

    def rest(self, user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    def path(self, pk=None) -> str:
        base = f"/api/{self.declared.route}/"
        return base if pk is None else f"{base}{pk}/"

    def mcp(self, user, tool: str, args: dict):
        from mcp_gateway.registry import registry
        from mcp_gateway.server import CallerEnv, execute

        env = CallerEnv(principal=Principal(user, via="api_key"), ip="127.0.0.1", user_agent="pytest")
        result, is_error = execute(registry.get(f"{self.kind}_{tool}"), args, env)
        if is_error and result["error"]["code"] == "CONFIRMATION_REQUIRED":  # deletes ask first: the user says yes
            assert tool == "delete", result
            result, is_error = execute(registry.get(f"{self.kind}_{tool}"),
                                       {**args, "confirm_token": result["error"]["details"]["confirm_token"]}, env)
        return result, is_error

    def entries(self, obj):
        return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(type(obj)), object_pk=str(obj.pk))

    def skip_unless(self, part: str):
        if part == "mcp":  # the kind's tools: generated from its declaration, or written by hand
            from mcp_gateway.registry import registry

            if registry.get(f"{self.kind}_save") is None:
                pytest.skip(f"kind {self.kind!r} has no MCP tools")
        elif getattr(self.declared, part) in (None, ""):
            pytest.skip(f"kind {self.kind!r} declares no {part}")

    # --- REST -------------------------------------------------------------------------------
    def test_rest_crud_is_audited(self, side, tenant_a):
        self.skip_unless("route")
        user, _mine, _theirs = side
        client = self.rest(user)
        created = client.post(self.path(), self.create_data(tenant_a), format="json")
        assert created.status_code == 201, created.json()
        pk = created.json()["id"]
        assert client.get(self.path(pk)).status_code == 200
        listed = {o["id"] for o in client.get(self.path(), {"limit": 1000}).json()["results"]}
        assert pk in listed
        changed = client.patch(self.path(pk), self.update, format="json")
        assert changed.status_code == 200, changed.json()
        assert {k: changed.json()[k] for k in self.update} == self.update
        obj = self.declared.get_model().objects.get(pk=pk)
        assert client.delete(self.path(pk)).status_code == 204
        assert client.get(self.path(pk)).status_code == 404
        if self.declared.audit is not None:
            actions = sorted(self.entries(obj).values_list("action", flat=True))
            assert actions == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE, LogEntry.Action.DELETE]
            assert set(self.entries(obj).values_list("actor_id", flat=True)) == {user.pk}

    def test_rest_refuses_bad_input(self, side):
        self.skip_unless("route")
        user, mine, _theirs = side
        client = self.rest(user)
        for body, field in self.bad:
            before = self.declared.get_model().objects.filter(pk=mine.pk).values().get()
            refused = client.patch(self.path(mine.pk), body, format="json")
            assert refused.status_code == 400 and field in refused.json(), (body, refused.json())
            assert self.declared.get_model().objects.filter(pk=mine.pk).values().get() == before

    def test_rest_isolation(self, side):
        self.skip_unless("route")
        user, mine, theirs = side
        client = self.rest(user)
        listed = {o["id"] for o in client.get(self.path(), {"limit": 1000}).json()["results"]}
        assert mine.pk in listed and theirs.pk not in listed
        assert client.get(self.path(theirs.pk)).status_code == 404
        for method in ("patch", "put", "delete"):
            assert getattr(client, method)(self.path(theirs.pk), self.update, format="json").status_code == 404
        assert self.declared.get_model().objects.filter(pk=theirs.pk).exists()

    # --- MCP --------------------------------------------------------------------------------
    def test_mcp_crud(self, side, tenant_a):
        self.skip_unless("mcp")
        user, _mine, _theirs = side
        from mcp_gateway.tools.factories import fk_renames

        renames = fk_renames(self.declared.get_serializer())
        args = {renames.get(k, k): v for k, v in self.create_data(tenant_a).items()}
        created, is_error = self.mcp(user, "save", args)
        assert not is_error, created
        got, is_error = self.mcp(user, "get", {"id": created["id"]})
        assert not is_error and got["id"] == created["id"]
        listed, is_error = self.mcp(user, "list", {"limit": 200})
        assert not is_error and created["id"] in {i["id"] for i in listed["items"]}
        changed, is_error = self.mcp(user, "save", {"id": created["id"], **self.update})
        assert not is_error and {k: changed[k] for k in self.update} == self.update
        deleted, is_error = self.mcp(user, "delete", {"id": created["id"]})
        assert not is_error and deleted["deleted"]

    def test_mcp_refuses_bad_input(self, side):
        self.skip_unless("mcp")
        user, mine, _theirs = side
        from mcp_gateway.tools.factories import fk_renames

        renames = fk_renames(self.declared.get_serializer())
        for body, field in self.bad:
            result, is_error = self.mcp(user, "save", {"id": mine.pk, **body})
            assert is_error and result["error"]["code"] == "INVALID_PARAMS", result
            assert renames.get(field, field) in result["error"]["details"], result

    def test_mcp_isolation(self, side):
        self.skip_unless("mcp")
        user, mine, theirs = side
        listed, _ = self.mcp(user, "list", {"limit": 200})
        ids = {i["id"] for i in listed["items"]}
        assert mine.pk in ids and theirs.pk not in ids
        for tool, args in (("get", {}), ("save", self.update), ("delete", {})):
            result, is_error = self.mcp(user, tool, {"id": theirs.pk, **args})
            assert is_error and result["error"]["code"] == "NOT_FOUND", (tool, result)
        assert self.declared.get_model().objects.filter(pk=theirs.pk).exists()

    # --- search and admin -------------------------------------------------------------------
    def test_search_finds_only_own(self, side):
        self.skip_unless("search")
        user, mine, theirs = side
        found = self.rest(user).get("/api/search/", {"q": self.search_word}).json()[self.declared.search.key]
        ids = {hit["id"] for hit in found}
        assert mine.pk in ids and theirs.pk not in ids

    def test_admin_isolation(self, side, client):
        from django.contrib import admin

        model = self.declared.get_model()
        if not admin.site.is_registered(model):
            pytest.skip(f"kind {self.kind!r} has no admin")
        user, mine, theirs = side
        client.force_login(user)
        opts = model._meta
        page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        listed = {o.pk for o in page.context["cl"].result_list}
        assert mine.pk in listed and theirs.pk not in listed
        assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[theirs.pk])).status_code == 404
        assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[mine.pk])).status_code == 200

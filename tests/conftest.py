"""Shared fixtures: tenants, users of each role, principals, and a real uvicorn server.

In CI (CI=true) the suite must run on PostgreSQL and Redis: it fails instead of skipping.
"""

import os

import pytest

from tests.servers import UvicornServer  # noqa: F401  (re-exported for tests)

CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config):
    if CI:
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            raise pytest.UsageError(f"CI must run on PostgreSQL (DATABASE_URL); got {engine}")
        if not settings.REDIS_URL:
            raise pytest.UsageError("CI must run with Redis (REDIS_URL)")


def pytest_collection_modifyitems(config, items):
    from django.conf import settings
    from django.db import connection

    if not settings.REDIS_URL:  # in CI, pytest_configure already refused to run without it
        for item in items:
            if item.get_closest_marker("redis"):
                item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))
    if connection.vendor == "postgresql":
        return
    for item in items:
        if item.get_closest_marker("postgres"):
            if CI:
                item.add_marker(pytest.mark.xfail(reason="needs PostgreSQL", strict=True, run=False))
                raise pytest.UsageError(f"{item.nodeid} needs PostgreSQL and CI is not on it")
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Tests empty tables without signals (rollback, flush): start each from fresh caches."""
    from inventory.runtime.caching import invalidate_all
    from inventory.services.allocation import forget_targets
    from oauth import credentials

    invalidate_all()
    forget_targets()
    credentials._recorded.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_paths(request):
    """``@pytest.mark.fast_paths("name", ...)``: a test of a speed-layer mechanism itself runs with
    it on even in ``FAST_PATHS=off`` runs (no names: every mechanism). Servers a test starts read
    ``FAST_PATHS`` from their environment: such tests pass ``env={"FAST_PATHS": "on"}``."""
    from inventory import runtime

    marker = request.node.get_closest_marker("fast_paths")
    if marker is None:
        yield
        return
    with runtime.use(**{name: True for name in (marker.args or runtime.MECHANISMS)}):
        yield


@pytest.fixture
def tenant_a(db):
    from inventory.models import Tenant

    return Tenant.objects.create(name="Tenant A")


@pytest.fixture
def tenant_b(db):
    from inventory.models import Tenant

    return Tenant.objects.create(name="Tenant B")


_HASHES: dict[str, str] = {}


def hashed(password: str) -> str:
    """The real (PBKDF2) hash of a password, computed once per test session: hashing costs ~0.8 s
    here, and servers started by tests must still verify it with the production hashers."""
    from django.contrib.auth.hashers import make_password

    if password not in _HASHES:
        _HASHES[password] = make_password(password)
    return _HASHES[password]


@pytest.fixture
def make_user(db, django_user_model):
    """make_user("alice", {tenant: "operator"}, password="pw", is_staff=False)"""
    from inventory.models import Membership

    def make(username, roles=None, password="pass-word-123", **extra):
        user = django_user_model(username=username, password=hashed(password), **extra)
        user.save()
        for tenant, role in (roles or {}).items():
            Membership.objects.create(user=user, tenant=tenant, role=role)
        return user

    return make


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create(
        username="root", password=hashed("pass-word-123"), is_staff=True, is_superuser=True
    )


@pytest.fixture
def viewer_a(make_user, tenant_a):
    return make_user("viewer_a", {tenant_a: "viewer"})


@pytest.fixture
def operator_a(make_user, tenant_a):
    return make_user("operator_a", {tenant_a: "operator"})


@pytest.fixture
def admin_a(make_user, tenant_a):
    return make_user("admin_a", {tenant_a: "admin"})


@pytest.fixture
def operator_b(make_user, tenant_b):
    return make_user("operator_b", {tenant_b: "operator"})


@pytest.fixture
def live_server_url(transactional_db):
    """A real uvicorn serving inventory.asgi on a free port, against the test database."""
    with UvicornServer() as server:
        yield server.url

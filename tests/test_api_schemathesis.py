"""Property-based runs over /api/schema/: no operation answers 500, whatever the input, and every
answer is one the OpenAPI document describes (status code, content type, body schema).

Runs in-process (Django's WSGI app on the test database) as an admin of tenant A with an
API key, a few generated examples per operation (derandomized: the run is repeatable).
"""

import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oauth.models import ApiKey

EXAMPLES_PER_OPERATION = 6
#: first path segment -> key of the ``world`` fixture, so most examples hit real objects
KIND_OF_PATH = {"tenants": "tenant", "datacenters": "datacenter", "networks": "network", "pools": "pool",
                "ip-addresses": "ipaddress", "devices": "device", "relationships": "relationship"}


@pytest.fixture
def wsgi_app(db):
    # the WSGI handler would close the test's database connection after each request
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_no_server_errors(wsgi_app, make_user, world):
    user = make_user("fuzzer", {world["a"]["tenant"]: "admin"})
    _key, raw = ApiKey.create(user, "schemathesis")
    headers = {"Authorization": f"Bearer {raw}"}
    # this module's REST API; the jobs and MCP endpoints have their own tests
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app).include(
        path_regex=r"^/api/(?!jobs/|mcp/)"
    )
    failures, calls, operations = [], [0], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        kind = KIND_OF_PATH.get(operation.path.split("/")[2])

        @given(case=operation.as_strategy(), use_real_id=st.booleans())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case, use_real_id):
            if use_real_id and kind and case.method != "DELETE" and "id" in (case.path_parameters or {}):
                case.path_parameters["id"] = world["a"][kind].pk
            response = case.call(headers=headers)
            calls[0] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300}: "
                                f"{response.status_code} {response.text[:300]}")

        run()
    assert operations >= 40 and calls[0] >= operations
    assert failures == []


#: what the answers must conform to (schemathesis's response checks)
RESPONSE_CHECKS = [openapi_checks.status_code_conformance, openapi_checks.content_type_conformance,
                   openapi_checks.response_schema_conformance, openapi_checks.response_headers_conformance]
CONFORMANCE_EXAMPLES = 2


def test_responses_conform_to_the_schema(wsgi_app, make_user, world):
    """Every operation of the REST API (the job starters aside: they need a broker, and have their
    own tests) answers only status codes the schema documents, with bodies matching its schemas."""
    user = make_user("conformer", {world["a"]["tenant"]: "admin"})
    _key, raw = ApiKey.create(user, "schemathesis responses")
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app).exclude(
        path_regex=r"^/api/jobs/(scan|command|provision)/$")
    failures, calls, operations = {}, [0], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        kind = KIND_OF_PATH.get(operation.path.split("/")[2])

        @given(case=operation.as_strategy(), use_real_id=st.booleans())
        @settings(max_examples=CONFORMANCE_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case, use_real_id):
            if use_real_id and kind and case.method not in ("DELETE", "PUT") and "id" in (case.path_parameters or {}):
                case.path_parameters["id"] = world["a"][kind].pk
            response = case.call(headers=headers)
            calls[0] += 1
            try:
                case.validate_response(response, checks=RESPONSE_CHECKS, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = f"{case.method} {operation.path} -> {response.status_code}: {failure.title}"
                    failures.setdefault(key, f"{case.as_curl_command()}\n{failure}\n{response.text[:300]}")

        run()
    assert operations >= 80 and calls[0] >= operations
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(failures.items()))

"""Fuzzing the JSON API from its own OpenAPI document (schemathesis): every operation, as every
staff role of the policy, with a bounded number of generated requests each, so CI stays fast.
No request may cause a server error, and every documented response must match its schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application
from tests.conftest import NOW
from tillit import policy
from tillit.accounts import services as account_services
from tillit.core.actors import Actor

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
# An email uploaded as a raw RFC 822 message: generated bodies are sent as plain text.
schemathesis.serializer.alias("message/rfc822", "text/plain")
# No 5xx, and every documented response matches its schema. Refusals (403 for a role, 404 for
# an id that does not exist, 422 for a domain rule) are the API working, not failing.
CHECKS = [not_a_server_error, response_schema_conformance]
ROLES = tuple(policy.current().roles)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI app closes database connections after each request; inside a test that would
    close the test's transaction (Django's test client disconnects the same handlers)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=ROLES)
def token(request, make_staff) -> str:
    user = make_staff(request.param, username=f"fuzz-{request.param}")
    _, secret = account_services.create_api_client(actor=Actor.system("tests"), now=NOW, user_id=user.pk, name="fuzz")
    return secret


@pytest.mark.django_db
@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_fails_or_breaks_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

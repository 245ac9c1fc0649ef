"""Every public endpoint is rate-limited per client address (issue: hardening); signed-in staff
and the token-authenticated API are not counted, and other addresses are not affected."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = ["/privacy", "/rights", "/.well-known/gpc.json", "/forms/embed.js", "/cookies/state"]


@pytest.fixture
def limit(settings):
    settings.TILLIT_PUBLIC_RATE_PER_MINUTE = 5
    return 5


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_a_public_endpoint_answers_429_past_the_limit(limit, path):
    visitor = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [visitor.get(path).status_code for _ in range(limit)]
    assert 429 not in statuses
    refused = visitor.get(path)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["code"] == "rate_limited"
    # Another address is not affected.
    assert Client(REMOTE_ADDR="198.51.100.9").get(path).status_code != 429


def test_signed_in_staff_are_not_counted(limit, staff_client):
    officer = staff_client("privacy_officer")
    assert all(officer.get("/privacy", REMOTE_ADDR="203.0.113.8").status_code == 200 for _ in range(limit * 2))


def test_static_files_are_not_counted(limit, client):
    for _ in range(limit * 2):
        assert client.get("/static/public/cookies.js", REMOTE_ADDR="203.0.113.9").status_code != 429

"""Fixtures for capture: a newsletter form, a clean rate-limit cache, a chat secret."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tillit.capture import services


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_form(system_actor, now):
    def make(**overrides):
        values = {
            "name": "Get the newsletter",
            "language": "en",
            "fields": [
                {"name": "name"},
                {"name": "email"},
                {"name": "phone"},
                {"name": "organisation"},
                {"name": "position"},
                {"name": "product_interests", "options": ["Boats", "Engines"]},
                {"name": "message"},
            ],
            "consents": [
                {"purpose": "newsletter", "channel": "email"},
                {"purpose": "direct_marketing", "channel": "email"},
            ],
        } | overrides
        return services.create_form(actor=system_actor, now=now, **values)

    return make


@pytest.fixture
def form(make_form):
    return make_form()

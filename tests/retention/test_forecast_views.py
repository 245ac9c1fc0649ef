"""The forecast for the roles the policy gives it: a staff page and JSON from the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tillit.people import services as people

pytestmark = pytest.mark.django_db


@pytest.fixture
def soon_due(system_actor):
    registered = timezone.now() - dt.timedelta(days=700)
    return people.create_person(actor=system_actor, now=registered, source="form", values={"name": "Due Soon"})


@pytest.mark.parametrize(
    ("role", "status"),
    [("marketing", 200), ("privacy_officer", 200), ("sales", 403), ("customer_support", 403), ("administrator", 403)],
)
def test_the_forecast_api_per_role(api_as, soon_due, role, status):
    response = api_as(role).get("/api/retention/forecast")
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert len(body["months"]) == 24
        assert sum(sum(s["counts"]) for s in body["series"]) == 1
        assert "Due Soon" not in response.content.decode()


def test_the_forecast_page_draws_the_months(staff_client, soon_due):
    client = staff_client("privacy_officer")
    response = client.get("/retention/forecast/")
    assert response.status_code == 200
    assert b"<svg" in response.content
    assert b"registered" in response.content
    seller = staff_client("sales")
    assert seller.get("/retention/forecast/").status_code == 403


def test_the_forecast_page_needs_sign_in():
    response = Client().get("/retention/forecast/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]

"""The JSON API: token auth, create/read/update through services and the read gate, errors
as {"code", "message", "field"}, 422 naming the field, 413 for bodies over 1 MiB."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tillit.audit.models import AuditEntry
from tillit.people.models import Organization, Person

pytestmark = pytest.mark.django_db


def post(client: Client, url: str, body: object) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def patch(client: Client, url: str, body: object) -> object:
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def test_the_api_needs_a_token():
    response = Client().get("/api/people")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    wrong = Client(headers={"Authorization": "Bearer tlt_not-a-real-token"}).get("/api/people")
    assert wrong.status_code == 401


def test_create_read_update_a_person(api_as):
    client = api_as("sales")
    created = post(
        client,
        "/api/people",
        {"name": "Kari Nordmann", "email": "Kari@Example.com", "phone": "41234567", "source": "form"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["email"] == "kari@example.com"
    assert body["phone"] == "+4741234567"
    assert body["purpose"] == "sales_dialogue"
    assert body["retain_reason"] == "registered"
    assert "2 years after registration" in body["retain_explanation"]
    pid = body["id"]

    fetched = client.get(f"/api/people/{pid}")
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Kari Nordmann"

    changed = patch(client, f"/api/people/{pid}", {"position": "CFO"})
    assert changed.status_code == 200
    assert changed.json()["position"] == "CFO"
    assert AuditEntry.objects.filter(subject_id=pid, action="update", fields=["position"]).exists()
    assert AuditEntry.objects.filter(subject_id=pid, action="read").count() >= 2


def test_hidden_fields_are_absent_not_null(api_as):
    sales = api_as("sales")
    pid = post(sales, "/api/people", {"name": "Ola", "email": "ola@example.com"}).json()["id"]
    marketer = api_as("marketing")
    seen = marketer.get(f"/api/people/{pid}", {"purpose": "statistics"}).json()
    assert "name" not in seen
    assert "email" not in seen
    assert seen["id"] == pid


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Ola", "email": "not-an-email"}, "email"),
        ({"name": "Ola", "phone": "12"}, "phone"),
        ({"name": "Ola", "favourite_colour": "blue"}, "favourite_colour"),
        ({"email": "ola@example.com"}, "name"),
        ({"name": "Ola", "source": "bought_list"}, "source"),
        ({"name": "Ola", "organization_id": "many"}, "organization_id"),
    ],
)
def test_bad_person_input_is_422_naming_the_field(api_as, body, field):
    response = post(api_as("sales"), "/api/people", body)
    assert response.status_code == 422, response.content
    error = response.json()
    assert error["field"] == field
    assert error["code"] == "invalid"
    assert error["message"]
    assert Person.objects.count() == 0


def test_bad_organisation_number_is_422(api_as):
    response = post(api_as("sales"), "/api/organizations", {"name": "X AS", "org_number": "923130968"})
    assert response.status_code == 422
    assert response.json()["field"] == "org_number"
    assert "check digit" in response.json()["message"]
    assert Organization.objects.count() == 0


def test_a_failed_update_changes_nothing(api_as):
    client = api_as("sales")
    pid = post(client, "/api/people", {"name": "Ola", "phone": "41234567"}).json()["id"]
    response = patch(client, f"/api/people/{pid}", {"name": "New name", "phone": "12"})
    assert response.status_code == 422
    assert response.json()["field"] == "phone"
    assert client.get(f"/api/people/{pid}").json()["name"] == "Ola"


def test_not_json_is_400_with_a_message(api_as):
    response = api_as("sales").post("/api/people", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"code": "bad_request", "message": "the body is not valid JSON", "field": None}


def test_a_body_over_one_mebibyte_is_413(api_as):
    body = {"name": "Ola", "position": "x" * (1024 * 1024)}
    response = post(api_as("sales"), "/api/people", body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert Person.objects.count() == 0


def test_duplicate_email_is_409(api_as):
    client = api_as("sales")
    post(client, "/api/people", {"name": "A", "email": "a@example.com"})
    response = post(client, "/api/people", {"name": "B", "email": "a@example.com"})
    assert response.status_code == 409
    assert response.json()["field"] == "email"


def test_a_role_without_the_purpose_gets_403_and_a_missing_person_404(api_as):
    sales = api_as("sales")
    pid = post(sales, "/api/people", {"name": "Ola"}).json()["id"]
    admin = api_as("administrator")
    assert admin.get(f"/api/people/{pid}").status_code == 403
    assert sales.get("/api/people/999999").status_code == 404
    assert sales.get("/api/people/999999").json() == {"code": "not_found", "message": "no such person", "field": None}


def test_search_is_paginated(api_as):
    client = api_as("customer_support")
    for n in range(3):
        post(client, "/api/people", {"name": f"Kari {n}", "email": f"kari{n}@example.com"})
    search = {"q": "kari", "page_size": 2, "purpose": "customer_care"}
    page = client.post("/api/people/search", search, content_type="application/json").json()
    assert (len(page["items"]), page["has_next"]) == (2, True)
    assert client.get("/api/people", {"page_size": 1000}).status_code == 422


def test_organisations_round_trip(api_as):
    client = api_as("sales")
    created = post(
        client,
        "/api/organizations",
        {"name": "Avara AS", "org_number": "923 130 969", "country": "no", "source": "public_register"},
    )
    assert created.status_code == 201, created.content
    oid = created.json()["id"]
    assert created.json()["country"] == "NO"
    assert patch(client, f"/api/organizations/{oid}", {"city": "Sandefjord"}).json()["city"] == "Sandefjord"
    found = client.post("/api/organizations/search", {"q": "923130969"}, content_type="application/json")
    assert found.json()["items"][0]["id"] == oid


def test_openapi_and_docs_are_served():
    schema = Client().get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/people", "/api/people/{person_id}", "/api/organizations"} <= set(paths)
    assert Client().get("/api/docs").status_code == 200

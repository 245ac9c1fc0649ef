"""Orders and services: the customer relationship starts with the first and ends with the last
cancellation; order lines are bookkeeping records that outlive an erasure of the person,
detached and without personal data, until the legal hold ends (policy §9)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from tillit.capture.models import OrderLine, ServiceSubscription
from tillit.people import services as people
from tillit.people.models import CustomerRelationship, Interaction, Person, ProductInterest
from tillit.policy import retention as retention_rules
from tillit.retention import selectors as retention_selectors
from tillit.retention import services as retention
from tillit.retention.models import ErasureReceipt

pytestmark = pytest.mark.django_db

ORDER = {
    "number": "A-1001",
    "currency": "nok",
    "lines": [
        {"product": "Outboard engine", "quantity": 1, "unit_price": "45000.00"},
        {"product": "Service kit", "quantity": "2.5", "unit_price": "99.90"},
    ],
}


@pytest.fixture
def customer(system_actor, now):
    return people.create_person(
        actor=system_actor,
        now=now,
        source="order",
        values={"name": "Kunde Testesen", "email": "kunde.testesen@example.com", "phone": "41234567"},
    )


def test_the_first_order_starts_the_customer_relationship(api_as, customer, now):
    client = api_as("sales")
    response = client.post(f"/api/people/{customer.pk}/orders", json.dumps(ORDER), content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["lines"] == 2
    assert body["started_customer_relationship"] is True
    lines = list(OrderLine.objects.order_by("line_number"))
    assert [(line.product, str(line.quantity), str(line.unit_price), line.currency) for line in lines] == [
        ("Outboard engine", "1.000", "45000.00", "NOK"),
        ("Service kit", "2.500", "99.90", "NOK"),
    ]
    assert all(line.customer_pseudonym == customer.pseudonym for line in lines)
    customer.refresh_from_db()
    # Orders only, no service: the relationship ends 12 months after the last order (§9).
    ends = retention_rules.add_months(lines[0].ordered_at, 12)
    assert (customer.retain_until, customer.retain_reason) == (retention_rules.add_years(ends, 2), "customer_orders")
    assert Interaction.objects.filter(person=customer, kind="order", direction="inbound").count() == 1
    assert set(ProductInterest.objects.filter(person=customer).values_list("status", flat=True)) == {"has"}
    again = dict(ORDER, number="A-1002")
    second = client.post(f"/api/people/{customer.pk}/orders", json.dumps(again), content_type="application/json")
    assert second.json()["started_customer_relationship"] is False
    assert CustomerRelationship.objects.filter(person=customer).count() == 1


def test_the_hold_runs_to_the_end_of_the_financial_year_plus_five_years(api_as, customer):
    body = dict(ORDER, ordered_at="2026-03-15T10:00:00+01:00")
    response = api_as("customer_support").post(
        f"/api/people/{customer.pk}/orders", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201
    hold_until = dt.datetime.fromisoformat(response.json()["hold_until"])
    assert hold_until.astimezone(dt.timezone(dt.timedelta(hours=1))).date() == dt.date(2031, 12, 31)


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"number": ""}, "number", 422),
        ({"currency": "kroner"}, "currency", 422),
        ({"lines": []}, "lines", 422),
        ({"lines": [{"product": "X", "quantity": 0, "unit_price": "1"}]}, "lines.0.quantity", 422),
        ({"lines": [{"product": "X", "quantity": 1, "unit_price": "-1"}]}, "lines.0.unit_price", 422),
        ({"lines": [{"product": "X", "quantity": 1, "unit_price": "1.001"}]}, "lines.0.unit_price", 422),
        ({"lines": [{"product": "", "quantity": 1, "unit_price": "1"}]}, "lines.0.product", 422),
        ({"ordered_at": "2099-01-01T00:00:00Z"}, "ordered_at", 422),
        ({"surprise": 1}, "surprise", 422),
    ],
)
def test_bad_orders_are_refused_naming_the_field(api_as, customer, change, field, status):
    response = api_as("sales").post(
        f"/api/people/{customer.pk}/orders", json.dumps(ORDER | change), content_type="application/json"
    )
    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    assert not OrderLine.objects.exists()
    assert not CustomerRelationship.objects.exists()


def test_a_duplicate_order_number_or_unknown_person_writes_nothing(api_as, customer):
    client = api_as("sales")
    client.post(f"/api/people/{customer.pk}/orders", json.dumps(ORDER), content_type="application/json")
    again = client.post(f"/api/people/{customer.pk}/orders", json.dumps(ORDER), content_type="application/json")
    assert again.status_code == 409
    assert again.json()["field"] == "number"
    assert OrderLine.objects.count() == 2
    missing = client.post(
        "/api/people/424242/orders", json.dumps(dict(ORDER, number="B")), content_type="application/json"
    )
    assert missing.status_code == 404


def test_cancelling_the_last_active_service_ends_the_customer_relationship(api_as, customer):
    client = api_as("customer_support")
    first = client.post(
        f"/api/people/{customer.pk}/services", json.dumps({"product": "Hosting"}), content_type="application/json"
    )
    assert first.status_code == 201
    assert first.json()["started_customer_relationship"] is True
    second = client.post(
        f"/api/people/{customer.pk}/services", json.dumps({"product": "Support"}), content_type="application/json"
    )
    assert second.json()["started_customer_relationship"] is False
    one = client.post(f"/api/services/{first.json()['id']}/cancel", "{}", content_type="application/json")
    assert one.status_code == 200
    assert one.json()["ended_customer_relationship"] is False
    customer.refresh_from_db()
    assert customer.retain_reason == "customer"
    last = client.post(f"/api/services/{second.json()['id']}/cancel", "{}", content_type="application/json")
    assert last.json()["ended_customer_relationship"] is True
    customer.refresh_from_db()
    assert customer.retain_reason == "customer_ended"
    assert customer.retain_until is not None
    twice = client.post(f"/api/services/{second.json()['id']}/cancel", "{}", content_type="application/json")
    assert twice.status_code == 409
    assert ServiceSubscription.objects.filter(cancelled_at__isnull=True).count() == 0


def order_for(customer, system_actor, now):
    from tillit.capture import services

    return services.record_order(
        actor=system_actor, now=now, person_id=customer.pk, number="A-1001", currency="NOK", lines=ORDER["lines"]
    )


def test_an_erased_customer_leaves_the_order_lines_detached_until_the_hold_ends(customer, system_actor, now):
    order_for(customer, system_actor, now)
    pseudonym = customer.pseudonym

    result = retention.erase_person(actor=system_actor, now=now, person_id=customer.pk, reason="request")

    assert result.erased
    assert not Person.objects.filter(pk=customer.pk).exists()
    lines = list(OrderLine.objects.all())
    assert len(lines) == 2, "bookkeeping records are kept (policy §9, bokføringsloven § 13)"
    assert all(line.person_id is None and line.customer_pseudonym == pseudonym for line in lines)
    found = retention_selectors.find_identifiers(["Kunde Testesen", "kunde.testesen@example.com", "+4741234567"])
    assert found == [], "nothing personal is left"
    receipt = ErasureReceipt.objects.get(pseudonym=pseudonym)
    kept = receipt.counts["kept"]
    assert kept == [
        {
            "table": "capture_orderline",
            "rows": 2,
            "hold": "bookkeeping",
            "basis": "The Norwegian Bookkeeping Act (bokføringsloven) § 13",
            "until": lines[0].hold_until.isoformat(),
        }
    ]
    assert "capture_orderline" not in receipt.counts, "nothing was deleted from it"


def test_the_sweep_deletes_detached_lines_once_the_hold_has_ended(customer, system_actor, now):
    order_for(customer, system_actor, now)
    retention.erase_person(actor=system_actor, now=now, person_id=customer.pk, reason="request")
    hold_until = OrderLine.objects.first().hold_until

    with time_machine.travel(hold_until - dt.timedelta(days=1), tick=False):
        summary = retention.sweep(actor=system_actor, now=hold_until - dt.timedelta(days=1))
    assert summary.held_deleted == {}
    assert OrderLine.objects.count() == 2

    with time_machine.travel(hold_until + dt.timedelta(seconds=1), tick=False):
        summary = retention.sweep(actor=system_actor, now=hold_until + dt.timedelta(seconds=1))
    assert summary.held_deleted == {"capture_orderline": 2}
    assert not OrderLine.objects.exists()


def test_a_person_erased_after_the_hold_loses_the_lines_with_everything_else(customer, system_actor, now):
    order_for(customer, system_actor, now)
    later = OrderLine.objects.first().hold_until + dt.timedelta(days=1)
    retention.erase_person(actor=system_actor, now=later, person_id=customer.pk, reason="request")
    assert not OrderLine.objects.exists()
    receipt = ErasureReceipt.objects.get()
    assert receipt.counts["capture_orderline"] == 2
    assert "kept" not in receipt.counts


def test_the_sweep_keeps_order_lines_of_people_past_their_deadline(customer, system_actor, now):
    order_for(customer, system_actor, now)
    end = now + dt.timedelta(days=10)
    people.end_customer_relationship(actor=system_actor, now=end, person_id=customer.pk, ended_at=end)
    much_later = end + dt.timedelta(days=3 * 365)
    summary = retention.sweep(actor=system_actor, now=much_later)
    assert summary.erased == 1
    assert OrderLine.objects.filter(person__isnull=True).count() == 2

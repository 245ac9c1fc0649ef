"""Every customer relationship can end (issue 16 item 1; policy §9): one with no active service
ends ``retention.customer.months_after_last_order`` months after the last order, so an
order-only customer has a deadline and the sweep releases them; staff who look after customers
end a relationship with a reason (person page and API); existing data is recomputed; and
``tillit verify`` reports a customer left without a deadline."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from types import SimpleNamespace

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.utils import timezone, translation

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.capture import services as capture
from tillit.people import services as people
from tillit.people.models import CustomerRelationship, Person
from tillit.policy import retention as rule
from tillit.retention import services as retention
from tillit.retention.models import ErasureReceipt
from tillit.sharing import verifier

pytestmark = pytest.mark.django_db

ORDERED = dt.datetime(2023, 6, 1, 10, tzinfo=dt.UTC)


def customer_with_an_order(actor, at: dt.datetime, n: int = 1) -> Person:
    person = people.create_person(
        actor=actor,
        now=at,
        source="order",
        values={"name": f"Kunde Nummer{n}", "email": f"kunde{n}@example.com"},
    )
    capture.record_order(
        actor=actor,
        now=at,
        person_id=person.pk,
        number=f"A-{n}",
        currency="NOK",
        ordered_at=at,
        lines=[{"product": "Avara Cloud", "quantity": 1, "unit_price": "100.00"}],
    )
    person.refresh_from_db()
    return person


def test_the_policy_says_when_a_relationship_without_a_service_ends():
    customer = policy.current().retention.customer
    assert customer.section == 9
    assert customer.months_after_last_order == 12


def test_an_order_three_years_ago_means_the_sweep_erases_the_person(system_actor):
    with time_machine.travel(ORDERED, tick=False):
        person = customer_with_an_order(system_actor, timezone.now())
    assert person.retain_reason == "customer_orders"
    assert person.retain_until == rule.add_years(rule.add_months(ORDERED, 12), 2)
    with time_machine.travel(ORDERED + dt.timedelta(days=3 * 365 - 2), tick=False):
        assert retention.sweep(actor=system_actor, now=timezone.now()).erased == 0
    with time_machine.travel(rule.add_years(ORDERED, 3) + dt.timedelta(hours=1), tick=False):
        summary = retention.sweep(actor=system_actor, now=timezone.now())
    assert summary.erased == 1
    assert summary.by_reason == {"customer_orders": 1}
    assert not Person.objects.filter(pk=person.pk).exists()
    assert ErasureReceipt.objects.get(pseudonym=person.pseudonym).rule == "customer_orders"


def test_a_new_order_moves_the_end_and_a_service_keeps_the_relationship_open(system_actor):
    with time_machine.travel(ORDERED, tick=False):
        person = customer_with_an_order(system_actor, timezone.now())
    later = ORDERED + dt.timedelta(days=300)
    with time_machine.travel(later, tick=False):
        capture.record_order(
            actor=system_actor,
            now=later,
            person_id=person.pk,
            number="A-2",
            currency="NOK",
            ordered_at=later,
            lines=[{"product": "Avara Cloud", "quantity": 1, "unit_price": "100.00"}],
        )
    person.refresh_from_db()
    assert person.retain_until == rule.add_years(rule.add_months(later, 12), 2)
    with time_machine.travel(later + dt.timedelta(days=1), tick=False):
        capture.start_service(actor=system_actor, now=timezone.now(), person_id=person.pk, product="Avara Backup")
    person.refresh_from_db()
    assert (person.retain_until, person.retain_reason) == (None, "customer")


def test_verify_reports_a_customer_left_without_a_deadline_and_the_recompute_fixes_it(system_actor):
    with time_machine.travel(ORDERED, tick=False):
        person = customer_with_an_order(system_actor, timezone.now())
    # As the data stood before the rule: an order-only customer kept without a deadline.
    Person.objects.filter(pk=person.pk).update(retain_until=None, retain_reason="customer")
    now = ORDERED + dt.timedelta(days=400)
    found = [v for v in verifier.violations(now=now) if v.kind == "customer_without_deadline"]
    assert [(v.subject, v.detail[-10:]) for v in found] == [(f"person:{person.pseudonym}", "2024-06-01")]
    # Not yet: within the 12 months after the order the relationship still lasts.
    assert not [v for v in verifier.violations(now=ORDERED + dt.timedelta(days=300)) if v.kind == found[0].kind]
    # The migration recomputes every deadline of the existing data.
    migration = importlib.import_module("tillit.people.migrations.0006_customer_relationship_end_reason")
    migration.recompute_deadlines(apps, SimpleNamespace(connection=connection))
    person.refresh_from_db()
    assert person.retain_reason == "customer_orders"
    assert not [v for v in verifier.violations(now=now) if v.kind == "customer_without_deadline"]


def test_a_customer_with_an_active_service_is_not_reported(system_actor):
    with time_machine.travel(ORDERED, tick=False):
        person = customer_with_an_order(system_actor, timezone.now())
        capture.start_service(actor=system_actor, now=timezone.now(), person_id=person.pk, product="Avara Backup")
    person.refresh_from_db()
    assert person.retain_until is None
    later = ORDERED + dt.timedelta(days=5 * 365)
    assert not [v for v in verifier.violations(now=later) if v.kind == "customer_without_deadline"]


@pytest.mark.parametrize("role", ["customer_support", "sales"])
def test_customer_care_ends_a_relationship_through_the_api_with_a_reason(api_as, system_actor, now, role):
    person = customer_with_an_order(system_actor, now - dt.timedelta(days=30))
    client = api_as(role)
    response = client.post(
        f"/api/people/{person.pk}/customer-relationship/end",
        json.dumps({"reason": "customer_asked"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reason"] == "customer_asked"
    relationship = CustomerRelationship.objects.get(person=person)
    assert relationship.ended_at is not None
    assert relationship.end_reason == "customer_asked"
    person.refresh_from_db()
    assert person.retain_reason in {"customer_ended", "dialogue"}
    assert abs(dt.datetime.fromisoformat(body["retain_until"]) - person.retain_until) < dt.timedelta(seconds=1)
    entry = AuditEntry.objects.filter(subject_type="customer_relationship", subject_id=relationship.pk).last()
    assert entry.action == "update"
    assert entry.actor_role == role
    assert sorted(entry.fields) == ["end_reason", "ended_at"]
    again = client.post(
        f"/api/people/{person.pk}/customer-relationship/end",
        json.dumps({"reason": "customer_asked"}),
        content_type="application/json",
    )
    assert again.status_code == 409


def test_ending_a_relationship_is_refused_for_other_roles_and_bad_input(api_as, system_actor, now):
    person = customer_with_an_order(system_actor, now - dt.timedelta(days=30))
    url = f"/api/people/{person.pk}/customer-relationship/end"
    refused = api_as("marketing").post(url, json.dumps({"reason": "other"}), content_type="application/json")
    assert refused.status_code == 403
    sales = api_as("sales")
    for reason in ("bored", "lapsed", "service_cancelled"):
        bad = sales.post(url, json.dumps({"reason": reason}), content_type="application/json")
        assert bad.status_code == 422
        assert bad.json()["field"] == "reason"
    missing = sales.post(url, json.dumps({}), content_type="application/json")
    assert missing.status_code == 422
    assert missing.json()["field"] == "reason"
    future = sales.post(
        url, json.dumps({"reason": "other", "ended_at": "2099-01-01T00:00:00Z"}), content_type="application/json"
    )
    assert future.status_code == 422
    assert future.json()["field"] == "ended_at"
    assert CustomerRelationship.objects.get(person=person).ended_at is None


def test_customer_support_ends_a_relationship_from_the_person_page(staff_client, system_actor, now, settings):
    person = customer_with_an_order(system_actor, now - dt.timedelta(days=30))
    client = staff_client("customer_support")
    page = client.get(f"/people/{person.pk}/?purpose=customer_care")
    assert page.status_code == 200
    assert b'data-testid="end-customer"' in page.content
    bad = client.post(f"/people/{person.pk}/customer/end/", {"reason": "bored", "purpose": "customer_care"})
    assert bad.status_code == 422
    assert CustomerRelationship.objects.get(person=person).ended_at is None
    done = client.post(f"/people/{person.pk}/customer/end/", {"reason": "business_closed", "purpose": "customer_care"})
    assert done.status_code == 302
    assert CustomerRelationship.objects.get(person=person).end_reason == "business_closed"
    after = client.get(f"/people/{person.pk}/?purpose=customer_care")
    assert b'data-testid="end-customer"' not in after.content
    assert '<span data-testid="end-reason">(The business closed or was taken over)</span>' in after.content.decode()
    # The marketing role does not see the action.
    marketing = staff_client("marketing").get(f"/people/{person.pk}/?purpose=direct_marketing")
    assert b'data-testid="end-customer"' not in marketing.content


def test_the_end_action_speaks_norwegian_and_swedish(staff_client, system_actor, now):
    person = customer_with_an_order(system_actor, now - dt.timedelta(days=30))
    client = staff_client("customer_support")
    try:
        norwegian = client.get(f"/people/{person.pk}/?purpose=customer_care", headers={"Accept-Language": "nb"})
        assert "Avslutt kundeforholdet" in norwegian.content.decode()
        assert "Hvorfor avsluttes det?" in norwegian.content.decode()
        swedish = client.get(f"/people/{person.pk}/?purpose=customer_care", headers={"Accept-Language": "sv"})
        assert "Avsluta kundrelationen" in swedish.content.decode()
        assert "Kunden bad om att avsluta den" in swedish.content.decode()
    finally:
        translation.activate("en")


def test_a_subscribed_customer_without_a_deadline_is_not_reported(system_actor):
    from tillit.consent import services as consent

    with time_machine.travel(ORDERED, tick=False):
        person = customer_with_an_order(system_actor, timezone.now())
        consent.open_subscription(
            actor=system_actor,
            now=timezone.now(),
            person_id=person.pk,
            newsletter="monthly",
            source_kind="double_opt_in",
            wording="Yes, send me Monthly news.",
            language="en",
        )
    person.refresh_from_db()
    assert (person.retain_until, person.retain_reason) == (None, "subscribed")
    later = ORDERED + dt.timedelta(days=5 * 365)
    assert not [v for v in verifier.violations(now=later) if v.kind == "customer_without_deadline"]


def test_the_daily_job_closes_a_lapsed_relationship_on_the_day_it_ended(system_actor, settings):
    from tillit.cli.management.commands.scheduler import jobs
    from tillit.core.scheduling import enqueue_due

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.TILLIT_SWEEP_HOUR = 2
    with time_machine.travel(ORDERED, tick=False):
        lapsing = customer_with_an_order(system_actor, timezone.now(), n=1)
        serviced = customer_with_an_order(system_actor, timezone.now(), n=2)
        capture.start_service(actor=system_actor, now=timezone.now(), person_id=serviced.pk, product="Avara Backup")
    recent_at = ORDERED + dt.timedelta(days=200)
    with time_machine.travel(recent_at, tick=False):
        recent = customer_with_an_order(system_actor, timezone.now(), n=3)
    deadline = lapsing.retain_until
    with time_machine.travel(ORDERED + dt.timedelta(days=364), tick=False):
        assert people.end_lapsed_customer_relationships(actor=system_actor, now=timezone.now()) == 0
    with time_machine.travel(ORDERED + dt.timedelta(days=400), tick=False):
        assert "people.lapsed_customers" in enqueue_due(jobs(), now=timezone.now())
    relationship = CustomerRelationship.objects.get(person=lapsing)
    assert (relationship.ended_at, relationship.end_reason) == (rule.add_months(ORDERED, 12), "lapsed")
    lapsing.refresh_from_db()
    assert (lapsing.retain_until, lapsing.retain_reason) == (deadline, "customer_ended")
    assert CustomerRelationship.objects.get(person=serviced).ended_at is None
    assert CustomerRelationship.objects.get(person=recent).ended_at is None
    entry = AuditEntry.objects.filter(subject_type="customer_relationship", subject_id=relationship.pk).last()
    assert (entry.actor_kind, sorted(entry.fields)) == ("system", ["end_reason", "ended_at"])


def test_the_notice_publishes_when_a_relationship_without_a_service_ends(client):
    try:
        english = client.get("/privacy?lang=en").content.decode()
        norwegian = client.get("/privacy?lang=nb").content.decode()
        swedish = client.get("/privacy?lang=sv").content.decode()
    finally:
        translation.activate("en")
    assert "A customer relationship with no active service ends 12 months after your last order." in english
    assert "Et kundeforhold uten aktiv tjeneste opphører 12 måneder etter din siste bestilling." in norwegian
    assert "En kundrelation utan aktiv tjänst upphör 12 månader efter din senaste beställning." in swedish

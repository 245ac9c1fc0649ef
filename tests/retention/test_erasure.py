"""Retention kept current by every event; erase_person leaves nothing but a receipt; the sweep
erases everyone past their deadline."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings

from tillit.audit.models import AuditEntry
from tillit.capture import services as capture
from tillit.consent.models import Subscription, SuppressionEntry
from tillit.core.errors import ConflictError
from tillit.core.identifiers import identifier_digest
from tillit.people import services as people
from tillit.people.models import Interaction, Person, Provenance
from tillit.retention import selectors, services
from tillit.retention.models import ErasureNotice, ErasureReceipt

pytestmark = pytest.mark.django_db


def make_person(actor, now, n: int = 1, **values):
    return people.create_person(
        actor=actor,
        now=now,
        source="form",
        values={"name": f"Testperson Nummer{n}", "email": f"testperson{n}@example.com", "phone": f"4123456{n}"}
        | values,
    )


def test_registration_sets_a_deadline_and_a_reason(system_actor, now):
    person = make_person(system_actor, now)
    person.refresh_from_db()
    assert person.retain_reason == "registered"
    assert person.retain_until == dt.datetime(2028, 11, 24, 12, tzinfo=dt.UTC)


def test_an_inbound_contact_moves_the_clock_and_our_own_email_does_not(system_actor, now):
    person = make_person(system_actor, now - dt.timedelta(days=800))
    later = now - dt.timedelta(days=10)
    people.record_interaction(
        actor=system_actor, now=now, person_id=person.pk, kind="email", direction="outbound", occurred_at=later
    )
    person.refresh_from_db()
    assert person.retain_reason == "registered"
    people.record_interaction(
        actor=system_actor, now=now, person_id=person.pk, kind="email", direction="inbound", occurred_at=later
    )
    person.refresh_from_db()
    assert person.retain_reason == "dialogue"
    assert person.last_contact_at == later
    assert person.retain_until.date() == dt.date(2028, 11, 14)


def test_a_customer_without_a_service_has_a_deadline_and_ending_the_relationship_keeps_one(system_actor, now):
    person = make_person(system_actor, now)
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    person.refresh_from_db()
    # No service, no order: the relationship ends 12 months after it started, then 2 years.
    assert (person.retain_until.date(), person.retain_reason) == (dt.date(2029, 11, 24), "customer_orders")
    ended = now + dt.timedelta(days=365)
    people.end_customer_relationship(actor=system_actor, now=ended, person_id=person.pk, ended_at=ended)
    person.refresh_from_db()
    assert person.retain_reason == "customer_ended"
    assert person.retain_until.date() == dt.date(2029, 11, 24)
    with pytest.raises(ConflictError):
        people.end_customer_relationship(actor=system_actor, now=ended, person_id=person.pk)


def test_the_deadline_explained_in_words(system_actor, now):
    person = make_person(system_actor, now)
    person.refresh_from_db()
    text = selectors.explain(person.retain_reason, person.retain_until)
    assert "2028-11-24" in text
    assert "registration" in text
    assert "customer relationship is active" in selectors.explain("customer", None)


def test_erase_person_leaves_no_trace_but_a_receipt(system_actor, now):
    person = make_person(system_actor, now, position="Head of Ølbrygging")
    people.record_interaction(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        kind="call",
        direction="inbound",
        subject="Call with Testperson Nummer1",
        summary="Testperson Nummer1 wants a demo",
    )
    Subscription.objects.create(person=person, newsletter="monthly", subscribed_at=now)
    keep = make_person(system_actor, now, n=2)
    pseudonym = person.pseudonym

    result = services.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request")

    assert result.erased
    assert not Person.objects.filter(pk=person.pk).exists()
    assert not Interaction.objects.filter(person_id=person.pk).exists()
    assert not Provenance.objects.filter(person_id=person.pk).exists()
    assert (
        selectors.find_identifiers(["Testperson Nummer1", "testperson1@example.com", "+4741234561", "Ølbrygging"]) == []
    )
    assert Person.objects.filter(pk=keep.pk).exists(), "nobody else is touched"
    receipt = ErasureReceipt.objects.get(pseudonym=pseudonym)
    assert receipt.reason == "request"
    assert receipt.counts["people_interaction"] == 1
    assert receipt.counts["consent_subscription"] == 1
    assert receipt.counts["people_person"] == 1
    assert ErasureNotice.objects.filter(
        batch=receipt.batch, people=1, recipient_kind="processor", recipient_key="7sense"
    ).exists()
    assert AuditEntry.objects.filter(action="erase", subject_id=person.pk).exists()
    # A request erasure does not suppress: the person may come back by their own choice.
    assert SuppressionEntry.objects.count() == 0


def test_erasure_after_a_withdrawal_suppresses_the_identifiers(system_actor, now):
    person = make_person(system_actor, now)
    services.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="withdrawal")
    key = settings.TILLIT_IDENTIFIER_KEY
    digests = set(SuppressionEntry.objects.values_list("digest", flat=True))
    assert identifier_digest("email", "testperson1@example.com", key=key) in digests
    assert identifier_digest("phone", "+4741234561", key=key) in digests
    assert selectors.find_identifiers(["testperson1@example.com"]) == []


def test_erasing_an_unknown_or_erased_person_is_a_no_op(system_actor, now):
    person = make_person(system_actor, now)
    assert services.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request").erased
    again = services.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request")
    assert not again.erased
    assert "already erased" in again.message
    assert ErasureReceipt.objects.count() == 1


def test_the_sweep_erases_exactly_the_people_past_their_deadline(system_actor, now):
    old = now - dt.timedelta(days=3 * 365)
    expired = [make_person(system_actor, old, n=n) for n in range(1, 6)]
    fresh = make_person(system_actor, now, n=7)
    customer = make_person(system_actor, old, n=8)
    people.start_customer_relationship(actor=system_actor, now=old, person_id=customer.pk)

    assert selectors.sweep_preview(now=now) == {"registered": 5}
    assert Person.objects.count() == 7, "the preview writes nothing"

    summary = services.sweep(actor=system_actor, now=now, batch_size=2)
    assert (summary.erased, summary.batches) == (5, 3)
    assert set(Person.objects.values_list("pk", flat=True)) == {fresh.pk, customer.pk}
    assert ErasureReceipt.objects.filter(reason="sweep").count() == 5
    # One notice to the processor per batch, naming how many people it covers (art. 28(3)(g)).
    assert sorted(ErasureNotice.objects.values_list("people", flat=True)) == [1, 2, 2]
    assert not Person.objects.filter(retain_until__lte=now).exists()
    assert selectors.find_identifiers([f"testperson{p and n}@example.com" for n, p in enumerate(expired, 1)]) == []


def test_a_person_reaches_the_deadline_by_travelling_in_time(system_actor):
    with time_machine.travel(dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC), tick=False) as traveller:
        from django.utils import timezone

        person = make_person(system_actor, timezone.now())
        traveller.move_to(dt.datetime(2026, 2, 28, 8, tzinfo=dt.UTC))
        assert services.sweep(actor=system_actor, now=timezone.now()).erased == 0
        traveller.move_to(dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC))
        assert services.sweep(actor=system_actor, now=timezone.now()).erased == 1
    assert not Person.objects.filter(pk=person.pk).exists()


def test_a_second_sweep_waits_its_turn(system_actor, now):
    with services.exclusive("sweep"), pytest.raises(ConflictError, match="another sweep is running"):
        services.sweep(actor=system_actor, now=now)


def test_recompute_all_agrees_with_the_per_person_rule(system_actor, now):
    a = make_person(system_actor, now - dt.timedelta(days=100), n=1)
    b = make_person(system_actor, now - dt.timedelta(days=200), n=2)
    c = make_person(system_actor, now - dt.timedelta(days=300), n=3)
    capture.start_service(actor=system_actor, now=now, person_id=b.pk, product="Support")
    people.start_customer_relationship(actor=system_actor, now=now, person_id=c.pk)
    per_person = {p.pk: (p.retain_until, p.retain_reason) for p in Person.objects.all()}
    Person.objects.update(retain_until=None, retain_reason="")
    assert services.recompute_all(chunk=1) == 3
    a.refresh_from_db()
    b.refresh_from_db()
    c.refresh_from_db()
    assert a.retain_reason == "registered"
    assert a.retain_until.date() == (now - dt.timedelta(days=100)).date().replace(year=2028)
    assert (b.retain_until, b.retain_reason) == (None, "customer")
    assert (c.retain_until.date(), c.retain_reason) == (dt.date(2029, 11, 24), "customer_orders")
    assert {p.pk: (p.retain_until, p.retain_reason) for p in Person.objects.all()} == per_person


def test_forecast_counts_deadlines_per_month_and_reason(system_actor, now):
    make_person(system_actor, now - dt.timedelta(days=700), n=1)  # deadline in about a month
    make_person(system_actor, now - dt.timedelta(days=3 * 365), n=2)  # overdue
    forecast = selectors.forecast(now=now)
    assert len(forecast.months) == 24
    assert forecast.months[0] == dt.date(2026, 11, 1)
    assert forecast.overdue == 1
    assert sum(forecast.counts["registered"]) == 1
    assert forecast.counts["registered"][0] + forecast.counts["registered"][1] == 1

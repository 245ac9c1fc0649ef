"""Merging two records of the same person: everything about the duplicate moves to the kept
person (timeline, consents, subscriptions, interests, customer relationships, provenance,
form submissions, orders); the duplicate is removed without an erasure receipt; audited."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.audit.models import AuditEntry
from tillit.capture import services as capture
from tillit.capture.models import FormSubmission, OrderLine
from tillit.consent import services as consent
from tillit.consent.models import ConsentEvent, Subscription
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.people import services as people
from tillit.people.models import CustomerRelationship, Interaction, Person, ProductInterest, Provenance
from tillit.retention.models import ErasureReceipt

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(system_actor, now, make_form):
    earlier = now - dt.timedelta(days=100)
    keep = people.create_person(
        actor=system_actor,
        now=now,
        source="correspondence",
        values={"name": "Testa Testesen", "email": "testa@example.com"},
    )
    duplicate = people.create_person(
        actor=system_actor,
        now=earlier,
        source="form",
        values={"name": "T. Testesen", "email": "t.testesen@example.com", "phone": "41234567", "position": "CFO"},
    )
    people.record_interaction(actor=system_actor, now=earlier, person_id=duplicate.pk, kind="call", direction="inbound")
    people.record_interaction(actor=system_actor, now=now, person_id=keep.pk, kind="note", direction="internal")
    consent.record_consent(
        actor=system_actor,
        now=earlier,
        person_id=duplicate.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter.",
        language="en",
        evidence_ip="203.0.113.9",
    )
    Subscription.objects.create(person=duplicate, newsletter="monthly", subscribed_at=earlier)
    Subscription.objects.create(person=keep, newsletter="monthly", subscribed_at=now)
    people.record_product_interests(actor=system_actor, now=now, person_id=keep.pk, products=["Boats"])
    people.record_product_interests(actor=system_actor, now=now, person_id=duplicate.pk, products=["Boats", "Engines"])
    people.start_customer_relationship(actor=system_actor, now=earlier, person_id=duplicate.pk)
    people.start_customer_relationship(actor=system_actor, now=now, person_id=keep.pk)
    capture.record_order(
        actor=system_actor,
        now=earlier,
        person_id=duplicate.pk,
        number="M-1",
        currency="NOK",
        lines=[{"product": "Engines", "quantity": 1, "unit_price": "10"}],
    )
    form = make_form(consents=[])
    capture.submit_form(
        actor=system_actor,
        now=earlier,
        public_id=form.public_id,
        data={"name": "T. Testesen", "email": "t.testesen@example.com"},
    )
    return keep, duplicate


def test_merge_moves_everything_to_the_kept_person(pair, staff_actor, now):
    keep, duplicate = pair
    ledger_before = list(
        ConsentEvent.objects.filter(person=duplicate).values(
            "purpose", "channel", "action", "wording", "occurred_at", "evidence_ip", "notice_version"
        )
    )
    result = people.merge_people(
        actor=staff_actor("privacy_officer"), now=now, keep_id=keep.pk, duplicate_id=duplicate.pk
    )

    assert not Person.objects.filter(pk=duplicate.pk).exists()
    keep.refresh_from_db()
    assert (keep.email, keep.name) == ("testa@example.com", "Testa Testesen"), "the kept values stay"
    assert (keep.phone, keep.position) == ("+4741234567", "CFO"), "empty fields are filled in"
    assert set(result.filled) == {"phone", "position"}
    assert Interaction.objects.filter(person=keep).count() == 4  # call, note, order, form
    assert FormSubmission.objects.get().person_id == keep.pk
    assert OrderLine.objects.get().person_id == keep.pk
    ledger_after = list(
        ConsentEvent.objects.filter(person=keep).values(
            "purpose", "channel", "action", "wording", "occurred_at", "evidence_ip", "notice_version"
        )
    )
    assert ledger_after == ledger_before, "the ledger is copied exactly (append-only: no row is updated)"
    assert Subscription.objects.filter(person=keep).count() == 1, "the same newsletter once: the kept row wins"
    assert sorted(ProductInterest.objects.filter(person=keep).values_list("product", flat=True)) == ["Boats", "Engines"]
    relationships = CustomerRelationship.objects.filter(person=keep, ended_at__isnull=True)
    assert relationships.count() == 1
    assert relationships.get().started_at == now - dt.timedelta(days=100), "the earliest active relationship"
    assert Provenance.objects.filter(person=keep, source="form").exists(), "provenance travels with the data"
    assert keep.created_at == now - dt.timedelta(days=100)
    assert keep.last_contact_at is not None
    # A customer with no active service has a deadline (§9), but a subscriber has none.
    assert (keep.retain_until, keep.retain_reason) == (None, "subscribed")
    assert not ErasureReceipt.objects.exists(), "a merge is not an erasure"
    assert AuditEntry.objects.filter(action="merge", subject_type="person", subject_id=keep.pk).exists()
    merged = AuditEntry.objects.get(action="merged_into", subject_id=duplicate.pk)
    assert merged.fields == [f"person:{keep.pk}"]


def test_the_email_of_the_duplicate_fills_an_empty_one(system_actor, now):
    keep = people.create_person(actor=system_actor, now=now, source="correspondence", values={"name": "Testa"})
    other = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Testa", "email": "testa@example.com"}
    )
    people.merge_people(actor=system_actor, now=now, keep_id=keep.pk, duplicate_id=other.pk)
    keep.refresh_from_db()
    assert keep.email == "testa@example.com"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("privacy_officer", True),
        ("sales", True),
        ("customer_support", True),
        ("marketing", False),
        ("administrator", False),
    ],
)
def test_who_may_merge_follows_from_the_policy(system_actor, staff_actor, now, role, allowed):
    a = people.create_person(actor=system_actor, now=now, source="form", values={"name": "A", "email": "a@example.com"})
    b = people.create_person(actor=system_actor, now=now, source="form", values={"name": "B", "email": "b@example.com"})
    merge = lambda: people.merge_people(actor=staff_actor(role), now=now, keep_id=a.pk, duplicate_id=b.pk)  # noqa: E731
    if allowed:
        merge()
        assert Person.objects.count() == 1
    else:
        with pytest.raises(PermissionDeniedError):
            merge()
        assert Person.objects.count() == 2


def test_merging_with_oneself_or_nobody_is_refused(system_actor, now):
    a = people.create_person(actor=system_actor, now=now, source="form", values={"name": "A", "email": "a@example.com"})
    with pytest.raises(ValidationError):
        people.merge_people(actor=system_actor, now=now, keep_id=a.pk, duplicate_id=a.pk)
    with pytest.raises(NotFoundError):
        people.merge_people(actor=system_actor, now=now, keep_id=a.pk, duplicate_id=424242)
    assert Person.objects.count() == 1


def test_the_merge_pages_show_both_side_by_side_and_merge(staff_client, system_actor, now):
    a = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Testa Testesen", "email": "a@example.com"}
    )
    b = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Testa T.", "email": "b@example.com"}
    )
    client = staff_client("sales")
    person_page = client.get(f"/people/{a.pk}/")
    assert b'data-testid="merge-link"' in person_page.content
    pick = client.post(f"/people/{a.pk}/merge/", {"q": "Testa"})
    assert f"/people/{a.pk}/merge/{b.pk}/".encode() in pick.content
    confirm = client.get(f"/people/{a.pk}/merge/{b.pk}/")
    assert confirm.status_code == 200
    assert b"a@example.com" in confirm.content
    assert b"b@example.com" in confirm.content
    done = client.post(f"/people/{a.pk}/merge/{b.pk}/")
    assert done.status_code == 302
    assert done["Location"] == f"/people/{a.pk}/"
    assert list(Person.objects.values_list("pk", flat=True)) == [a.pk]
    assert b'data-testid="merge-link"' not in staff_client("marketing").get(f"/people/{a.pk}/").content

"""The intake queue never resurrects anyone (DESIGN.md rule 17; issue 24, item 2).

With ``TILLIT_FORM_INTAKE=queued`` a submission waits in the intake until the drain applies it.
Each case below queues a submission, lets something happen to the same person, and drains the
queue after the fact:
- an erasure deletes the queued row in its own transaction (the row carries keyed hashes of
  the email and phone), and a row that still reaches the drain is refused when it is older
  than a later erasure or suppression of the same identifiers;
- a "withdraw everything" covers the purposes that had no ledger entry yet, so a consent
  still queued from before it does not make the person eligible again;
- the sweep sees a queued inbound contact and leaves the person to the drain, which moves
  their deadline, instead of erasing them and letting the queue re-create them."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings

from tillit.audit.models import AuditEntry
from tillit.capture import services
from tillit.capture.models import FormIntake, FormSubmission
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent
from tillit.consent.models import ConsentEvent
from tillit.core.identifiers import identifier_digest
from tillit.people import services as people
from tillit.people.models import Interaction, Person
from tillit.retention import services as retention
from tillit.retention.selectors import find_identifiers

pytestmark = pytest.mark.django_db

VISITOR = services.SUBMITTER
EMAIL, PHONE = "testa.testesen@example.com", "+4741234567"
ANSWERS = {
    "name": "Testa Testesen",
    "email": "Testa.Testesen@Example.com",
    "phone": "412 34 567",
    "message": "Tell me about boats.",
    "consent_newsletter_email": True,
    "consent_direct_marketing_email": True,
}


@pytest.fixture
def queued(settings):
    settings.TILLIT_FORM_INTAKE = "queued"
    services._kick.update(at=time.monotonic(), task_id="")


def queue(form, at: dt.datetime, **answers) -> FormIntake:  # type: ignore[no-untyped-def]
    """The person submits the form at ``at``; the public path queues it (nothing applied)."""
    result = services.receive_submission(actor=VISITOR, now=at, public_id=form.public_id, data=ANSWERS | answers)
    assert result.intake_id is not None
    return FormIntake.objects.get(pk=result.intake_id)


def register(actor, at: dt.datetime) -> Person:  # type: ignore[no-untyped-def]
    return people.create_person(
        actor=actor, now=at, source="form", values={"name": "Testa Testesen", "email": EMAIL, "phone": PHONE}
    )


def eligible(person_id: int) -> bool:
    return consent_selectors.eligibility(person_id=person_id, purpose="newsletter", channel="email").allowed


def test_a_queued_row_carries_keyed_hashes_of_its_identifiers(form, queued, now):
    row = queue(form, now)
    key = settings.TILLIT_IDENTIFIER_KEY
    assert row.email_digest == identifier_digest("email", EMAIL, key=key)
    assert row.phone_digest == identifier_digest("phone", PHONE, key=key)


def test_an_erasure_takes_the_queued_submission_with_it(form, queued, system_actor, now):
    """Case 1: the erased person came back with the queued marketing consent."""
    person = register(system_actor, now - dt.timedelta(days=30))
    queue(form, now)  # T1: the person submits the form, with the newsletter box ticked
    erased = retention.erase_person(
        actor=system_actor, now=now + dt.timedelta(minutes=1), person_id=person.pk, reason="request"
    )  # T2

    assert not FormIntake.objects.exists(), "deleted in the erasure's own transaction"
    assert erased.receipt is not None
    assert erased.receipt.counts[FormIntake._meta.db_table] == 1, "the receipt counts it"
    assert find_identifiers([EMAIL, PHONE, "Testa Testesen"]) == []

    assert services.process_intake(actor=VISITOR, now=now + dt.timedelta(minutes=2)) == 0  # T3
    assert not Person.objects.filter(email=EMAIL).exists(), "the erased person is not re-created"
    assert not ConsentEvent.objects.exists()


def test_the_drain_refuses_a_row_older_than_a_later_erasure(form, queued, system_actor, now):
    """The row the erasure could not see (its INSERT committed just after the erasure's
    DELETE, though it was sent before): the drain discards it unapplied. A submission sent
    after the erasure is a new contact, and is applied."""
    person = register(system_actor, now - dt.timedelta(days=30))
    retention.erase_person(actor=system_actor, now=now + dt.timedelta(minutes=1), person_id=person.pk, reason="staff")
    stale = queue(form, now)  # sent at T1, before the erasure at T2, queued after it
    fresh = queue(form, now + dt.timedelta(minutes=5), consent_newsletter_email=False)

    assert services.process_intake(actor=VISITOR, now=now + dt.timedelta(minutes=6)) == 1

    assert not FormIntake.objects.exists()
    assert list(FormSubmission.objects.values_list("intake_ref", flat=True)) == [fresh.pk]
    assert not ConsentEvent.objects.filter(purpose="newsletter").exists(), "the stale consent is not applied"
    discard = AuditEntry.objects.get(action="discard")
    assert (discard.subject_type, discard.subject_id, discard.fields) == ("form_intake", stale.pk, ["erased_later"])


def test_the_drain_refuses_a_row_older_than_a_later_suppression(form, queued, system_actor, now):
    """An objection (which suppresses the address) after the submission was sent: the queued
    row is a suppressed no-op, even though the person is still here."""
    person = register(system_actor, now - dt.timedelta(days=30))
    queue(form, now)
    consent.object_to_direct_marketing(
        actor=system_actor, now=now + dt.timedelta(minutes=1), person_id=person.pk, source_kind="staff", language="en"
    )
    services.process_intake(actor=VISITOR, now=now + dt.timedelta(minutes=2))
    assert not FormIntake.objects.exists()
    assert not FormSubmission.objects.exists()
    assert not ConsentEvent.objects.filter(action="given").exists()
    assert not eligible(person.pk)


def test_withdrawing_everything_covers_a_consent_still_in_the_queue(form, queued, system_actor, now):
    """Case 2: a customer who withdrew everything at T2 became eligible again from a consent
    they had queued at T1 (the withdrawal only closed purposes already in the ledger)."""
    person = register(system_actor, now - dt.timedelta(days=30))
    people.start_customer_relationship(actor=system_actor, now=now - dt.timedelta(days=30), person_id=person.pk)
    queue(form, now)  # T1
    result = consent.withdraw_consent(
        actor=system_actor, now=now + dt.timedelta(minutes=1), person_id=person.pk, source_kind="page", language="en"
    )  # T2: nothing given in the ledger yet; the customer relationship keeps the person
    assert not result.erased
    assert consent_selectors.consent_state(person_id=person.pk)[("newsletter", "email")] == "withdrawn"

    assert services.process_intake(actor=VISITOR, now=now + dt.timedelta(minutes=2)) == 1  # T3

    assert Interaction.objects.filter(person=person, kind="form").exists(), "the contact itself is on the timeline"
    assert not ConsentEvent.objects.filter(person=person, action="given").exists(), "the older tick is not recorded"
    assert consent_selectors.consent_state(person_id=person.pk)[("newsletter", "email")] == "withdrawn"
    assert not eligible(person.pk)
    assert not consent_selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="email").allowed


def test_the_sweep_leaves_a_person_with_a_queued_contact_to_the_drain(form, queued, system_actor, now):
    """Case 3: the sweep could not see the queued inbound contact, erased the person, and the
    queue then re-created them (a new person, with the consent)."""
    person = register(system_actor, now - dt.timedelta(days=3 * 365))
    person.refresh_from_db()
    assert person.retain_until < now, "past the deadline, by what the database knows"
    queue(form, now)  # T1: the person gets in touch

    summary = retention.sweep(actor=system_actor, now=now + dt.timedelta(minutes=1))  # T2
    assert summary.erased == 0
    assert Person.objects.filter(pk=person.pk).exists()

    assert services.process_intake(actor=VISITOR, now=now + dt.timedelta(minutes=2)) == 1  # T3
    assert list(Person.objects.filter(email=EMAIL).values_list("pk", flat=True)) == [person.pk], "the same person"
    person.refresh_from_db()
    assert (person.retain_reason, person.last_contact_at) == ("dialogue", now)
    assert person.retain_until > now + dt.timedelta(days=700)
    assert retention.sweep(actor=system_actor, now=now + dt.timedelta(minutes=3)).erased == 0


def test_the_completeness_check_searches_the_queue_by_keyed_hash(form, queued, now):
    """Even a queued row whose answers hold no plain identifier is found by its hashes."""
    row = queue(form, now)
    FormIntake.objects.filter(pk=row.pk).update(answers={})
    hits = find_identifiers([EMAIL])
    assert {"table": FormIntake._meta.db_table, "column": "email_digest", "rows": 1} in hits
    assert find_identifiers(["+47 412 34 567"]) == [
        {"table": FormIntake._meta.db_table, "column": "phone_digest", "rows": 1}
    ]


def test_a_rejected_row_keeps_no_hash(form, queued, now):
    row = queue(form, now)
    services._reject(actor=VISITOR, now=now, row=row, error=services.ValidationError("broken", field="form"))
    row.refresh_from_db()
    assert (row.status, row.email_digest, row.phone_digest) == ("rejected", "", "")


@pytest.mark.django_db(transaction=True)
def test_an_erasure_while_a_drain_holds_the_row_neither_waits_nor_lets_it_through(form, queued, system_actor, now):
    """PostgreSQL: a drain has taken the queued row (FOR UPDATE) and will next want the person;
    the erasure holds the person. The erasure skips the held row instead of waiting for it (a
    wait would deadlock), and the drain, once it goes on, refuses the row as older than the
    erasure."""
    import threading

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite has one writer at a time")
    person = register(system_actor, now - dt.timedelta(days=30))
    row = queue(form, now)
    errors: list[BaseException] = []

    def erase() -> None:
        try:
            retention.erase_person(
                actor=system_actor, now=now + dt.timedelta(minutes=1), person_id=person.pk, reason="request"
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    with transaction.atomic():
        list(FormIntake.objects.select_for_update().filter(pk=row.pk))  # what the drain's first statement does
        worker = threading.Thread(target=erase)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the erasure waited for the row the drain holds"
    assert errors == []
    assert not Person.objects.filter(pk=person.pk).exists()
    assert FormIntake.objects.filter(pk=row.pk).exists(), "skipped, not waited for"

    assert services.process_intake(actor=VISITOR, now=now + dt.timedelta(minutes=2)) == 0
    assert not FormIntake.objects.exists()
    assert not Person.objects.filter(email=EMAIL).exists(), "the queue did not bring the person back"
    assert AuditEntry.objects.filter(action="discard", subject_id=row.pk, fields=["erased_later"]).exists()

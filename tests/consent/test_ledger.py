"""The consent ledger: append-only, every consent points at its wording and notice version, the
state is derived from it; withdrawal erases or says what is kept; an objection suppresses."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, transaction

from tillit.consent import selectors, services
from tillit.consent.models import ConsentEvent, Subscription, SuppressionEntry
from tillit.core.errors import PermissionDeniedError, ValidationError
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention.models import ErasureReceipt
from tillit.retention.selectors import find_identifiers

pytestmark = pytest.mark.django_db

WORDING = "Yes, send me Avara's monthly newsletter. I can unsubscribe at any time."


@pytest.fixture
def person(system_actor, now):
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Testesen", "email": "kari.testesen@example.com", "phone": "41234567"},
    )


def give(actor, now, person, purpose="newsletter", channel="email", **kw):
    return services.record_consent(
        actor=actor,
        now=now,
        person_id=person.pk,
        purpose=purpose,
        channel=channel,
        source_kind="form",
        source_ref="form:42",
        wording=WORDING,
        language="en",
        evidence_ip="192.0.2.123",
        evidence_user_agent="Firefox/130",
        **kw,
    )


def test_a_consent_records_who_when_what_and_how(system_actor, now, person):
    event = give(system_actor, now, person)
    assert event.wording == WORDING
    assert event.notice_version_id == selectors.current_notice().pk
    assert event.evidence_ip == "192.0.2.0", "the IP address is truncated"
    assert event.basis == "consent"
    assert selectors.consent_state(person_id=person.pk) == {("newsletter", "email"): "given"}


def test_the_ledger_refuses_updates(system_actor, now, person):
    event = give(system_actor, now, person)
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(wording="Something else")
    assert ConsentEvent.objects.get(pk=event.pk).wording == WORDING


@pytest.mark.parametrize(
    ("purpose", "channel", "field"),
    [
        ("gossip", "email", "purpose"),
        ("newsletter", "fax", "channel"),
        ("newsletter", "phone", "channel"),
        ("sales_dialogue", "email", "purpose"),
    ],
)
def test_unknown_or_wrong_purpose_and_channel_are_named(system_actor, now, person, purpose, channel, field):
    with pytest.raises(ValidationError) as caught:
        give(system_actor, now, person, purpose=purpose, channel=channel)
    assert caught.value.field == field
    assert not ConsentEvent.objects.exists()


def test_no_consent_without_the_wording(system_actor, now, person):
    with pytest.raises(ValidationError) as caught:
        services.record_consent(
            actor=system_actor,
            now=now,
            person_id=person.pk,
            purpose="newsletter",
            channel="email",
            source_kind="form",
            wording="  ",
            language="en",
        )
    assert caught.value.field == "wording"


def test_a_role_that_does_not_work_with_consents_cannot_record_them(staff_actor, now, person):
    with pytest.raises(PermissionDeniedError):
        give(staff_actor("sales"), now, person)


def test_withdrawal_without_another_ground_erases_the_person(system_actor, now, person):
    give(system_actor, now, person)
    Subscription.objects.create(person=person, newsletter="monthly", subscribed_at=now)
    later = now + dt.timedelta(days=1)
    result = services.withdraw_consent(
        actor=system_actor, now=later, person_id=person.pk, source_kind="email_link", language="en"
    )
    assert result.erased
    assert result.withdrawn == [("newsletter", "email")]
    assert not Person.objects.filter(pk=person.pk).exists()
    assert ErasureReceipt.objects.get(pk=result.receipt_id).reason == "withdrawal"
    assert find_identifiers(["kari.testesen@example.com", "Kari Testesen", "+4741234567"]) == []
    assert selectors.is_suppressed(email="kari.testesen@example.com")


def test_withdrawal_keeps_a_customer_and_says_why(system_actor, now, person):
    give(system_actor, now, person)
    give(system_actor, now, person, purpose="direct_marketing")
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    result = services.withdraw_consent(
        actor=system_actor, now=now, person_id=person.pk, source_kind="email_link", language="en", purpose="newsletter"
    )
    assert not result.erased
    assert result.kept_because == ["customer", "consent:direct_marketing"]
    assert selectors.eligibility(person_id=person.pk, purpose="newsletter", channel="email").allowed is False
    assert selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="email").allowed is True


def test_a_second_withdrawal_is_a_no_op(system_actor, now, person):
    give(system_actor, now, person)
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    first = services.withdraw_consent(
        actor=system_actor, now=now, person_id=person.pk, source_kind="page", language="en"
    )
    after_first = ConsentEvent.objects.filter(action="withdrawn").count()
    second = services.withdraw_consent(
        actor=system_actor, now=now, person_id=person.pk, source_kind="page", language="en"
    )
    assert first.changed
    assert not second.changed
    assert ConsentEvent.objects.filter(action="withdrawn", purpose="newsletter").count() == 1
    assert ConsentEvent.objects.filter(action="withdrawn").count() == after_first, "the second wrote nothing"


def test_an_objection_stops_every_marketing_channel_and_suppresses(system_actor, now, person):
    give(system_actor, now, person, purpose="direct_marketing")
    assert services.object_to_direct_marketing(
        actor=system_actor, now=now, person_id=person.pk, source_kind="staff", language="en"
    )
    for purpose, channel in (
        ("direct_marketing", "email"),
        ("direct_marketing", "phone"),
        ("personalisation", "web"),
        ("newsletter", "email"),
    ):
        assert not selectors.eligibility(person_id=person.pk, purpose=purpose, channel=channel).allowed
    assert SuppressionEntry.objects.filter(reason="objection").count() == 2
    assert not SuppressionEntry.objects.filter(digest__icontains="kari").exists()
    assert not services.object_to_direct_marketing(
        actor=system_actor, now=now, person_id=person.pk, source_kind="staff", language="en"
    ), "a second one is a no-op"


def test_gpc_objects_to_profiling_and_partner_sharing_once(system_actor, now, person):
    assert services.record_gpc_objection(actor=system_actor, now=now, person_id=person.pk, language="en") == 2
    assert services.record_gpc_objection(actor=system_actor, now=now, person_id=person.pk, language="en") == 0
    state = selectors.consent_state(person_id=person.pk)
    assert state[("personalisation", "web")] == "objected"
    assert state[("partner_sharing", "all")] == "objected"
    assert ConsentEvent.objects.filter(source_kind="gpc").count() == 2


def test_a_purpose_the_person_was_not_told_about_cannot_be_used(system_actor, staff_actor, now, person):
    from tillit.consent.models import NoticeVersion
    from tillit.core.errors import NotFoundError
    from tillit.people import selectors as people_selectors

    old = NoticeVersion.objects.create(
        digest="1" * 64,
        policy_digest="x",
        published_at=now - dt.timedelta(days=900),
        purposes=["newsletter", "customer_care"],
        texts={},
    )
    Person.objects.filter(pk=person.pk).update(notice_version=old)
    with pytest.raises(NotFoundError, match="no such person"):
        people_selectors.get_person(actor=staff_actor("sales"), now=now, person_id=person.pk, purpose="sales_dialogue")
    assert not selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="phone").allowed
    assert people_selectors.search_people(actor=staff_actor("sales"), now=now, query="Kari").items == []

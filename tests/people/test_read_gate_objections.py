"""Issue 15, item 3: a purpose stopped by the person's objection cannot be read for, the same
way as a purpose they were never told about; and (item 4) every refusal reads like a missing
record, so it reveals nothing about the person."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.audit.models import AuditEntry
from tillit.consent import services as consent
from tillit.consent.models import NoticeVersion
from tillit.core.errors import NotFoundError
from tillit.people import selectors, services
from tillit.people.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(system_actor, now):
    return services.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Objectsen", "email": "kari.objectsen@example.com", "phone": "41234567"},
    )


def object_to_marketing(actor, now, person):
    assert consent.object_to_direct_marketing(
        actor=actor, now=now, person_id=person.pk, source_kind="staff", language="en"
    )


# (role, purpose): every marketing purpose of the policy, read by a role that may use it.
MARKETING_READS = [
    ("marketing", "direct_marketing"),
    ("sales", "direct_marketing"),
    ("marketing", "newsletter"),
    ("marketing", "personalisation"),
]


@pytest.mark.parametrize(("role", "purpose"), MARKETING_READS)
def test_an_objection_to_direct_marketing_stops_reading_for_every_marketing_purpose(
    role, purpose, system_actor, staff_actor, now, person
):
    actor = staff_actor(role)
    assert selectors.get_person(actor=actor, now=now, person_id=person.pk, purpose=purpose)["id"] == person.pk
    object_to_marketing(system_actor, now, person)
    later = now + dt.timedelta(minutes=1)
    with pytest.raises(NotFoundError) as refused:
        selectors.get_person(actor=actor, now=later, person_id=person.pk, purpose=purpose)
    assert refused.value.message == selectors.NOT_FOUND_MESSAGE
    assert selectors.search_people(actor=actor, now=later, purpose=purpose, query="Objectsen").items == []
    among = selectors.people_among(actor=actor, now=later, purpose=purpose, among=Person.objects.all())
    assert among.items == []
    assert selectors.person_timeline(actor=actor, now=later, person_id=person.pk, purpose=purpose) == []
    assert selectors.person_choices(actor=actor, now=later, person_id=person.pk, purpose=purpose) == {}
    assert selectors.people_by_ids(actor=actor, now=later, purpose=purpose, person_ids=[person.pk]) == {}
    assert purpose not in selectors.readable_purposes(actor=actor, person_id=person.pk)
    assert not AuditEntry.objects.filter(subject_id=person.pk, at=later).exists(), "nothing was read"


@pytest.mark.parametrize(
    ("role", "purpose"),
    [("sales", "sales_dialogue"), ("customer_support", "customer_care"), ("marketing", "statistics")],
)
def test_purposes_an_objection_to_direct_marketing_does_not_stop_stay_readable(
    role, purpose, system_actor, staff_actor, now, person
):
    object_to_marketing(system_actor, now, person)
    seen = selectors.get_person(actor=staff_actor(role), now=now, person_id=person.pk, purpose=purpose)
    assert seen["id"] == person.pk
    assert seen["marketing_blocked"]["since"] == now
    assert seen["marketing_blocked"]["reason"] == "objected"
    assert "marketing to them is blocked" in seen["marketing_blocked"]["message"], "everyone is told not to market"


def test_an_objection_to_one_purpose_stops_reading_for_that_purpose_only(system_actor, staff_actor, now, person):
    sales = staff_actor("sales")
    assert consent.object_to_purpose(
        actor=system_actor, now=now, person_id=person.pk, purpose="sales_dialogue", source_kind="staff", language="en"
    )
    with pytest.raises(NotFoundError):
        selectors.get_person(actor=sales, now=now, person_id=person.pk, purpose="sales_dialogue")
    assert selectors.get_person(actor=sales, now=now, person_id=person.pk, purpose="direct_marketing")["id"]
    assert selectors.readable_purposes(actor=sales, person_id=person.pk) == ["direct_marketing", "customer_care"]


def test_global_privacy_control_stops_reading_for_personalisation(system_actor, staff_actor, now, person):
    marketing = staff_actor("marketing")
    consent.record_gpc_objection(actor=system_actor, now=now, person_id=person.pk, language="en")
    with pytest.raises(NotFoundError):
        selectors.get_person(actor=marketing, now=now, person_id=person.pk, purpose="personalisation")
    assert selectors.get_person(actor=marketing, now=now, person_id=person.pk, purpose="direct_marketing")["id"]


def test_the_rights_desk_still_reaches_a_person_who_objected(system_actor, staff_actor, now, person):
    object_to_marketing(system_actor, now, person)
    seen = selectors.get_person(actor=staff_actor("privacy_officer"), now=now, person_id=person.pk)
    assert seen["name"] == "Kari Objectsen", "answering their requests is a legal obligation (§13)"


def test_missing_not_informed_and_objected_read_the_same(system_actor, staff_actor, now, person):
    """The decision (docs/architecture.md): a refusal says exactly what a missing record says."""
    marketing = staff_actor("marketing")
    told_less = services.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Ola Uninformed", "email": "ola.u@example.com"}
    )
    old = NoticeVersion.objects.create(
        digest="2" * 64, policy_digest="x", published_at=now - dt.timedelta(days=900), purposes=["customer_care"]
    )
    Person.objects.filter(pk=told_less.pk).update(notice_version=old)
    object_to_marketing(system_actor, now, person)
    answers = []
    for person_id in (person.pk, told_less.pk, 424242):
        with pytest.raises(NotFoundError) as refused:
            selectors.get_person(actor=marketing, now=now, person_id=person_id, purpose="direct_marketing")
        answers.append((type(refused.value), refused.value.code, refused.value.message, refused.value.field))
    assert answers[0] == answers[1] == answers[2]


def test_a_person_who_was_never_objected_shows_no_block(staff_actor, now, person):
    seen = selectors.get_person(actor=staff_actor("marketing"), now=now, person_id=person.pk)
    assert seen["marketing_blocked"] is None

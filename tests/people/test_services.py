"""Writing people and organisations: normalised, provenance per field, audited, and a bad
value never leaves a half-written record."""

from __future__ import annotations

import pytest

from tillit.audit.models import AuditEntry
from tillit.core.errors import ConflictError, PermissionDeniedError, ValidationError
from tillit.people import services
from tillit.people.models import Organization, Person, Provenance

pytestmark = pytest.mark.django_db


def test_a_person_is_stored_normalised_with_provenance_and_audit(staff_actor, now):
    actor = staff_actor("sales")
    person = services.create_person(
        actor=actor,
        now=now,
        source="form",
        values={"name": " Kari Nordmann ", "email": "Kari.Nordmann@Example.com", "phone": "412 34 567"},
    )
    person.refresh_from_db()
    assert (person.name, person.email, person.phone) == ("Kari Nordmann", "kari.nordmann@example.com", "+4741234567")
    sources = {(p.field, p.source) for p in Provenance.objects.filter(person=person)}
    assert {("name", "form"), ("email", "form"), ("phone", "form")} <= sources
    entry = AuditEntry.objects.get(subject_type="person", subject_id=person.pk, action="create")
    assert entry.actor_user_id == actor.user_id
    assert "email" in entry.fields
    assert "kari" not in str(entry.fields).lower(), "the audit log holds field names, never values"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "Ola", "email": "not-an-email"}, "email"),
        ({"name": "Ola", "phone": "12"}, "phone"),
        ({"name": ""}, "name"),
        ({"name": "Ola", "shoe_size": 44}, "shoe_size"),
        ({"name": "Ola", "language": "de"}, "language"),
        ({"name": "Ola", "organization_id": 999999}, "organization_id"),
        ({"email": "ola@example.com"}, "name"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(staff_actor, now, values, field):
    actor = staff_actor("sales")
    with pytest.raises(ValidationError) as caught:
        services.create_person(actor=actor, now=now, source="form", values=values)
    assert caught.value.field == field
    assert Person.objects.count() == 0
    assert Provenance.objects.count() == 0
    assert not AuditEntry.objects.filter(subject_type="person").exists()


def test_a_second_person_with_the_same_email_is_a_conflict(staff_actor, now):
    actor = staff_actor("sales")
    services.create_person(actor=actor, now=now, source="form", values={"name": "A", "email": "a@example.com"})
    with pytest.raises(ConflictError) as caught:
        services.create_person(actor=actor, now=now, source="form", values={"name": "B", "email": "A@example.com"})
    assert caught.value.field == "email"
    assert Person.objects.count() == 1


def test_rectification_changes_only_given_fields_and_records_them(staff_actor, now):
    actor = staff_actor("customer_support")
    person = services.create_person(
        actor=actor, now=now, source="form", values={"name": "Ola", "email": "ola@example.com", "position": "CTO"}
    )
    services.update_person(
        actor=actor, now=now, person_id=person.pk, source="customer_service", changes={"position": "CEO", "name": "Ola"}
    )
    person.refresh_from_db()
    assert person.position == "CEO"
    assert Provenance.objects.filter(person=person, field="position", source="customer_service").count() == 1
    assert not Provenance.objects.filter(person=person, field="name", source="customer_service").exists()
    update = AuditEntry.objects.get(subject_id=person.pk, action="update")
    assert update.fields == ["position"]


def test_a_failed_rectification_keeps_what_was_stored(staff_actor, now):
    actor = staff_actor("sales")
    person = services.create_person(actor=actor, now=now, source="form", values={"name": "Ola", "phone": "41234567"})
    with pytest.raises(ValidationError):
        services.update_person(
            actor=actor, now=now, person_id=person.pk, source="form", changes={"name": "Changed", "email": "broken@"}
        )
    person.refresh_from_db()
    assert (person.name, person.phone) == ("Ola", "+4741234567")


def test_a_role_may_not_write_a_field_it_may_not_see(staff_actor, now):
    marketer = staff_actor("marketing")
    with pytest.raises(PermissionDeniedError):
        services.create_person(actor=marketer, now=now, source="form", values={"name": "Ola"}, purpose="statistics")
    administrator = staff_actor("administrator")
    with pytest.raises(PermissionDeniedError):
        services.create_person(actor=administrator, now=now, source="form", values={"name": "Ola"})
    assert Person.objects.count() == 0


def test_an_unknown_source_is_refused(staff_actor, now):
    with pytest.raises(ValidationError) as caught:
        services.create_person(actor=staff_actor("sales"), now=now, source="bought_list", values={"name": "Ola"})
    assert caught.value.field == "source"


def test_organisations_check_the_organisation_number(staff_actor, now):
    actor = staff_actor("sales")
    org = services.create_organization(
        actor=actor,
        now=now,
        source="public_register",
        values={
            "name": "Avara AS",
            "org_number": "923 130 969",
            "industry_code": "62.010",
            "industry_code_version": "SN2007",
            "city": "Sandefjord",
        },
    )
    assert org.org_number == "923130969"
    with pytest.raises(ValidationError) as caught:
        services.create_organization(
            actor=actor, now=now, source="form", values={"name": "X", "org_number": "923130968"}
        )
    assert caught.value.field == "org_number"
    with pytest.raises(ConflictError):
        services.create_organization(
            actor=actor, now=now, source="form", values={"name": "Y", "org_number": "923130969"}
        )
    assert Organization.objects.count() == 1
    assert Provenance.objects.filter(organization=org, field="org_number", source="public_register").exists()

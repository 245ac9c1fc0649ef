"""The read gate returns only the fields a role may see for a purpose, audits every read, and
answers a record the role may not see exactly like a missing one."""

from __future__ import annotations

import pytest

from tillit.audit.models import AuditEntry
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.people import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(system_actor, now):
    org = services.create_organization(
        actor=system_actor,
        now=now,
        source="public_register",
        values={"name": "Fjordkraft Demo AS", "org_number": "923130969", "street": "Storgata 1", "city": "Oslo"},
    )
    return services.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={
            "name": "Kari Nordmann",
            "email": "kari@example.com",
            "phone": "41234567",
            "position": "CFO",
            "organization_id": org.pk,
        },
    )


def test_sales_sees_the_dialogue_fields(staff_actor, now, person):
    seen = selectors.get_person(actor=staff_actor("sales"), now=now, person_id=person.pk, purpose="sales_dialogue")
    assert seen["email"] == "kari@example.com"
    assert seen["organization"]["street"] == "Storgata 1"


def test_marketing_does_not_see_the_business_address(staff_actor, now, person):
    seen = selectors.get_person(actor=staff_actor("marketing"), now=now, person_id=person.pk)
    assert seen["purpose"] == "direct_marketing"
    assert seen["name"] == "Kari Nordmann"
    assert "street" not in seen["organization"]
    assert "city" not in seen["organization"]


def test_marketing_for_statistics_sees_no_name(staff_actor, now, person):
    seen = selectors.get_person(actor=staff_actor("marketing"), now=now, person_id=person.pk, purpose="statistics")
    assert "name" not in seen
    assert "email" not in seen
    assert seen["id"] == person.pk


def test_every_read_is_audited_with_purpose_and_field_names(staff_actor, now, person):
    actor = staff_actor("customer_support")
    selectors.get_person(actor=actor, now=now, person_id=person.pk, purpose="customer_care")
    entry = AuditEntry.objects.get(action="read", subject_id=person.pk)
    assert entry.purpose == "customer_care"
    assert entry.actor_role == "customer_support"
    assert "email" in entry.fields


def test_the_administrator_reads_no_personal_data(staff_actor, now, person):
    with pytest.raises(PermissionDeniedError):
        selectors.get_person(actor=staff_actor("administrator"), now=now, person_id=person.pk)


def test_a_purpose_outside_the_role_is_refused(staff_actor, now, person):
    with pytest.raises(PermissionDeniedError):
        selectors.get_person(actor=staff_actor("marketing"), now=now, person_id=person.pk, purpose="customer_care")
    with pytest.raises(ValidationError):
        selectors.get_person(actor=staff_actor("marketing"), now=now, person_id=person.pk, purpose="gossip")


def test_a_missing_person_is_not_found(staff_actor, now):
    with pytest.raises(NotFoundError):
        selectors.get_person(actor=staff_actor("sales"), now=now, person_id=424242)


def test_search_matches_only_fields_the_role_may_see(staff_actor, now, person):
    sales = staff_actor("sales")
    assert [p["id"] for p in selectors.search_people(actor=sales, now=now, query="kari@").items] == [person.pk]
    assert [p["id"] for p in selectors.search_people(actor=sales, now=now, query="4123 4567").items] == [person.pk]
    assert [p["id"] for p in selectors.search_people(actor=sales, now=now, query="fjordkraft").items] == [person.pk]
    assert [p["id"] for p in selectors.search_people(actor=sales, now=now, query="923 130 969").items] == [person.pk]
    marketer = staff_actor("marketing")
    assert selectors.search_people(actor=marketer, now=now, query="kari", purpose="statistics").items == []


def test_search_pages_through_results(staff_actor, system_actor, now):
    for n in range(7):
        services.create_person(actor=system_actor, now=now, source="form", values={"name": f"Person {n}"})
    sales = staff_actor("sales")
    first = selectors.search_people(actor=sales, now=now, query="person", page=1, page_size=5)
    second = selectors.search_people(actor=sales, now=now, query="person", page=2, page_size=5)
    assert (len(first.items), first.has_next, len(second.items), second.has_next) == (5, True, 2, False)
    assert not {p["id"] for p in first.items} & {p["id"] for p in second.items}
    with pytest.raises(ValidationError):
        selectors.search_people(actor=sales, now=now, page=0)

"""``disclose`` is the only path out (policy §11): only people in an open dialogue, only the
categories the policy allows, never anyone who objected or is suppressed; each disclosure is
written to an append-only ledger that survives the person's erasure without personal data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.db import DatabaseError, connection, transaction

from tillit.audit.models import AuditEntry
from tillit.consent import services as consent
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.people import services as people
from tillit.retention import selectors as retention_selectors
from tillit.retention import services as retention
from tillit.sharing import selectors, services
from tillit.sharing.models import DisclosedPerson, Disclosure
from tillit.sharing.payloads import neutralise

from .conftest import NOW, make_people

pytestmark = pytest.mark.django_db
BASIC = ["name", "email", "phone", "organisation"]


def test_a_disclosure_as_json_carries_only_the_allowed_fields_and_is_in_the_ledger(sales, dialogue, crowd):
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")

    document = json.loads(result.content)
    assert result.content_type == "application/json"
    assert document["type"] == "disclosure"
    assert document["basis"] == "open_dialogue"
    assert document["purpose"] == "sales_dialogue"
    assert len(document["people"]) == 3
    first = next(p for p in document["people"] if p["reference"] == str(crowd[0].pseudonym))
    assert first["name"] == "Partnerperson Nummer0"
    assert first["email"] == "partnerperson0@example.com"
    assert first["phone"] == "+4741234500"
    assert first["organisation"]["name"] == "Partnerperson Bedrift AS"
    assert "position" not in first, "position is not a category partners may receive"

    disclosure = result.disclosure
    assert disclosure.categories == BASIC
    assert disclosure.people == 3
    assert disclosure.actor_role == "sales"
    assert disclosure.staff_user_id == sales.user_id
    assert DisclosedPerson.objects.filter(disclosure=disclosure).count() == 3
    assert AuditEntry.objects.filter(action="disclose", subject_type="person").count() == 3


def test_who_received_my_data(sales, dialogue, crowd):
    services.disclose(
        actor=sales,
        now=NOW,
        dialogue_id=dialogue.pk,
        categories=["name", "email"],
        channel="csv",
        person_ids=[crowd[1].pk],
    )
    rows = selectors.disclosures_for_person(person_id=crowd[1].pk)
    assert len(rows) == 1
    row = rows[0]
    assert row["partner"]["name"] == "Fiberpartner AS"
    assert row["fields"] == ["name", "email"]
    assert row["basis"] == "open_dialogue"
    assert row["disclosed_at"] == NOW
    assert row["staff"] == sales.label
    assert selectors.disclosures_for_person(pseudonym=crowd[1].pseudonym) == rows
    assert selectors.disclosures_for_person(person_id=crowd[0].pk) == []


def test_a_csv_export_neutralises_formulas(sales, dialogue, crowd, system_actor):
    people.update_person(
        actor=system_actor,
        now=NOW - dt.timedelta(days=1),
        person_id=crowd[0].pk,
        source="customer_service",
        changes={"name": '=HYPERLINK("http://evil.example.com","x")'},
    )
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="csv")

    assert result.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))
    assert {r["name"] for r in rows} >= {'\'=HYPERLINK("http://evil.example.com","x")', "Partnerperson Nummer1"}
    assert {r["phone"] for r in rows} >= {"+4741234501"}, "a phone number in E.164 stays a number"
    assert "organisation_name" in rows[0]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("+4741234567", "+4741234567"),
        ("-12.5", "-12.5"),
        ("Kari Nordmann", "Kari Nordmann"),
        (None, ""),
    ],
)
def test_neutralise(value, shown):
    assert neutralise(value) == shown


def test_bad_requests_are_refused_and_nothing_is_written(sales, dialogue, crowd, system_actor):
    outsider = make_people(system_actor, 1, prefix="Utenfor", org=False)[0]
    cases = [
        ({"dialogue_id": 424242, "categories": BASIC}, NotFoundError, "dialogue"),
        ({"dialogue_id": dialogue.pk, "categories": ["name", "position"]}, ValidationError, "fields"),
        ({"dialogue_id": dialogue.pk, "categories": ["name", "form_answers"]}, ValidationError, "fields"),
        ({"dialogue_id": dialogue.pk, "categories": ["shoe_size"]}, ValidationError, "fields"),
        ({"dialogue_id": dialogue.pk, "categories": []}, ValidationError, "fields"),
        ({"dialogue_id": dialogue.pk, "categories": BASIC, "person_ids": [outsider.pk]}, ValidationError, "people"),
        ({"dialogue_id": dialogue.pk, "categories": BASIC, "person_ids": [424242]}, NotFoundError, "people"),
        ({"dialogue_id": dialogue.pk, "categories": BASIC, "event_id": 424242}, NotFoundError, "event"),
    ]
    for kwargs, error, field in cases:
        with pytest.raises(error) as raised:
            services.disclose(actor=sales, now=NOW, channel="json", **kwargs)  # type: ignore[arg-type]
        assert raised.value.field == field, kwargs
    with pytest.raises(ValidationError) as raised:
        services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="fax")
    assert raised.value.field == "channel"
    with pytest.raises(ValidationError, match="no endpoint"):
        services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    assert Disclosure.objects.count() == 0
    assert not AuditEntry.objects.filter(action="disclose").exists()


def test_the_error_names_the_forbidden_field(sales, dialogue):
    with pytest.raises(ValidationError, match="'position'"):
        services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=["position"], channel="json")


def test_a_closed_dialogue_or_an_ended_partnership_discloses_nothing(sales, officer, dialogue, partner):
    services.close_dialogue(actor=sales, now=NOW - dt.timedelta(hours=1), dialogue_id=dialogue.pk)
    with pytest.raises(ConflictError, match="closed"):
        services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")
    services.end_partnership(actor=officer, now=NOW, partner_id=partner.pk)
    with pytest.raises(ConflictError, match="ended"):
        services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")
    assert Disclosure.objects.count() == 0


def test_someone_who_left_the_dialogue_is_not_disclosed(sales, dialogue, crowd):
    services.remove_from_dialogue(
        actor=sales, now=NOW - dt.timedelta(hours=1), dialogue_id=dialogue.pk, person_id=crowd[2].pk
    )
    with pytest.raises(ValidationError, match="not in the dialogue"):
        services.disclose(
            actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json", person_ids=[crowd[2].pk]
        )
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")
    assert result.disclosure.people == 2, "everyone in the dialogue now"


def test_a_person_who_objected_or_is_suppressed_is_never_disclosed(sales, dialogue, crowd, system_actor):
    consent.object_to_direct_marketing(
        actor=system_actor, now=NOW - dt.timedelta(hours=2), person_id=crowd[0].pk, source_kind="staff", language="en"
    )
    with pytest.raises(ConflictError) as raised:
        services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")
    assert raised.value.code == "not_allowed"
    # An objection to direct marketing also puts the address on the suppression list.
    assert "suppression list" in raised.value.message
    assert Disclosure.objects.count() == 0

    consent.suppress(now=NOW, email=crowd[1].email, phone=None, reason="bounce")
    with pytest.raises(ConflictError, match="suppression list"):
        services.disclose(
            actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json", person_ids=[crowd[1].pk]
        )
    result = services.disclose(
        actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json", person_ids=[crowd[2].pk]
    )
    assert result.disclosure.people == 1


def test_an_objection_to_sharing_through_global_privacy_control_stops_disclosure(sales, dialogue, crowd, system_actor):
    consent.record_gpc_objection(
        actor=system_actor, now=NOW - dt.timedelta(hours=1), person_id=crowd[0].pk, language="en"
    )
    with pytest.raises(ConflictError, match="objected"):
        services.disclose(
            actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=["name"], channel="json", person_ids=[crowd[0].pk]
        )


def test_roles_disclose_only_what_they_may_see(staff_actor, dialogue):
    marketing = staff_actor("marketing")
    with pytest.raises(NotFoundError):
        services.disclose(actor=marketing, now=NOW, dialogue_id=dialogue.pk, categories=["name"], channel="json")
    support = staff_actor("customer_support")
    result = services.disclose(actor=support, now=NOW, dialogue_id=dialogue.pk, categories=["name"], channel="json")
    assert result.disclosure.actor_role == "customer_support"


def test_only_the_privacy_officer_registers_partners(sales, officer):
    with pytest.raises(PermissionDeniedError):
        services.register_partner(actor=sales, now=NOW, values={"key": "x"})
    with pytest.raises(ValidationError) as raised:
        services.register_partner(
            actor=officer,
            now=NOW,
            values={
                "key": "plain",
                "name": "Plain AS",
                "contact_email": "post@plain.example.com",
                "endpoint_url": "http://plain.example.com/hook",
                "agreement_reference": "A1",
                "agreement_dated": "2026-01-01",
            },
        )
    assert raised.value.field == "endpoint_url"


def _raw(statement: str, params: list) -> None:  # type: ignore[type-arg]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_the_ledger_is_append_only(sales, dialogue):
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")
    refused = DatabaseError
    for statement in (
        "UPDATE sharing_disclosure SET categories = '[]' WHERE id = %s",
        "DELETE FROM sharing_disclosure WHERE id = %s",
        "UPDATE sharing_disclosedperson SET categories = '[]' WHERE disclosure_id = %s",
        "DELETE FROM sharing_disclosedperson WHERE disclosure_id = %s",
    ):
        with pytest.raises(refused, match="append-only"), transaction.atomic():
            _raw(statement, [result.disclosure.pk])
    assert DisclosedPerson.objects.filter(disclosure=result.disclosure).count() == 3


def test_the_ledger_survives_erasure_without_personal_data(sales, dialogue, crowd, system_actor):
    services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json")
    person = crowd[0]
    retention.erase_person(actor=system_actor, now=NOW + dt.timedelta(hours=1), person_id=person.pk, reason="request")

    assert retention_selectors.find_identifiers([person.name, person.email, person.phone]) == []
    rows = selectors.disclosures_for_person(pseudonym=person.pseudonym)
    assert [r["partner"]["key"] for r in rows] == ["fiberpartner"], "the ledger still answers by pseudonym"


def test_a_thousand_people_in_one_disclosure(sales, partner, system_actor):
    from tillit.people.models import Person

    now = NOW - dt.timedelta(days=1)
    Person.objects.bulk_create(
        [
            Person(name=f"Mange Nummer{i}", email=f"mange{i}@example.com", created_at=now, updated_at=now)
            for i in range(1000)
        ]
    )
    from tillit.consent.models import NoticeVersion

    Person.objects.update(notice_version=NoticeVersion.objects.first())
    ids = list(Person.objects.values_list("pk", flat=True))
    opened = services.open_dialogue(actor=sales, now=now, partner_id=partner.pk, kind="sales", title="Big")
    services.add_to_dialogue(actor=sales, now=now, dialogue_id=opened.pk, person_ids=ids)
    result = services.disclose(actor=sales, now=NOW, dialogue_id=opened.pk, categories=["name", "email"], channel="csv")
    assert result.disclosure.people == 1000
    assert result.content.count(b"\r\n") == 1001


def test_the_system_may_not_be_asked_to_sell(sales, dialogue):
    assert not hasattr(services, "sell")
    assert "sold" not in services.CHANNELS
    assert isinstance(sales, Actor)

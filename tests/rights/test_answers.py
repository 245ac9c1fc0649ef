"""The answers to access (GDPR art. 15) and portability (art. 20) requests: complete, generated
from the field classification, never holding another person's data, in the person's language."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
import zipfile
from types import MappingProxyType
from typing import Any

import jsonschema
import pytest

from tillit import policy
from tillit.consent import services as consent_services
from tillit.consent.models import Subscription
from tillit.core.actors import Actor
from tillit.people import selectors as people_selectors
from tillit.people import services as people_services
from tillit.policy import classification
from tillit.rights import answers

from ..conftest import disclose_to_a_partner

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
WORDING = "Ja, skicka mig Avaras nyhetsbrev via e-post. Jag kan avsluta prenumerationen när som helst."
FORMULA = '=HYPERLINK("http://attacker.example.com","click")'
STAFF_NOTE = "Internal: prefers calls after lunch (staff only)"


def _seed(now: dt.datetime, staff_actor: Any) -> dict[str, Any]:
    organisation = people_services.create_organization(
        actor=SYSTEM,
        now=now - dt.timedelta(days=60),
        source="public_register",
        values={
            "name": "Fjord Data AS",
            "org_number": "912345688",
            "industry_code": "62.010",
            "industry_code_version": "SN2007",
            "street": "Testveien 1",
            "postcode": "3239",
            "city": "Sandefjord",
            "country": "NO",
        },
    )
    person = people_services.create_person(
        actor=SYSTEM,
        now=now - dt.timedelta(days=30),
        source="form",
        values={
            "name": "Kari Testperson",
            "email": "kari.testperson@example.com",
            "phone": "+47 412 34 567",
            "position": "IT-sjef",
            "organization_id": organisation.pk,
            "language": "sv",
        },
    )
    # A colleague at the same business, with the same name and phone number.
    other = people_services.create_person(
        actor=SYSTEM,
        now=now - dt.timedelta(days=20),
        source="form",
        values={
            "name": "Kari Testperson",
            "email": "other.colleague@example.com",
            "phone": "+47 412 34 567",
            "position": "Økonomisjef",
            "organization_id": organisation.pk,
        },
    )
    record = people_services.record_interaction
    record(
        actor=SYSTEM,
        now=now - dt.timedelta(days=30),
        person_id=person.pk,
        kind="form",
        direction="inbound",
        subject=FORMULA,
        summary="Please call me about the backup service.",
    )
    record(
        actor=SYSTEM,
        now=now - dt.timedelta(days=29),
        person_id=person.pk,
        kind="email",
        direction="outbound",
        subject="Thank you for your request",
        summary="We will call you this week.",
    )
    record(
        actor=SYSTEM,
        now=now - dt.timedelta(days=10),
        person_id=person.pk,
        kind="order",
        direction="inbound",
        subject="Order: backup service",
        summary="Backup 100 GB",
    )
    record(
        actor=SYSTEM,
        now=now - dt.timedelta(days=9),
        person_id=person.pk,
        kind="note",
        direction="internal",
        summary=STAFF_NOTE,
    )
    record(
        actor=SYSTEM,
        now=now - dt.timedelta(days=8),
        person_id=other.pk,
        kind="email",
        direction="inbound",
        subject="Colleague's own question",
        summary="Only about the other person",
    )
    consent_services.record_consent(
        actor=SYSTEM,
        now=now - dt.timedelta(days=30),
        person_id=person.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording=WORDING,
        language="sv",
        evidence_ip="192.0.2.0",
    )
    Subscription.objects.create(person=person, newsletter="monthly", subscribed_at=now - dt.timedelta(days=30))
    Subscription.objects.create(person=other, newsletter="colleague-list", subscribed_at=now - dt.timedelta(days=5))
    people_services.start_customer_relationship(actor=SYSTEM, now=now - dt.timedelta(days=10), person_id=person.pk)
    from tillit.people.models import ProductInterest

    ProductInterest.objects.create(
        person=person, product="Backup", status="has", recorded_at=now - dt.timedelta(days=10)
    )
    # Two staff roles look at the person; one also looks at the colleague.
    sales, support = staff_actor("sales"), staff_actor("customer_support")
    people_selectors.get_person(
        actor=sales, now=now - dt.timedelta(days=5), person_id=person.pk, purpose="sales_dialogue"
    )
    people_selectors.get_person(
        actor=support, now=now - dt.timedelta(days=4), person_id=person.pk, purpose="customer_care"
    )
    people_selectors.get_person(
        actor=support, now=now - dt.timedelta(days=3), person_id=other.pk, purpose="customer_care"
    )
    return {"person": person, "other": other, "organisation": organisation, "sales": sales, "support": support}


@pytest.fixture
def seeded(now: dt.datetime, staff_actor: Any) -> dict[str, Any]:
    return _seed(now, staff_actor)


def _fields(answer: dict[str, Any], table: str) -> dict[str, dict[str, Any]]:
    found = [t for t in answer["personal_data"] if t["table"] == table]
    assert found, table
    return {f["field"]: f for row in found[0]["rows"] for f in row["fields"]}


def test_the_access_answer_validates_and_has_every_heading(seeded: dict[str, Any], now: dt.datetime) -> None:
    answer = answers.access_answer(person_id=seeded["person"].pk, language="en", now=now)
    jsonschema.validate(answer, answers.access_schema(), format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(answers.access_schema())
    for heading in ("purposes", "categories", "recipients", "retention", "rights", "complaint", "sources"):
        assert answer[heading], heading
    assert answer["automated_decisions"]["description"]
    assert answer["automated_decisions"]["exists"] is False
    assert answer["recipients"]["processors"][0]["name"] == "7Sense AS"
    assert answer["recipients"]["processors"][0]["sub_processors"]
    assert answer["recipients"]["partners"] == []
    assert answer["recipients"]["partners_note"]
    assert answer["complaint"]["authority"] == "Datatilsynet"
    assert {r["key"] for r in answer["rights"]["available"]} == set(policy.current().rights.available)


def test_every_personal_field_appears_with_its_source(seeded: dict[str, Any], now: dt.datetime) -> None:
    person = seeded["person"]
    answer = answers.access_answer(person_id=person.pk, language="en", now=now)
    person_fields = _fields(answer, "people.Person")
    for name in classification.personal_fields("people.Person"):
        value = getattr(person, classification_attname(name))
        if value in (None, ""):
            continue
        assert name in person_fields, name
        assert person_fields[name]["source"]["label"], name
        assert person_fields[name]["recorded_at"], name
    assert person_fields["email"]["value"] == "kari.testperson@example.com"
    assert person_fields["email"]["source"]["key"] == "form"
    organisation_fields = _fields(answer, "people.Organization")
    assert organisation_fields["name"]["source"]["key"] == "public_register"
    assert organisation_fields["name"]["source"]["direct"] is False
    assert "SN2007" in organisation_fields["industry_code"]["explanation"]
    # Every table linked to the person, every field: a category, a source and a moment.
    for table in answer["personal_data"]:
        for row in table["rows"]:
            for field in row["fields"]:
                assert field["source"]["label"], (table["table"], field["field"])
                assert field["recorded_at"], (table["table"], field["field"])
    # Art. 14: the public register is named as a source, with what came from it.
    register = next(s for s in answer["sources"] if s["key"] == "public_register")
    assert register["direct"] is False
    assert register["fields"]
    kinds = [item["kind_words"] for item in answer["timeline"]]
    assert "An email" in kinds
    assert "A form you filled in" in kinds
    assert any(item["direction"] == "outbound" for item in answer["timeline"])


def classification_attname(name: str) -> str:
    from tillit.people.models import Person

    return Person._meta.get_field(name).attname


def test_consents_subscriptions_staff_access_and_retention(seeded: dict[str, Any], now: dt.datetime) -> None:
    answer = answers.access_answer(person_id=seeded["person"].pk, language="en", now=now)
    consent = answer["consents"][0]
    assert consent["wording"] == WORDING
    assert consent["notice_version"]["id"]
    assert consent["notice_version"]["digest"]
    assert consent["purpose_label"] == policy.current().purposes["newsletter"].label["en"]
    assert [s["newsletter"] for s in answer["subscriptions"]] == ["monthly"]
    roles = {e["role"] for e in answer["staff_access"] if e["action"] == "read"}
    assert roles == {"sales", "customer_support"}
    labels = {e["role_label"] for e in answer["staff_access"]}
    assert {"Sales", "Customer support"} <= labels
    assert all(e["at"] and e["purpose"] for e in answer["staff_access"] if e["action"] == "read")
    # Retention: one entry for every category present, each with its reason in words.
    present = {c["key"] for c in answer["categories"]}
    retention = {r["category"]: r for r in answer["retention"]}
    assert present
    assert set(retention) == present
    assert all(r["explanation"] for r in retention.values())
    # The order is held for the bookkeeping act beyond the person's own deadline.
    holds = [h for r in retention.values() for h in r["legal_holds"]]
    assert holds
    assert "Bookkeeping" in holds[0]["basis"]


def test_people_sharing_a_name_phone_and_organisation_never_see_each_other(
    seeded: dict[str, Any], now: dt.datetime
) -> None:
    mine = json.dumps(answers.access_answer(person_id=seeded["person"].pk, language="en", now=now))
    theirs = json.dumps(answers.access_answer(person_id=seeded["other"].pk, language="en", now=now))
    assert "kari.testperson@example.com" in mine
    assert "other.colleague@example.com" in theirs
    for text in ("other.colleague@example.com", "Økonomisjef", "Colleague's own question", "colleague-list"):
        assert text not in mine
    for text in ("kari.testperson@example.com", "IT-sjef", WORDING, "Backup 100 GB", "monthly", STAFF_NOTE):
        assert text not in theirs
    their_reads = [
        e
        for e in json.loads(mine)["staff_access"]
        if e["at"].startswith((now - dt.timedelta(days=3)).date().isoformat())
    ]
    assert their_reads == []  # the read of the colleague is not in this person's answer


def test_the_answer_follows_the_classification(
    seeded: dict[str, Any], now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = answers.access_answer(person_id=seeded["person"].pk, language="en", now=now)
    assert "people.Organization" in {t["table"] for t in before["personal_data"]}
    assert "industry_code_version" not in _fields(before, "people.Organization")
    fields = dict(classification.FIELDS)
    fields["people.Organization.industry_code_version"] = "industry"
    monkeypatch.setattr(classification, "FIELDS", MappingProxyType(fields))
    after = answers.access_answer(person_id=seeded["person"].pk, language="en", now=now)
    assert _fields(after, "people.Organization")["industry_code_version"]["value"] == "SN2007"


@pytest.mark.parametrize(
    ("language", "headings"),
    [
        ("sv", ("Dina personuppgifter", "Dina rättigheter", "Varifrån dina uppgifter kommer")),
        ("nb", ("Dine personopplysninger", "Dine rettigheter", "Hvor opplysningene dine kom fra")),
    ],
)
def test_the_page_is_in_the_persons_language(
    seeded: dict[str, Any], now: dt.datetime, language: str, headings: tuple[str, ...]
) -> None:
    answer = answers.access_answer(person_id=seeded["person"].pk, language=language, now=now)
    page = answers.render_access_html(answer, language)
    assert f'<html lang="{language}">' in page
    for heading in headings:
        assert heading in page
    assert "Kari Testperson" in page
    assert "Datatilsynet" in page
    assert policy.current().categories["email"].label[language] in page


def test_the_pdf_shows_the_person(seeded: dict[str, Any], now: dt.datetime, tmp_path: Any) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    answer = answers.access_answer(person_id=seeded["person"].pk, language="nb", now=now)
    pdf = answers.render_access_pdf(answer, "nb")
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "answer.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Kari Testperson" in text
    assert "Dine personopplysninger" in text


def test_the_portability_file_holds_what_the_person_provided(seeded: dict[str, Any], now: dt.datetime) -> None:
    blob = answers.portability_zip(person_id=seeded["person"].pk, now=now)
    archive = zipfile.ZipFile(io.BytesIO(blob))
    names = set(archive.namelist())
    assert {"data.json", "README.txt", "data.schema.json"} <= names
    data = json.loads(archive.read("data.json"))
    jsonschema.validate(data, json.loads(archive.read("data.schema.json")))
    person = data["tables"]["people.Person"][0]
    assert person["email"] == "kari.testperson@example.com"
    assert person["name"] == "Kari Testperson"
    assert person["organization"] == "Fjord Data AS"
    interactions = data["tables"]["people.Interaction"]
    assert {i["direction"] for i in interactions} == {"inbound"}  # not our emails, not staff notes
    assert data["tables"]["consent.ConsentEvent"][0]["wording"] == WORDING
    assert data["tables"]["consent.Subscription"][0]["newsletter"] == "monthly"
    assert data["tables"]["people.ProductInterest"][0]["product"] == "Backup"
    text = archive.read("data.json").decode()
    for staff_only in (STAFF_NOTE, "We will call you this week.", "staff:", "sales_dialogue", "other.colleague"):
        assert staff_only not in text
    readme = archive.read("README.txt").decode()
    for name in names - {"README.txt"}:
        assert name in readme
    rows = list(csv.reader(io.StringIO(archive.read("people_interaction.csv").decode())))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + FORMULA in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_safe_cell_neutralises_formulas() -> None:
    assert answers.safe_cell("=1+1") == "'=1+1"
    assert answers.safe_cell("+47 412 34 567") == "'+47 412 34 567"
    assert answers.safe_cell("-5") == "'-5"
    assert answers.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert answers.safe_cell("plain") == "plain"
    assert answers.safe_cell(None) == ""


def test_an_unknown_person_is_a_lookup_error_without_personal_data(now: dt.datetime) -> None:
    with pytest.raises(LookupError, match="no such person"):
        answers.access_answer(person_id=999_999, language="en", now=now)


def test_disclosures_are_named_with_the_partner_date_and_categories(
    seeded: dict[str, Any], now: dt.datetime, staff_actor: Any
) -> None:

    officer, sales = staff_actor("privacy_officer"), staff_actor("sales")
    disclose_to_a_partner(officer, sales, now, seeded["person"], disclosed_at=now - dt.timedelta(days=4))
    answer = answers.access_answer(person_id=seeded["person"].pk, language="en", now=now)
    jsonschema.validate(answer, answers.access_schema(), format_checker=jsonschema.FormatChecker())
    [disclosure] = answer["recipients"]["partners"]
    assert disclosure["name"] == "Fiberpartner AS"
    assert disclosure["disclosed_at"].startswith((now - dt.timedelta(days=4)).date().isoformat())
    assert len(disclosure["categories"]) == 2
    page = answers.render_access_html(answer, "en")
    assert "Fiberpartner AS, on" in page
    # The colleague sharing the organisation was not disclosed, and their answer says so.
    theirs = answers.access_answer(person_id=seeded["other"].pk, language="en", now=now)
    assert theirs["recipients"]["partners"] == []


def test_order_lines_are_in_the_answer_while_they_are_linked(
    seeded: dict[str, Any], now: dt.datetime, staff_actor: Any
) -> None:
    from tillit.capture import services as capture

    capture.record_order(
        actor=staff_actor("sales"),
        now=now - dt.timedelta(days=2),
        person_id=seeded["person"].pk,
        number="AV-2026-0042",
        currency="NOK",
        lines=[{"product": "Backup 500 GB", "quantity": 1, "unit_price": "1490.00"}],
    )
    answer = answers.access_answer(person_id=seeded["person"].pk, language="en", now=now)
    jsonschema.validate(answer, answers.access_schema(), format_checker=jsonschema.FormatChecker())
    lines = _fields(answer, "capture.OrderLine")
    assert lines["order_number"]["value"] == "AV-2026-0042"
    assert lines["product"]["value"] == "Backup 500 GB"
    theirs = json.dumps(answers.access_answer(person_id=seeded["other"].pk, language="en", now=now))
    assert "AV-2026-0042" not in theirs

"""The call list (§8 "we may contact you by phone"): people who may be called for a purpose
now (legitimate interest, no objection, not suppressed), read through the gate and audited;
the CSV export neutralises formulas; a call logged from it is an interaction."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine

from tillit.audit.models import AuditEntry
from tillit.consent import services as consent_services
from tillit.people import services as people
from tillit.people.models import Interaction, Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def population(system_actor, now):
    def make(name: str, phone: str, email: str) -> Person:
        return people.create_person(
            actor=system_actor, now=now, source="form", values={"name": name, "phone": phone, "email": email}
        )

    callable_ = make('=HYPERLINK("http://evil.example")', "+4722334455", "formula@example.com")
    objected = make("Objected Person", "+4722334456", "objected@example.com")
    consent_services.object_to_direct_marketing(
        actor=system_actor, now=now, person_id=objected.pk, source_kind="staff", language="en"
    )
    opted_out = make("Opted Out", "+4722334457", "optout@example.com")
    consent_services.opt_out(
        actor=system_actor,
        now=now,
        person_id=opted_out.pk,
        purpose="direct_marketing",
        channel="phone",
        source_kind="staff",
        language="en",
    )
    suppressed = make("Suppressed Number", "+4722334458", "suppressed@example.com")
    consent_services.suppress(now=now, email=None, phone=suppressed.phone, reason="objection")
    make("No Phone", "", "nophone@example.com")
    return {"callable": callable_, "objected": objected, "opted_out": opted_out, "suppressed": suppressed}


def test_sales_sees_only_who_may_be_called_now_and_each_view_is_audited(staff_client, population):
    response = staff_client("sales").get("/call-list/?purpose=direct_marketing")
    assert response.status_code == 200
    text = response.content.decode()
    assert "+4722334455" in text
    for other in ("+4722334456", "+4722334457", "+4722334458", "No Phone"):
        assert other not in text
    entry = AuditEntry.objects.filter(action="call_list").get()
    assert entry.subject_id == population["callable"].pk
    assert entry.purpose == "direct_marketing"


def test_the_export_neutralises_formulas_and_is_audited(staff_client, population):
    response = staff_client("sales").get("/call-list/export/?purpose=direct_marketing")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", "name", "phone", "email", "position", "organization"]
    [row] = rows[1:]
    assert row[1] == '\'=HYPERLINK("http://evil.example")'
    assert row[2] == "'+4722334455"
    assert AuditEntry.objects.filter(action="export", subject_id=population["callable"].pk).exists()


def test_roles_without_phone_numbers_for_such_a_purpose_have_no_call_list(staff_client, population):
    for role in ("privacy_officer", "administrator"):
        assert staff_client(role).get("/call-list/").status_code == 403
    assert staff_client("sales").get("/call-list/?purpose=customer_care").status_code == 403


@time_machine.travel(dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC), tick=False)  # a Tuesday, 13:00 in Oslo
def test_a_call_logged_from_the_list_is_an_interaction_that_moves_the_clock(staff_client, population, now, tmp_path):
    from tillit.consent import reservations
    from tillit.core.actors import Actor

    extract = tmp_path / "reserved.txt"
    extract.write_text("+4799999999\n")
    reservations.import_extract(actor=Actor.system("tests"), now=now, path=extract, extracted_on=now.date())
    person = population["callable"]
    response = staff_client("sales").post(
        f"/call-list/{person.pk}/log/", {"purpose": "direct_marketing", "reached": "on", "summary": "Interested."}
    )
    assert response.status_code == 302
    call = Interaction.objects.get(person=person)
    assert (call.kind, call.direction, call.reached, call.summary) == ("call", "outbound", True, "Interested.")
    person.refresh_from_db()
    assert person.last_contact_at is not None
    assert (
        staff_client("sales")
        .post(f"/call-list/{population['objected'].pk}/log/", {"purpose": "direct_marketing"})
        .status_code
        == 404
    )


# --- issue 15 item 1: a sales dialogue is a real thing, and an objection stops every call list --


@pytest.fixture
def dialogue_population(system_actor, now):
    from tillit.people import dialogues

    def make(name: str, phone: str) -> Person:
        return people.create_person(
            actor=system_actor, now=now, source="customer_service", values={"name": name, "phone": phone}
        )

    told_about = make("Only Told About It", "+4722000001")
    asked = make("Asked By Form", "+4722000002")
    people.record_interaction(actor=system_actor, now=now, person_id=asked.pk, kind="form", direction="inbound")
    opened = make("Opened By Sales", "+4722000003")
    dialogues.open_dialogue(actor=system_actor, now=now, person_id=opened.pk, kind="sales")
    closed = make("Dialogue Closed", "+4722000004")
    dialogues.open_dialogue(actor=system_actor, now=now, person_id=closed.pk, kind="sales")
    dialogues.close_dialogue(actor=system_actor, now=now, person_id=closed.pk, kind="sales")
    objected = make("Objected In Dialogue", "+4722000005")
    people.record_interaction(actor=system_actor, now=now, person_id=objected.pk, kind="chat", direction="inbound")
    consent_services.object_to_direct_marketing(
        actor=system_actor, now=now, person_id=objected.pk, source_kind="staff", language="en"
    )
    suppressed = make("Suppressed In Dialogue", "+4722000006")
    dialogues.open_dialogue(actor=system_actor, now=now, person_id=suppressed.pk, kind="sales")
    consent_services.suppress(now=now, email=None, phone=suppressed.phone, reason="objection")
    return {p.name: p for p in (told_about, asked, opened, closed, objected, suppressed)}


def _export(client, purpose: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/call-list/export/?purpose={purpose}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("role", ["sales", "customer_support"])
def test_the_sales_dialogue_list_holds_only_people_in_an_open_dialogue(staff_client, dialogue_population, role):
    client = staff_client(role)
    page = client.get("/call-list/?purpose=sales_dialogue").content.decode()
    assert "Only people in an open sales dialogue" in page
    swedish = client.get("/call-list/?purpose=sales_dialogue", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "Bara personer i en öppen försäljningsdialog" in swedish
    exported = _export(client, "sales_dialogue")
    for text in (page, exported):
        assert "Asked By Form" in text, "a request from the person opens a dialogue"
        assert "Opened By Sales" in text, "staff may open one"
        assert "Only Told About It" not in text, "being told about the purpose is not a dialogue"
        assert "Dialogue Closed" not in text


def test_an_objection_or_the_suppression_list_removes_a_person_from_every_call_list(staff_client, dialogue_population):
    client = staff_client("sales")
    for purpose in ("sales_dialogue", "direct_marketing"):
        page = client.get(f"/call-list/?purpose={purpose}").content.decode()
        exported = _export(client, purpose)
        for text in (page, exported):
            assert "Objected In Dialogue" not in text, f"{purpose}: an objection stops every call list"
            assert "Suppressed In Dialogue" not in text, f"{purpose}: so does the suppression list"
    assert "Only Told About It" in client.get("/call-list/?purpose=direct_marketing").content.decode()


def test_a_request_after_the_objection_may_be_answered_by_phone(system_actor, now, dialogue_population):
    import datetime as dt

    from tillit.marketing.selectors import callable_people

    person = dialogue_population["Objected In Dialogue"]
    assert not callable_people("sales_dialogue").filter(pk=person.pk).exists()
    later = now + dt.timedelta(days=2)
    people.record_interaction(
        actor=system_actor, now=later, person_id=person.pk, kind="call", direction="inbound", summary="Call me back."
    )
    assert callable_people("sales_dialogue").filter(pk=person.pk).exists(), "an answer to their own new request"
    assert not callable_people("direct_marketing").filter(pk=person.pk).exists(), "but never marketing"

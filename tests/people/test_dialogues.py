"""Issue 15 item 1: a dialogue with a person is one real thing (policy §7, §11). A request from
the person opens one; staff open and close one on the person page and in the API (audited);
the sales-dialogue call list and the partner rule both read it."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.audit.models import AuditEntry
from tillit.core.errors import ConflictError
from tillit.marketing.selectors import callable_people
from tillit.people import dialogues
from tillit.people import services as people
from tillit.people.models import Dialogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(system_actor, now):  # type: ignore[no-untyped-def]
    return people.create_person(
        actor=system_actor,
        now=now,
        source="customer_service",
        values={"name": "Dag Dialogsen", "phone": "+4722111000", "email": "dag@example.com"},
    )


@pytest.mark.parametrize(
    ("kind", "opens"), [("form", True), ("chat", True), ("call", True), ("email", True), ("download", False)]
)
def test_a_request_from_the_person_opens_a_sales_dialogue(system_actor, now, person, kind, opens):
    people.record_interaction(actor=system_actor, now=now, person_id=person.pk, kind=kind, direction="inbound")
    assert Dialogue.objects.filter(person=person, kind="sales", closed_at=None).exists() is opens
    assert callable_people("sales_dialogue").filter(pk=person.pk).exists() is opens


def test_an_outbound_call_opens_nothing_and_a_second_request_joins_the_open_dialogue(system_actor, now, person):
    people.record_interaction(actor=system_actor, now=now, person_id=person.pk, kind="call", direction="outbound")
    assert not Dialogue.objects.filter(person=person).exists()
    first = people.record_interaction(
        actor=system_actor, now=now, person_id=person.pk, kind="form", direction="inbound"
    )
    later = now + dt.timedelta(hours=1)
    second = people.record_interaction(
        actor=system_actor, now=later, person_id=person.pk, kind="email", direction="inbound"
    )
    [dialogue] = Dialogue.objects.filter(person=person)
    assert (dialogue.request_id, dialogue.opened_at) == (second.pk, first.occurred_at)


def test_sales_opens_and_closes_a_dialogue_on_the_person_page(staff_client, person):
    client = staff_client("sales")
    page = client.get(f"/people/{person.pk}/?purpose=sales_dialogue").content.decode()
    assert 'data-testid="dialogue-open-sales"' in page
    response = client.post(f"/people/{person.pk}/dialogues/sales/open/", {"purpose": "sales_dialogue"})
    assert response.status_code == 302
    assert callable_people("sales_dialogue").filter(pk=person.pk).exists()
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="dialogue-close-sales"' in page
    assert "opened by staff" in page
    assert AuditEntry.objects.filter(action="dialogue_opened", subject_id=person.pk).exists()
    client.post(f"/people/{person.pk}/dialogues/sales/close/", {"purpose": "sales_dialogue"})
    assert not callable_people("sales_dialogue").filter(pk=person.pk).exists()
    assert AuditEntry.objects.filter(action="dialogue_closed", subject_id=person.pk).exists()


def test_the_dialogue_card_is_translated(staff_client, person):
    client = staff_client("sales")
    page = client.get(f"/people/{person.pk}/?purpose=sales_dialogue", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert "Åpne en dialog" in page
    assert "Dialog med oss" in page
    assert "ingen åpen" in page
    page = client.get(f"/people/{person.pk}/?purpose=sales_dialogue", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "Öppna en dialog" in page
    assert "Dialog med oss" in page
    assert "ingen öppen" in page


def test_marketing_works_with_no_dialogue(staff_client, person):
    client = staff_client("marketing")
    assert 'data-testid="dialogues"' not in client.get(f"/people/{person.pk}/").content.decode()
    assert client.post(f"/people/{person.pk}/dialogues/sales/open/").status_code == 403
    assert not Dialogue.objects.filter(person=person).exists()


def test_the_api_opens_lists_and_closes_a_dialogue(api_as, person):
    client = api_as("customer_support")
    opened = client.post(f"/api/people/{person.pk}/dialogues", {"kind": "sales"}, content_type="application/json")
    assert opened.status_code == 201
    assert opened.json()["open"] is True
    assert opened.json()["by_request"] is False
    again = client.post(f"/api/people/{person.pk}/dialogues", {"kind": "sales"}, content_type="application/json")
    assert again.status_code == 200
    listed = client.get(f"/api/people/{person.pk}/dialogues").json()
    assert [d["kind"] for d in listed if d["open"]] == ["sales"]
    closed = client.post(f"/api/people/{person.pk}/dialogues/sales/close")
    assert closed.status_code == 200
    assert closed.json()["open"] is False
    bad = client.post(f"/api/people/{person.pk}/dialogues", {"kind": "gossip"}, content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["field"] == "kind"
    assert (
        api_as("marketing")
        .post(f"/api/people/{person.pk}/dialogues", {"kind": "sales"}, content_type="application/json")
        .status_code
        == 403
    )


def test_a_partner_receives_nothing_once_the_persons_own_dialogue_is_closed(staff_actor, now, person):
    from tillit.sharing import services as sharing

    officer, sales = staff_actor("privacy_officer"), staff_actor("sales")
    partner = sharing.register_partner(
        actor=officer,
        now=now,
        values={
            "key": "fiberpartner",
            "name": "Fiberpartner AS",
            "org_number": "923130969",
            "contact_email": "privacy@fiberpartner.example.com",
            "agreement_reference": "DPA-2026-01",
            "agreement_dated": "2026-01-15",
        },
    )
    partner_dialogue = sharing.open_dialogue(actor=sales, now=now, partner_id=partner.pk, kind="sales", title="Fibre")
    sharing.add_to_dialogue(actor=sales, now=now, dialogue_id=partner_dialogue.pk, person_ids=[person.pk])
    assert Dialogue.objects.filter(person=person, kind="sales", closed_at=None).exists(), "the partner joins ours"
    dialogues.close_dialogue(actor=sales, now=now, person_id=person.pk, kind="sales")
    with pytest.raises(ConflictError, match="no open dialogue"):
        sharing.disclose(
            actor=sales, now=now, dialogue_id=partner_dialogue.pk, categories=["name", "email"], channel="json"
        )

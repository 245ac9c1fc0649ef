"""The staff pages and the API of sharing, the records of processing (HTML, PDF, JSON) and the
policy as DPV JSON-LD: from the same policy file as the notice."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse

from tillit import policy
from tillit.sharing import records, services
from tillit.sharing.models import Disclosure, VerifyRun

from .conftest import NOW

pytestmark = pytest.mark.django_db


def test_the_disclose_page_previews_and_exports(staff_client, dialogue, crowd):
    client = staff_client("sales")
    page = client.get(reverse("web:disclose", args=[dialogue.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'value="name"' in text
    assert 'value="position"' not in text, "only fields the policy allows"

    fields = ["name", "email"]
    preview = client.post(
        reverse("web:disclose", args=[dialogue.pk]), {"fields": fields, "channel": "csv", "action": "preview"}
    )
    assert preview.status_code == 200
    assert "Partnerperson Nummer0" in preview.content.decode()
    assert Disclosure.objects.count() == 0, "a preview discloses nothing"

    export = client.post(
        reverse("web:disclose", args=[dialogue.pk]), {"fields": fields, "channel": "csv", "action": "disclose"}
    )
    assert export.status_code == 200
    assert export["Content-Disposition"].startswith('attachment; filename="disclosure-fiberpartner-')
    assert b"partnerperson0@example.com" in export.content
    assert Disclosure.objects.get().people == 3

    refused = client.post(
        reverse("web:disclose", args=[dialogue.pk]), {"fields": ["position"], "channel": "csv", "action": "disclose"}
    )
    assert refused.status_code == 422
    assert "position" in refused.content.decode()


def test_who_received_my_data_on_the_person_page(staff_client, sales, dialogue, crowd):
    services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=["name"], channel="json")
    client = staff_client("customer_support")
    person_page = client.get(reverse("web:person", args=[crowd[0].pk]))
    assert reverse("web:person-disclosures", args=[crowd[0].pk]) in person_page.content.decode()
    fragment = client.get(reverse("web:person-disclosures", args=[crowd[0].pk]), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "Fiberpartner AS" in fragment.content.decode()


def test_dialogues_open_add_and_close_in_the_ui(staff_client, partner, crowd):
    client = staff_client("sales")
    opened = client.post(reverse("web:dialogues"), {"partner": partner.pk, "kind": "sales", "title": "Ny dialog"})
    assert opened.status_code == 302
    dialogue_url = opened["Location"]
    dialogue_id = int(dialogue_url.rstrip("/").rsplit("/", 1)[1])
    added = client.post(reverse("web:dialogue-add", args=[dialogue_id]), {"people": f"{crowd[0].pk}, {crowd[1].pk}"})
    assert added.status_code == 302
    page = client.get(dialogue_url)
    assert "Partnerperson Nummer1" in page.content.decode()
    assert client.post(reverse("web:dialogue-close", args=[dialogue_id])).status_code == 302
    assert "closed" in client.get(dialogue_url).content.decode()


def test_the_privacy_officer_registers_a_partner(staff_client):
    client = staff_client("privacy_officer")
    response = client.post(
        reverse("web:partners"),
        {
            "key": "eventbyra",
            "name": "Eventbyrå AS",
            "contact_email": "personvern@eventbyra.example.com",
            "endpoint_url": "",
            "agreement_reference": "DPA-7",
            "agreement_dated": "2026-02-01",
        },
    )
    assert response.status_code == 302
    assert "Eventbyrå AS" in client.get(response["Location"]).content.decode()
    bad = client.post(reverse("web:partners"), {"key": "x", "name": "X", "contact_email": "not an address"})
    assert bad.status_code == 422


def test_records_of_processing_come_from_the_policy_and_the_registries(staff_client, partner, crowd):
    record = records.records_of_processing(now=NOW)
    current = policy.current()
    assert [a["key"] for a in record["activities"]] == list(current.purposes)
    assert record["controller"]["name"] == current.controller.name
    assert record["partners"][0]["name"] == "Fiberpartner AS"
    assert record["processors"][0]["name"] == "7Sense AS"
    assert record["counts"]["people"] == 3
    assert record["transfers_words"] == "No transfers outside the EEA."
    sales = next(a for a in record["activities"] if a["key"] == "sales_dialogue")
    assert any("Partners in an ongoing dialogue" in r for r in sales["recipients"])

    client = staff_client("privacy_officer")
    page = client.get(reverse("web:records"))
    assert page.status_code == 200
    assert "7Sense AS" in page.content.decode()
    as_json = client.get(reverse("web:records-json")).json()
    assert as_json["controller"]["organisation_number"] == current.controller.organisation_number
    pdf = client.get(reverse("web:records-pdf"))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_the_policy_as_dpv_json_ld_is_public():
    response = Client().get("/privacy/policy.jsonld")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    document = json.loads(response.content)
    current = policy.current()
    assert document["@context"]["dpv"] == "https://w3id.org/dpv#"
    assert document["dpv:hasDataController"]["schema:name"] == current.controller.name
    processes = [p["@id"].partition("#process-")[2] for p in document["dpv:hasProcess"]]
    assert processes == list(current.purposes)
    newsletter = next(p for p in document["dpv:hasProcess"] if p["@id"].endswith("process-newsletter"))
    assert newsletter["dpv:hasLegalBasis"][0]["skos:broader"]["@id"] == "eu-gdpr:A6-1-a"
    assert {r["schema:name"] for r in document["dpv:hasRecipient"] if "schema:name" in r} == {"7Sense AS"}
    assert document["dpv:hasDataController"]["dpv:hasLocation"]["@id"] == "loc:NO"


def test_the_verifier_report_in_the_ui(staff_client, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    client = staff_client("privacy_officer")
    assert "No run yet" in client.get(reverse("web:verify")).content.decode()
    assert client.post(reverse("web:verify-now")).status_code == 302
    run = VerifyRun.objects.get()
    page = client.get(reverse("web:verify"))
    assert f"{run.total} violations" in page.content.decode()
    assert client.get(reverse("web:verify-run", args=[run.pk])).status_code == 200


def test_the_api_discloses_and_answers_who_received(api_as, dialogue, crowd):
    client = api_as("sales")
    response = client.post(
        f"/api/dialogues/{dialogue.pk}/disclosures",
        json.dumps({"fields": ["name", "email"], "channel": "json", "person_ids": [crowd[0].pk]}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["people"][0]["email"] == "partnerperson0@example.com"
    refused = client.post(
        f"/api/dialogues/{dialogue.pk}/disclosures",
        json.dumps({"fields": ["position"], "channel": "json"}),
        content_type="application/json",
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "fields"
    rows = client.get(f"/api/people/{crowd[0].pk}/disclosures").json()
    assert rows[0]["partner"]["name"] == "Fiberpartner AS"


def test_a_recipient_acknowledges_through_the_public_page(sales, dialogue, crowd, system_actor):
    from tillit.retention import services as retention
    from tillit.sharing.models import RecipientNotice

    services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=["name"], channel="json")
    retention.erase_person(actor=system_actor, now=NOW + dt.timedelta(hours=1), person_id=crowd[0].pk, reason="request")
    services.queue_art19_notices(actor=system_actor, now=NOW + dt.timedelta(hours=1))
    notice = RecipientNotice.objects.get(partner__isnull=False)
    url = reverse("public:recipient-ack", args=[services.ack_token(notice)])
    client = Client()
    assert client.get(url).status_code == 200
    notice.refresh_from_db()
    assert notice.status != "acknowledged", "opening the link does not acknowledge"
    assert client.post(url).status_code == 200
    notice.refresh_from_db()
    assert notice.status == "acknowledged"
    assert client.post(reverse("public:recipient-ack", args=["forged"])).status_code == 400

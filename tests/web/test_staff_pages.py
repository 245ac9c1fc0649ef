"""Staff pages: uploading an email puts it on the right timeline; consents show for roles that
see them; names and notes are shown as text."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tillit.people import services as people
from tillit.people.models import Interaction

pytestmark = pytest.mark.django_db

RAW = (
    b"From: Kari Nordmann <kari@example.com>\r\nTo: sales@avara.no\r\nSubject: Re: your offer\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <r1@example.com>\r\n\r\nYes please, send it.\r\n"
)


@pytest.fixture
def kari(system_actor, now):
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari <script>x</script>", "email": "kari@example.com"},
    )


def test_an_uploaded_email_lands_on_the_timeline(staff_client, kari):
    client = staff_client("sales")
    response = client.post("/emails/upload/", {"message": SimpleUploadedFile("reply.eml", RAW)})
    assert response.status_code == 302
    assert response["Location"] == f"/people/{kari.pk}/"
    interaction = Interaction.objects.get(person=kari, kind="email")
    assert interaction.direction == "inbound"
    page = client.get(response["Location"]).content.decode()
    assert "Re: your offer" in page
    assert "Kari &lt;script&gt;x&lt;/script&gt;" in page


def test_a_malformed_upload_is_refused_and_stores_nothing(staff_client, kari):
    response = staff_client("sales").post("/emails/upload/", {"message": SimpleUploadedFile("x.eml", b"\x89PNG....")})
    assert response.status_code == 422
    assert not Interaction.objects.filter(kind="email").exists()


def test_the_privacy_officer_sees_the_consent_ledger_sales_does_not(staff_client, kari, system_actor, now):
    from tillit.consent import services as consent

    consent.record_consent(
        actor=system_actor,
        now=now,
        person_id=kari.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter.",
        language="en",
    )
    officer = staff_client("privacy_officer").get(f"/people/{kari.pk}/").content.decode()
    assert 'data-testid="consents"' in officer
    assert "Yes, send me the newsletter." in officer
    seller = staff_client("sales").get(f"/people/{kari.pk}/").content.decode()
    assert 'data-testid="consents"' not in seller


def test_a_note_with_a_health_term_is_held_back_and_the_privacy_officer_can_release_it(staff_client, kari):
    from tillit.people.models import QuarantinedText

    support = staff_client("customer_support")
    response = support.post(
        f"/people/{kari.pk}/log/",
        {"kind": "call", "direction": "inbound", "summary": "She said she has diabetes and cannot travel."},
        follow=True,
    )
    page = response.content.decode()
    assert "Possible sensitive data was found" in page
    assert "diabetes" not in page
    held = QuarantinedText.objects.get(person=kari)
    officer = staff_client("privacy_officer")
    listing = officer.get("/quarantine/").content.decode()
    assert "diabetes" not in listing, "the list never shows the text"
    assert "diabetes" in officer.get(f"/quarantine/{held.pk}/").content.decode()
    officer.post(f"/quarantine/{held.pk}/decide/", {"decision": "release"})
    assert "diabetes" in support.get(f"/people/{kari.pk}/").content.decode()


def test_the_people_list_says_why_each_person_is_kept_in_words(staff_client, system_actor, now):
    """The "Kept until" column names the reason in the staff member's language, never the
    rule's key (a registered person with no contact since)."""
    people.create_person(actor=system_actor, now=now, source="form", values={"name": "Ordet Testesen"})
    client = staff_client("customer_support")
    english = client.post("/people/", {"q": "Ordet", "purpose": "customer_care"}).content.decode()
    assert "registered, no contact since" in english
    client.cookies["django_language"] = "nb"
    norwegian = client.post("/people/", {"q": "Ordet", "purpose": "customer_care"}).content.decode()
    assert "registrert, ingen kontakt siden" in norwegian
    assert ">registered<" not in norwegian

"""POST /api/emails (policy §16): a raw RFC 822 message in the body (message/rfc822) is put on
the timeline of the people it matches; a malformed one is 422 with the reason and nothing is
stored."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.test import Client

from tillit.people import services
from tillit.people.models import Interaction, Person, QuarantinedText

pytestmark = pytest.mark.django_db

SENT_AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def reply(sender: str = "Kari Testesen <kari.testesen@example.com>", body: str = "We accept the offer.") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ola.selger@avara.no"
    message["Subject"] = "Re: Offer"
    message["Date"] = format_datetime(SENT_AT)
    message.set_content(body)
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="signed.pdf")
    return bytes(message)


def upload(client: Client, raw: bytes, **query: str):  # type: ignore[no-untyped-def]
    url = "/api/emails" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return client.generic("POST", url, raw, content_type="message/rfc822")


@pytest.fixture
def kari(system_actor, now) -> Person:
    return services.create_person(
        actor=system_actor,
        now=now - dt.timedelta(days=365),
        source="form",
        values={"name": "Kari Testesen", "email": "kari.testesen@example.com"},
    )


def test_an_inbound_reply_is_stored_on_the_person(api_as, kari):
    response = upload(api_as("sales"), reply())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["direction"] == "inbound"
    assert body["person_ids"] == [kari.pk]
    assert body["unmatched_addresses"] == 0
    assert body["quarantined"] is False
    interaction = Interaction.objects.get(pk=body["interaction_ids"][0])
    assert interaction.summary == "We accept the offer.\n\nAttachments: signed.pdf"
    kari.refresh_from_db()
    assert kari.last_contact_at == SENT_AT


def test_sensitive_data_is_reported_as_held_back(api_as, kari):
    response = upload(api_as("customer_support"), reply(body="Kari is sykemeldt until Monday."))
    assert response.status_code == 201
    assert response.json()["quarantined"] is True
    assert QuarantinedText.objects.count() == 1
    assert "sykemeldt" not in Interaction.objects.get().summary


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the message is empty"),
        (bytes(range(256)) * 8, "not an email message: no mail headers were found"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "not an email message: no mail headers were found"),
        (b"To: kari.testesen@example.com\r\nSubject: hi\r\n\r\nhello", "the message has no From header"),
        (b"From: nobody\r\n\r\nhello", "the From header holds no valid email address"),
        (reply(sender="stranger@example.com"), "no sender or recipient matches a person in the customer system"),
    ],
)
def test_a_malformed_or_unmatched_upload_is_422_with_the_reason_and_nothing_stored(api_as, kari, raw, reason):
    response = upload(api_as("sales"), raw)
    assert response.status_code == 422, response.content
    assert response.json() == {"code": "invalid", "message": reason, "field": "message"}
    assert not Interaction.objects.exists()
    kari.refresh_from_db()
    assert kari.last_contact_at is None


def test_a_role_without_correspondence_is_refused(api_as, kari):
    response = upload(api_as("marketing"), reply())
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not Interaction.objects.exists()


def test_an_upload_needs_a_token(kari):
    assert upload(Client(), reply()).status_code == 401


def test_a_body_over_the_request_limit_is_413(api_as, kari, settings):
    # Forwarded emails may be up to 10 MiB (attachments); one byte more is refused.
    raw = reply(body="x" * (settings.TILLIT_LARGE_BODY_PATHS["/api/emails"] + 1))
    assert upload(api_as("sales"), raw).status_code == 413
    assert not Interaction.objects.exists()


def test_the_openapi_schema_documents_the_raw_message_body():
    schema = Client().get("/api/openapi.json").json()
    operation = schema["paths"]["/api/emails"]["post"]
    assert "message/rfc822" in operation["requestBody"]["content"]
    assert "201" in operation["responses"]

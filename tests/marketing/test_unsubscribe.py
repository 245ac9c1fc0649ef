"""One-click unsubscribe (RFC 8058): the POST works without cookies or a login, answers 200
without a redirect and takes effect at once; a GET changes nothing; a second POST is a no-op;
tampered links are refused and an old link still works; the mailto: works like the link. And
an address can get a link to its choices without the original email."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent, Subscription
from tillit.marketing import services
from tillit.marketing.tasks import send_campaign
from tillit.people import services as people

from .conftest import body, campaign_values, links

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(system_actor, now, subscribe, smtp_server):
    """Kari got a newsletter; returns (person, the message)."""
    kari = subscribe("kari.testesen@example.com")
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_campaign.call(campaign.pk)
    return kari, smtp_server.messages[-1]


def one_click_url(message) -> str:  # type: ignore[no-untyped-def]
    https = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    return https.removeprefix("https://tillit.example.com")


def is_subscribed(person) -> bool:  # type: ignore[no-untyped-def]
    return Subscription.objects.filter(person=person, unsubscribed_at=None).exists()


def test_the_one_click_post_unsubscribes_without_cookies_and_answers_200(received):
    kari, message = received
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        one_click_url(message), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert "Location" not in response
    assert not response.cookies
    assert not is_subscribed(kari)
    withdrawn = ConsentEvent.objects.filter(person=kari, purpose="newsletter", action="withdrawn").get()
    assert withdrawn.source_kind == "email_link"
    # Not erased: unsubscribing starts the 2 years of §9.
    kari.refresh_from_db()
    assert kari.retain_reason == "unsubscribed"
    assert kari.retain_until.year == withdrawn.occurred_at.year + 2
    # The same POST again: still 200, nothing changes.
    again = client.post(
        one_click_url(message), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert again.status_code == 200
    assert b'data-testid="already"' in again.content
    assert ConsentEvent.objects.filter(person=kari, action="withdrawn").count() == 1


def test_a_get_of_the_link_shows_a_button_and_changes_nothing(received):
    kari, message = received
    url = next(link for link in links(body(message)) if "/unsubscribe/" in link).removeprefix(
        "https://tillit.example.com"
    )
    assert url == one_click_url(message)
    for _ in range(3):  # link scanners open it, perhaps more than once
        response = Client().get(url)
        assert response.status_code == 200
        assert b'data-testid="unsubscribe"' in response.content
    assert is_subscribed(kari)
    assert not ConsentEvent.objects.filter(person=kari, action="withdrawn").exists()


def test_tampered_links_are_refused_and_an_old_link_still_works(received, now):
    kari, message = received
    url = one_click_url(message)
    token = url.split("/")[2]
    tampered = url.replace(token, token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"))
    assert Client().post(tampered).status_code == 400
    other_use = url.replace("/unsubscribe/", "/consent/")
    assert Client().get(other_use).status_code == 400, "a token for one use is worthless for another"
    assert is_subscribed(kari)
    # An email found years later in an archive: its unsubscribe link still works (RFC 8058).
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=5 * 365)):
        response = Client().post(url)
    assert response.status_code == 200
    assert not is_subscribed(kari)


def unsubscribe_email(message) -> bytes:  # type: ignore[no-untyped-def]
    """What a mail client sends for the List-Unsubscribe mailto: (RFC 2369)."""
    mailto = message["List-Unsubscribe"].split(",")[1].strip().strip("<>")
    address, _, query = mailto.removeprefix("mailto:").partition("?")
    subject = unquote(query.removeprefix("subject="))
    return f"From: kari.testesen@example.com\r\nTo: {address}\r\nSubject: {subject}\r\n\r\n\r\n".encode()


def test_the_mailto_unsubscribe_works_like_the_link(received, api_as, capsys, tmp_path):
    kari, message = received
    raw = unsubscribe_email(message)
    assert raw.startswith(b"From: kari.testesen@example.com\r\nTo: post@avara.no\r\nSubject: unsubscribe ")
    response = api_as("marketing").generic(
        "POST", "/api/marketing/delivery-notices", raw, content_type="message/rfc822"
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "unsubscribe"
    assert not is_subscribed(kari)
    withdrawn = ConsentEvent.objects.get(person=kari, purpose="newsletter", action="withdrawn")
    assert withdrawn.source_kind == "email_reply"
    # The same email again (a mail server retrying): nothing more happens.
    path = tmp_path / "unsubscribe.eml"
    path.write_bytes(raw)
    call_command("delivery_notice", str(path))
    assert "unsubscribe: nothing to stop (already unsubscribed, or erased)" in capsys.readouterr().out
    assert ConsentEvent.objects.filter(person=kari, action="withdrawn").count() == 1


def test_a_forged_mailto_unsubscribe_is_refused(received, api_as):
    kari, message = received
    raw = unsubscribe_email(message).replace(b"unsubscribe ", b"unsubscribe x", 1)
    response = api_as("marketing").generic(
        "POST", "/api/marketing/delivery-notices", raw, content_type="message/rfc822"
    )
    assert response.status_code == 400
    assert is_subscribed(kari)


def test_the_unsubscribe_of_a_direct_marketing_email_stops_direct_marketing_by_email_only(
    system_actor, now, smtp_server
):
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "A", "email": "a@example.com", "phone": "+4722334455"},
    )
    from tillit.consent import services as consent_services

    consent_services.record_consent(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="form",
        wording="Yes, tell me about your products.",
        language="en",
    )
    campaign = services.create_campaign(
        actor=system_actor, now=now, values=campaign_values(newsletter="", purpose="direct_marketing")
    )
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_campaign.call(campaign.pk)
    response = Client().post(
        one_click_url(smtp_server.messages[0]),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert not consent_selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="email").allowed
    assert consent_selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="phone").allowed


def test_an_address_can_ask_for_the_link_to_its_choices_without_the_original_email(
    system_actor, now, subscribe, smtp_server
):
    kari = subscribe("kari.testesen@example.com")
    client = Client()
    page = client.get("/preferences/")
    assert page.status_code == 200
    known = client.post("/preferences/", {"email": "Kari.Testesen@example.com"})
    unknown = client.post("/preferences/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content, "the page does not tell who is in the customer system"
    assert [m.envelope_to for m in smtp_server.messages] == [[kari.email]]
    choices = next(link for link in links(body(smtp_server.messages[0])) if "/consent/" in link)
    centre = client.get(choices.removeprefix("https://tillit.example.com"))
    assert centre.status_code == 200
    assert b'data-testid="newsletters"' in centre.content
    assert "Monthly news" in centre.content.decode()
    # Unsubscribe from the preference centre.
    token = choices.rstrip("/").rsplit("/", 1)[1]
    done = client.post(f"/consent/{token}/newsletters/", {"newsletter": "monthly", "action": "unsubscribe"})
    assert done.status_code == 200
    assert not is_subscribed(kari)

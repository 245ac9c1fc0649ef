"""Double opt-in: asking sends a confirmation email and subscribes nobody; only the POST from
its signed link subscribes, and the ledger records the wording, the request and the
confirmation. Nobody can subscribe someone else; replayed, tampered and expired links change
nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client

from tillit.consent.models import ConsentEvent, Subscription
from tillit.marketing import services
from tillit.marketing.models import SubscriptionRequest
from tillit.people.models import Person

from .conftest import body, links

pytestmark = pytest.mark.django_db


def confirm_path(message) -> str:  # type: ignore[no-untyped-def]
    found = [link for link in links(body(message)) if "/newsletter/confirm/" in link]
    assert len(found) == 1
    return found[0].removeprefix("https://tillit.example.com")


def test_subscribing_on_the_form_takes_the_click_in_the_confirmation_email(newsletter, smtp_server):
    client = Client()
    form = client.get("/newsletter/")
    assert "Monthly news" in form.content.decode()
    response = client.post(
        "/newsletter/", {"newsletter": "monthly", "email": "Kari.Testesen@example.com", "name": "Kari Testesen"}
    )
    assert response.status_code == 200
    assert b'data-testid="check-email"' in response.content
    assert not Person.objects.exists(), "nobody is registered before the click"
    assert not ConsentEvent.objects.exists()
    [message] = smtp_server.messages
    assert message.envelope_to == ["kari.testesen@example.com"]
    assert "Monthly news" in message["Subject"]
    path = confirm_path(message)

    # A link scanner (GET) subscribes nobody.
    scanner = Client().get(path)
    assert scanner.status_code == 200
    assert b'data-testid="confirm"' in scanner.content
    assert not Subscription.objects.exists()

    clicked = Client().post(path)
    assert clicked.status_code == 200
    assert b'data-testid="subscribed"' in clicked.content
    person = Person.objects.get(email="kari.testesen@example.com")
    assert Subscription.objects.filter(person=person, newsletter="monthly", unsubscribed_at=None).exists()
    event = ConsentEvent.objects.get(person=person)
    assert (event.purpose, event.channel, event.action, event.source_kind) == (
        "newsletter",
        "email",
        "given",
        "double_opt_in",
    )
    assert event.wording == (
        "Yes, Avara AS may send me Monthly news by email. I can unsubscribe at any time with the link in every email."
    )
    for words in ("asked", "(form)", "confirmed"):
        assert words in event.source_ref
    request = SubscriptionRequest.objects.get()
    assert request.confirmed_at is not None
    assert request.person_id == person.pk

    # The link replayed: nothing new.
    assert Client().post(path).status_code == 200
    assert ConsentEvent.objects.count() == 1


def test_tampered_and_expired_confirmation_links_subscribe_nobody(system_actor, now, newsletter, smtp_server):
    services.request_subscription(
        actor=system_actor,
        now=dt.datetime.now(tz=dt.UTC),
        email="kari.testesen@example.com",
        newsletter="monthly",
        language="en",
        source_kind="form",
        wording="Yes, send me Monthly news.",
    )
    path = confirm_path(smtp_server.messages[0])
    token = path.split("/")[3]
    assert Client().post(path.replace(token, token[:-2] + "xx")).status_code == 400
    assert Client().post("/newsletter/confirm/not-a-token/").status_code == 400
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=8)):
        assert Client().post(path).status_code == 410
    assert not Subscription.objects.exists()
    assert not Person.objects.exists()


def test_nobody_floods_a_mailbox_with_confirmations(system_actor, now, newsletter, smtp_server):
    for _ in range(5):
        services.request_subscription(
            actor=system_actor,
            now=now,
            email="kari.testesen@example.com",
            newsletter="monthly",
            language="en",
            source_kind="form",
            wording="Yes, send me Monthly news.",
        )
    assert len(smtp_server.messages) == services.MAX_REQUESTS_PER_DAY


def test_the_preference_centre_subscribes_through_the_same_confirmation(system_actor, now, subscribe, smtp_server):
    kari = subscribe("kari.testesen@example.com")
    services.create_newsletter(actor=system_actor, now=now, key="events", name={"en": "Events"}, description={})
    from tillit.consent.links import consent_page_url

    token = consent_page_url(str(kari.pseudonym)).rstrip("/").rsplit("/", 1)[1]
    page = Client().get(f"/consent/{token}/")
    assert "Events" in page.content.decode()
    response = Client().post(f"/consent/{token}/newsletters/", {"newsletter": "events", "action": "subscribe"})
    assert response.status_code == 200
    assert not Subscription.objects.filter(person=kari, newsletter="events").exists()
    [message] = smtp_server.messages
    assert message.envelope_to == [kari.email]
    Client().post(confirm_path(message))
    assert Subscription.objects.filter(person=kari, newsletter="events", unsubscribed_at=None).exists()
    assert ConsentEvent.objects.filter(person=kari, source_kind="double_opt_in").count() == 2


def test_unconfirmed_requests_are_forgotten_when_their_link_expires(system_actor, now, newsletter, smtp_server):
    services.request_subscription(
        actor=system_actor,
        now=now - dt.timedelta(days=8),
        email="kari.testesen@example.com",
        newsletter="monthly",
        language="en",
        source_kind="form",
        wording="Yes",
    )
    assert services.forget_unconfirmed_requests(actor=system_actor, now=now) == 1
    assert not SubscriptionRequest.objects.exists()

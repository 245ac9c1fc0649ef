"""The person's own consent page: a signed link, no login, one click to withdraw; a GET
changes nothing; a tampered or expired link says so."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client

from tillit.consent import selectors, services
from tillit.consent.links import consent_page_url
from tillit.consent.models import ConsentEvent
from tillit.people import services as people
from tillit.people.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(system_actor, now):
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Ola Testmann", "email": "ola.testmann@example.com", "language": "nb"},
    )
    services.record_consent(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Ja, send meg nyhetsbrevet.",
        language="nb",
    )
    return person


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def test_the_page_shows_the_consents_and_a_get_changes_nothing(person):
    url = path_of(consent_page_url(str(person.pseudonym)))
    assert "ola" not in url.lower(), "no personal data in the URL"
    response = Client().get(url)
    assert response.status_code == 200
    assert 'data-testid="withdraw-all"' in response.content.decode()
    assert selectors.consent_state(person_id=person.pk) == {("newsletter", "email"): "given"}


def test_one_click_withdraws_and_erases_when_nothing_else_holds(person):
    url = path_of(consent_page_url(str(person.pseudonym)))
    response = Client(enforce_csrf_checks=True).post(url + "act/", {})
    assert response.status_code == 200
    assert 'data-testid="erased"' in response.content.decode()
    assert not Person.objects.filter(pk=person.pk).exists()
    again = Client().get(url)
    assert again.status_code == 400
    assert "no data about you" in again.content.decode()


def test_withdrawal_that_keeps_a_customer_says_why(person, system_actor, now):
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    url = path_of(consent_page_url(str(person.pseudonym)))
    response = Client().post(url + "act/", {"lang": "en"})
    text = response.content.decode()
    assert 'data-testid="kept"' in text
    assert "customer relationship" in text
    assert Person.objects.filter(pk=person.pk).exists()
    withdrawn = ConsentEvent.objects.filter(action="withdrawn", source_kind="email_link")
    assert withdrawn.filter(purpose="newsletter").count() == 1
    # "Withdraw everything" also closes the purposes with no entry yet (a consent still queued).
    assert set(selectors.consent_state(person_id=person.pk).values()) == {"withdrawn"}


def test_objection_from_the_page(person):
    url = path_of(consent_page_url(str(person.pseudonym)))
    Client().post(url + "act/", {"action": "object"})
    assert selectors.consent_state(person_id=person.pk)[("direct_marketing", "all")] == "objected"


def test_a_tampered_link_says_so(person):
    url = path_of(consent_page_url(str(person.pseudonym)))
    response = Client().get(url[:-3] + "xyz/")
    assert response.status_code == 400
    assert "does not work" in response.content.decode()
    assert Client().post(url[:-3] + "xyz/act/").status_code == 400
    assert selectors.consent_state(person_id=person.pk) == {("newsletter", "email"): "given"}


def test_an_expired_link_says_so_and_offers_a_fresh_one(person):
    url = path_of(consent_page_url(str(person.pseudonym)))
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=400)):
        response = Client().get(url)
    assert response.status_code == 410
    text = response.content.decode()
    assert "expired" in text
    assert "/rights" in text


def test_global_privacy_control_from_an_identified_visitor_is_an_objection(person):
    url = path_of(consent_page_url(str(person.pseudonym)))
    response = Client(headers={"Sec-GPC": "1"}).get(url)
    assert 'data-testid="gpc"' in response.content.decode()
    state = selectors.consent_state(person_id=person.pk)
    assert state[("personalisation", "web")] == "objected"
    assert state[("partner_sharing", "all")] == "objected"
    assert ConsentEvent.objects.filter(source_kind="gpc").count() == 2
    Client(headers={"Sec-GPC": "1"}).get(url)
    assert ConsentEvent.objects.filter(source_kind="gpc").count() == 2, "recorded once"
    Client(headers={"Sec-GPC": "0"}).get(url)
    assert ConsentEvent.objects.filter(source_kind="gpc").count() == 2

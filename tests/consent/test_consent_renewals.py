"""A consent close to the end of its lifetime is asked about once (policy §5,
``[consent_lifetime]``): the daily job emails a link to the person's own consent page in the last
30 days, claimed first and re-checked at the attempt (a withdrawal meanwhile sends nothing),
never twice for the same giving, never after the consent lapsed (asking would itself be
marketing); "Keep it" on the page records the consent again and restarts its lifetime. A
real SMTP server (aiosmtpd) receives the mail; the days pass by time travel."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client

from tillit.consent import renewals, selectors, services
from tillit.consent.models import ConsentEvent, ConsentRenewal
from tillit.consent.tasks import ask_to_renew_consents
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.people.models import Person
from tillit.policy.retention import add_years

pytestmark = pytest.mark.django_db
GIVEN = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
END = add_years(GIVEN, 2)  # 24 months: the consent lapses here
WINDOW = END - dt.timedelta(days=30)  # the renewal may be asked from here
ACTOR = Actor.system("tests")


@pytest.fixture(autouse=True)
def _run_tasks_immediately(immediate_tasks):  # type: ignore[no-untyped-def]
    pass


def consenting(name: str, email: str, *, language: str = "en") -> Person:
    person = people.create_person(
        actor=ACTOR, now=GIVEN, source="form", values={"name": name, "email": email, "language": language}
    )
    services.record_consent(
        actor=ACTOR,
        now=GIVEN,
        person_id=person.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter from Avara AS. I can withdraw at any time.",
        language=language,
    )
    return person


def run(at: dt.datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return ask_to_renew_consents.enqueue().return_value  # type: ignore[no-any-return]


def test_the_renewal_is_asked_once_in_the_last_30_days_and_keep_it_restarts_the_lifetime(smtp_server):
    kari = consenting("Kari Nordmann", "kari@example.com", language="nb")
    busy = consenting("Ola Aktiv", "ola@example.com")
    people.record_interaction(
        actor=ACTOR, now=GIVEN + dt.timedelta(days=60), person_id=busy.pk, kind="form", direction="inbound"
    )

    assert run(WINDOW - dt.timedelta(seconds=1))["sent"] == 0, "not yet in the last 30 days"
    assert smtp_server.messages == []
    assert run(WINDOW) == {"recorded": 1, "sent": 1, "failed": 0, "skipped": 0}
    [message] = smtp_server.messages
    assert message["To"] == "kari@example.com"
    assert message["Subject"] == "Vil du fortsatt høre fra Avara AS?"
    assert message["Message-ID"] == renewals.message_id(renewal_id=ConsentRenewal.objects.get().pk)
    body = message.get_content()
    assert "24 måneder" in body
    assert "Nyhetsbrev og annet innhold du har valgt å motta" in body
    assert run(WINDOW + dt.timedelta(days=1))["sent"] == 0
    assert run(END - dt.timedelta(seconds=1))["sent"] == 0
    assert len(smtp_server.messages) == 1, "asked once"
    assert run(END)["sent"] == 0, "lapsed: never asked after it"

    # Kari follows the link and keeps her consent, days before it lapses.
    link = re.search(r"https?://\S+/consent/\S+/", body)
    assert link is not None
    path = link.group(0).split("://", 1)[1].split("/", 1)[1]
    client = Client()
    with time_machine.travel(WINDOW + dt.timedelta(days=2), tick=False):
        page = client.get(f"/{path}?lang=nb")
        assert page.status_code == 200
        assert 'data-testid="renew-newsletter"' in page.content.decode()
        done = client.post(f"/{path}act/", {"action": "renew", "purpose": "newsletter", "lang": "nb"})
        assert done.status_code == 200
        assert 'data-testid="renewed"' in done.content.decode()
    renewal = ConsentEvent.objects.filter(person=kari, purpose="newsletter").order_by("-occurred_at").first()
    assert renewal is not None
    assert (renewal.action, renewal.source_kind) == ("given", "email_link")
    assert renewal.wording.startswith("Ja, Avara AS kan fortsatt")
    in_audience = set(selectors.audience(purpose="newsletter", channel="email", now=END).values_list("pk", flat=True))
    assert in_audience == {kari.pk, busy.pk}, "renewed, and engaged: both still count at the end"
    # The renewed consent is a new giving: asked about once more, two years on.
    assert run(add_years(WINDOW + dt.timedelta(days=2), 2) - dt.timedelta(days=1))["sent"] == 1


def test_a_withdrawal_before_the_attempt_sends_nothing(smtp_server):
    kari = consenting("Kari Nordmann", "kari@example.com")
    people.start_customer_relationship(actor=ACTOR, now=GIVEN, person_id=kari.pk)  # kept after withdrawing
    ola = consenting("Ola Nordmann", "ola@example.com")  # erased when he withdraws his only consent
    with time_machine.travel(WINDOW, tick=False):
        assert renewals.record_due(now=WINDOW) == 2
    for person in (kari, ola):
        services.withdraw_consent(
            actor=ACTOR,
            now=WINDOW + dt.timedelta(minutes=1),
            person_id=person.pk,
            source_kind="email_link",
            language="en",
            purpose="newsletter",
        )
    result = run(WINDOW + dt.timedelta(minutes=2))
    assert (result["sent"], result["skipped"]) == (0, 1)
    assert smtp_server.messages == []
    [left] = ConsentRenewal.objects.all()
    assert (left.person_id, left.status) == (kari.pk, ConsentRenewal.Status.SKIPPED), "Ola's went with him"
    assert run(WINDOW + dt.timedelta(days=1))["sent"] == 0


def test_a_dead_workers_claim_is_taken_over_with_the_same_message_id(smtp_server):
    consenting("Kari Nordmann", "kari@example.com")
    with time_machine.travel(WINDOW, tick=False):
        renewals.record_due(now=WINDOW)
        renewal = ConsentRenewal.objects.get()
        claim = renewals.claim(renewal_id=renewal.pk, now=WINDOW)  # a worker claims, then dies
    assert claim is not None
    assert run(WINDOW + dt.timedelta(minutes=10))["sent"] == 0, "another worker holds the claim"
    assert run(WINDOW + renewals.LEASE + dt.timedelta(minutes=1))["sent"] == 1
    [message] = smtp_server.messages
    assert message["Message-ID"] == claim.message_id


def test_a_failed_send_gives_the_claim_back(settings):
    consenting("Kari Nordmann", "kari@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    result = run(WINDOW)
    assert (result["sent"], result["failed"]) == (0, 1)
    assert ConsentRenewal.objects.get().status == ConsentRenewal.Status.PENDING

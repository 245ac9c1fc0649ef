"""GDPR art. 14 (§4, §6): people we did not hear from directly are told within one month, in
their language, with the link to /privacy and to their own preference page, and it is
recorded; or the exemption the policy claims for the source is recorded and the notice says
so. A daily job does it (claimed before sending, idempotent); `tillit verify` reports anyone
past the month who was neither told nor exempt. Mail goes to a real SMTP server."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tillit.cli.management.commands.scheduler import jobs
from tillit.consent import indirect
from tillit.consent.models import IndirectNotice
from tillit.consent.tasks import send_indirect_notices
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.people.models import Person
from tillit.public.notice import render_notice_text
from tillit.sharing import verifier

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _run_tasks_immediately(immediate_tasks):  # type: ignore[no-untyped-def]
    pass


def register(name: str, source: str, *, at: dt.datetime, email: str | None, language: str = "en") -> Person:
    values = {"name": name, "language": language, **({"email": email} if email else {})}
    return people.create_person(actor=Actor.system("tests"), now=at, source=source, values=values)


def not_informed(now: dt.datetime) -> dict[str, str]:
    return {v.subject: v.detail for v in verifier.violations(now=now) if v.kind == "art14_not_informed"}


def test_people_from_indirect_sources_are_told_in_their_language_or_recorded_exempt(smtp_server) -> None:  # type: ignore[no-untyped-def]
    card = register("Karin Visitkort", "business_card", at=START, email="karin@example.com", language="sv")
    event = register("Nils Deltaker", "partner_event", at=START, email="nils@example.com", language="nb")
    registry = register("Eva Enkeltperson", "public_register", at=START, email=None, language="nb")
    direct = register("Per Skjema", "form", at=START, email="per@example.com")
    unreachable = register("Ola Uten Adresse", "business_card", at=START, email=None)

    with time_machine.travel(START + dt.timedelta(days=1), tick=False):
        result = send_indirect_notices.enqueue()
    assert result.return_value == {"pending": 3, "exempt": 1, "sent": 2, "failed": 0, "unreachable": 1}

    by_recipient = {m["To"]: m for m in smtp_server.messages}
    assert set(by_recipient) == {"karin@example.com", "nils@example.com"}
    swedish = by_recipient["karin@example.com"]
    body = swedish.get_content()
    assert swedish["Subject"] == "Avara AS har registrerat uppgifter om dig"
    assert "Ett visitkort som lämnats till vår personal" in body  # the source, in Swedish
    assert "/privacy?lang=sv" in body
    assert "/consent/" in body  # their own preference page
    assert "Namn" in body
    assert "E-postadress" in body
    assert "Datatilsynet" in body
    norwegian = by_recipient["nils@example.com"].get_content()
    assert "En partner vi holdt et arrangement med" in norwegian
    assert "/privacy?lang=nb" in norwegian

    notices = {n.person_id: n for n in IndirectNotice.objects.all()}
    assert notices[card.pk].status == "sent"
    assert notices[card.pk].sent_at == START + dt.timedelta(days=1)
    assert notices[card.pk].language == "sv"
    assert swedish["Message-ID"] == indirect.message_id(notice_id=notices[card.pk].pk)
    assert notices[event.pk].status == "sent"
    assert (notices[registry.pk].status, notices[registry.pk].exemption) == ("exempt", "14(5)(b)")
    assert notices[unreachable.pk].status == "pending"
    assert direct.pk not in notices

    with time_machine.travel(START + dt.timedelta(days=2), tick=False):
        send_indirect_notices.enqueue()
    assert len(smtp_server.messages) == 2, "a second run tells nobody twice"

    # Within the month nobody is reported; past it, only the person who could not be told.
    assert not_informed(START + dt.timedelta(days=20)) == {}
    assert not_informed(START + dt.timedelta(days=40)) == {
        f"person:{unreachable.pseudonym}": "business_card: not told, due 2026-11-01"
    }


def test_verify_reports_anyone_past_the_month_neither_told_nor_exempt(smtp_server) -> None:  # type: ignore[no-untyped-def]
    late = register("Lise Sent", "partner_event", at=START, email="lise@example.com")
    recent = register("Rolf Ny", "partner_event", at=START + dt.timedelta(days=25), email="rolf@example.com")
    exempt = register("Eva Register", "public_register", at=START, email=None)
    now = START + dt.timedelta(days=35)
    # Nobody ran the job: the person obtained over a month ago is reported, the others not.
    assert not_informed(now) == {f"person:{late.pseudonym}": "partner_event: not told, due 2026-11-01"}
    # Told after the month: still reported, as late.
    with time_machine.travel(now, tick=False):
        send_indirect_notices.enqueue()
    assert {m["To"] for m in smtp_server.messages} == {"lise@example.com", "rolf@example.com"}
    assert not_informed(now) == {f"person:{late.pseudonym}": "partner_event: told 4 days late"}
    assert IndirectNotice.objects.get(person=exempt).status == "exempt"
    assert IndirectNotice.objects.get(person=recent).status == "sent"


def test_a_claimed_notice_is_sent_once_and_a_dead_workers_claim_is_taken_over(smtp_server) -> None:  # type: ignore[no-untyped-def]
    person = register("Kari Kort", "business_card", at=START, email="kari@example.com")
    indirect.record_due(now=START)
    notice = IndirectNotice.objects.get(person=person)
    # A worker claimed it and died before sending.
    assert indirect.claim(notice_id=notice.pk, now=START)
    assert not indirect.claim(notice_id=notice.pk, now=START), "a claim is taken once"
    with time_machine.travel(START + dt.timedelta(minutes=10), tick=False):
        send_indirect_notices.enqueue()
    assert smtp_server.messages == [], "another worker holds the claim"
    with time_machine.travel(START + indirect.LEASE + dt.timedelta(minutes=1), tick=False):
        send_indirect_notices.enqueue()
    [message] = smtp_server.messages
    assert message["Message-ID"] == indirect.message_id(notice_id=notice.pk)
    assert IndirectNotice.objects.get(pk=notice.pk).status == "sent"


def test_a_failed_send_gives_the_claim_back(settings) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    person = register("Kari Kort", "business_card", at=START, email="kari@example.com")
    with time_machine.travel(START + dt.timedelta(days=1), tick=False):
        result = send_indirect_notices.enqueue()
    assert result.return_value["failed"] == 1
    notice = IndirectNotice.objects.get(person=person)
    assert (notice.status, notice.claimed_at) == ("pending", None)


def test_the_job_is_daily_and_the_notice_names_the_exemption_in_every_language() -> None:
    assert "consent.art14_notices" in [job.name for job in jobs()]
    assert "we do not tell you individually (GDPR art. 14(5)(b))" in render_notice_text("en")
    assert "Registret ger oss företagens namn" in render_notice_text("sv")
    assert "Registeret gir oss navn" in render_notice_text("nb")
    assert "14(5)(b)" in render_notice_text("sv")
    assert "14(5)(b)" in render_notice_text("nb")


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_notice_at_once_one_wins() -> None:
    """On PostgreSQL, against real row locks: two connections claim the same notice at the
    same instant (a barrier); exactly one gets it, so it is sent once."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("the race is between two PostgreSQL connections")
    person = register("Kari Kort", "business_card", at=START, email="kari@example.com")
    indirect.record_due(now=START)
    notice = IndirectNotice.objects.get(person=person)
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(indirect.claim(notice_id=notice.pk, now=START + dt.timedelta(minutes=1)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert IndirectNotice.objects.get(pk=notice.pk).status == "sending"


def test_staff_register_a_person_from_a_business_card_and_the_person_is_told(staff_client, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from tillit.people.models import Provenance

    client = staff_client("customer_support")
    page = client.get("/people/new/")
    assert "A business card given to our staff" in page.content.decode()
    refused = client.post("/people/new/", {"name": "Kort Person", "source": "a_napkin"})
    assert refused.status_code == 422
    assert "source" in refused.context["form"].errors
    response = client.post(
        "/people/new/", {"name": "Kort Person", "email": "kort@example.com", "source": "business_card"}
    )
    assert response.status_code == 302
    person = Person.objects.get(email="kort@example.com")
    assert set(Provenance.objects.filter(person=person).values_list("source", flat=True)) == {"business_card"}
    send_indirect_notices.enqueue()
    assert [m["To"] for m in smtp_server.messages] == ["kort@example.com"]

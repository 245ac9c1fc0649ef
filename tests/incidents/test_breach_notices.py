"""Art. 34: the people a breach affected are told, each in their language (en, sv, nb), by the
task worker, through a real SMTP server (aiosmtpd). Each notice is claimed before sending,
re-checked at the attempt (an erased person gets nothing; a person without an address is
recorded as unreachable), carries the Message-ID recorded at the claim, and is recorded per
person; a second run, or a worker taking over a dead one's claim, tells nobody twice."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor
from tillit.incidents import selectors, services
from tillit.incidents.models import AffectedPerson
from tillit.incidents.tasks import send_breach_notices
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention

pytestmark = pytest.mark.django_db
AWARE = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _run_tasks_immediately(immediate_tasks):  # type: ignore[no-untyped-def]
    pass


def register(name: str, email: str | None, language: str) -> Person:
    values = {"name": name, "language": language, **({"email": email} if email else {})}
    return people.create_person(actor=SYSTEM, now=AWARE - dt.timedelta(days=30), source="form", values=values)


@pytest.fixture
def setting(staff_actor):  # type: ignore[no-untyped-def]
    officer = staff_actor("privacy_officer")
    incident = services.record_incident(
        actor=officer,
        now=AWARE,
        aware_at=AWARE,
        title="Mailbox compromised",
        description="A phishing email gave an outsider access to the sales mailbox for two hours.",
        categories=["name", "email"],
        approximate_people=4,
        consequences="You may receive emails that pretend to come from us.",
        measures="The password was changed and two-factor sign-in turned on.",
    )
    crowd = {
        "en": register("Emma English", "emma@example.com", "en"),
        "sv": register("Karin Svensk", "karin@example.com", "sv"),
        "nb": register("Nils Norsk", "nils@example.com", "nb"),
        "none": register("Ola Uten Adresse", None, "nb"),
        "erased": register("Eva Slettet", "eva@example.com", "nb"),
    }
    # Everyone the support member read that morning.
    support = staff_actor("customer_support")
    from tillit.people import selectors as people_selectors

    for someone in crowd.values():
        people_selectors.get_person(actor=support, now=AWARE - dt.timedelta(hours=1), person_id=someone.pk)
    question = selectors.ReadByStaff(support.user_id, AWARE - dt.timedelta(hours=2), AWARE)
    assert services.attach_affected(actor=officer, now=AWARE, incident_id=incident.pk, question=question) == 5
    return officer, incident, crowd


def test_each_person_is_told_once_in_their_language_and_it_is_recorded(setting, smtp_server) -> None:  # type: ignore[no-untyped-def]
    officer, incident, crowd = setting
    assert services.request_notices(actor=officer, now=AWARE, incident_id=incident.pk) == 5
    # Eva is erased after being attached and before the worker runs: she is no longer in the set.
    retention.erase_person(actor=SYSTEM, now=AWARE, person_id=crowd["erased"].pk, reason="request")

    with time_machine.travel(AWARE + dt.timedelta(hours=1), tick=False):
        result = send_breach_notices.enqueue(incident.pk)
    assert result.return_value == {"sent": 3, "failed": 0, "skipped": 1}

    by_recipient = {m["To"]: m for m in smtp_server.messages}
    assert set(by_recipient) == {"emma@example.com", "karin@example.com", "nils@example.com"}
    assert by_recipient["emma@example.com"]["Subject"] == "Avara AS: a security breach concerning your personal data"
    english = by_recipient["emma@example.com"].get_content()
    assert "A phishing email gave an outsider access" in english
    assert "You may receive emails that pretend to come from us." in english
    assert "The password was changed" in english
    assert "Datatilsynet" in english
    swedish = by_recipient["karin@example.com"]
    assert swedish["Subject"].strip() == "Avara AS: en säkerhetsincident som rör dina personuppgifter"
    assert "Vad som hände:" in swedish.get_content()
    assert "Namn" in swedish.get_content()
    norwegian = by_recipient["nils@example.com"]
    assert norwegian["Subject"].strip() == "Avara AS: et sikkerhetsbrudd som gjelder personopplysningene dine"
    assert "Hva som skjedde:" in norwegian.get_content()

    rows = {r.person_id: r for r in AffectedPerson.objects.filter(incident=incident)}
    assert crowd["erased"].pk not in rows
    karin = rows[crowd["sv"].pk]
    assert (karin.notice_status, karin.notice_language) == ("sent", "sv")
    assert karin.notice_sent_at == AWARE + dt.timedelta(hours=1)
    assert swedish["Message-ID"] == karin.notice_message_id == services.message_id_for(karin.pk)
    assert rows[crowd["none"].pk].notice_status == "unreachable"
    sent_entries = AuditEntry.objects.filter(action="breach_notice_sent", subject_type="person")
    assert set(sent_entries.values_list("subject_id", flat=True)) == {crowd[k].pk for k in ("en", "sv", "nb")}

    # A second run (or a second click) tells nobody twice.
    services.request_notices(actor=officer, now=AWARE + dt.timedelta(hours=2), incident_id=incident.pk)
    with time_machine.travel(AWARE + dt.timedelta(hours=2), tick=False):
        send_breach_notices.enqueue(incident.pk)
    assert len(smtp_server.messages) == 3
    shown = selectors.incident(actor=officer, now=AWARE, incident_id=incident.pk)
    assert shown["notices"] == {"sent": 3, "unreachable": 1}


def test_a_dead_workers_claim_is_taken_over_with_the_same_message_id(setting, smtp_server) -> None:  # type: ignore[no-untyped-def]
    officer, incident, crowd = setting
    services.request_notices(actor=officer, now=AWARE, incident_id=incident.pk)
    row = AffectedPerson.objects.get(incident=incident, person=crowd["nb"])
    # A worker claimed Nils's notice and died before recording it.
    claim = services.claim_notice(now=AWARE, affected_id=row.pk)
    assert claim is not None
    assert services.claim_notice(now=AWARE, affected_id=row.pk) is None, "a claim is taken once"
    with time_machine.travel(AWARE + dt.timedelta(minutes=10), tick=False):
        send_breach_notices.enqueue(incident.pk)
    assert "nils@example.com" not in {m["To"] for m in smtp_server.messages}, "another worker holds the claim"
    with time_machine.travel(AWARE + services.LEASE + dt.timedelta(minutes=1), tick=False):
        send_breach_notices.enqueue(incident.pk)
    [nils] = [m for m in smtp_server.messages if m["To"] == "nils@example.com"]
    assert nils["Message-ID"] == claim.message_id
    assert AffectedPerson.objects.get(pk=row.pk).notice_status == "sent"


def test_a_refused_send_gives_the_claim_back(setting, settings) -> None:  # type: ignore[no-untyped-def]
    from ..conftest import free_port

    officer, incident, _crowd = setting
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False  # nobody listens
    services.request_notices(actor=officer, now=AWARE, incident_id=incident.pk)
    with time_machine.travel(AWARE, tick=False):
        result = send_breach_notices.enqueue(incident.pk)
    assert result.return_value["failed"] == 4
    statuses = set(AffectedPerson.objects.filter(incident=incident).values_list("notice_status", flat=True))
    assert statuses == {"pending", "unreachable"}

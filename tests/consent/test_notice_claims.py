"""The updated-notice email (§14, ``tillit notice inform``) is claimed before it is sent and the
rule asked again at the attempt (issue 24, item 6): two runs at once mail a person once;
someone who objected since, or was erased a moment earlier, gets nothing; a run that died
after sending leaves a claim whose email goes again with the same Message-ID. A real SMTP
server receives the mail; the overlap is forced by holding the server's answer."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, transaction

from tillit.consent import mail, selectors, services
from tillit.consent.models import NoticeDelivery, NoticeVersion
from tillit.consent.tasks import inform_of_new_purposes
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention

from ..interleaving import Background, backend_pid, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def told_less(system_actor, now):  # type: ignore[no-untyped-def]
    """A person given an old notice that lacks purposes now in force, and the current one."""
    old = NoticeVersion.objects.create(
        digest="3" * 64,
        policy_digest="old",
        published_at=now - dt.timedelta(days=3000),
        purposes=["newsletter"],
        texts={},
    )
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Svensson", "email": "kari@example.com", "language": "sv"},
    )
    Person.objects.filter(pk=person.pk).update(notice_version=old)
    return person, selectors.current_notice()


def test_two_runs_at_once_mail_the_person_once(told_less, smtp_server):
    person, current = told_less
    in_first_send, second_done = threading.Event(), threading.Event()
    original = smtp_server.handle_DATA

    async def hold_the_first_answer(server, session, envelope):  # type: ignore[no-untyped-def]
        answer = await original(server, session, envelope)
        if not in_first_send.is_set():
            in_first_send.set()
            assert second_done.wait(20), "the second run never finished"
        return answer

    smtp_server.handle_DATA = hold_the_first_answer
    first = Background(lambda: inform_of_new_purposes.call([person.pk], current.pk))
    assert in_first_send.wait(20)
    second = inform_of_new_purposes.call([person.pk], current.pk)  # while the first one sends
    second_done.set()

    assert second == {"sent": 0, "skipped": 1}
    assert first.result() == {"sent": 1, "skipped": 0}
    assert [m["To"] for m in smtp_server.messages] == ["kari@example.com"]
    delivery = NoticeDelivery.objects.get(person=person, notice_version=current)
    assert delivery.sent_at is not None
    assert delivery.claimed_until is None
    assert smtp_server.messages[0]["Message-ID"] == delivery.message_id


def test_someone_who_objected_since_the_run_was_enqueued_gets_nothing(told_less, system_actor, now, smtp_server):
    person, current = told_less
    services.object_to_direct_marketing(
        actor=system_actor, now=now, person_id=person.pk, source_kind="staff", language="sv"
    )
    assert inform_of_new_purposes.call([person.pk], current.pk) == {"sent": 0, "skipped": 1}
    assert smtp_server.messages == []


def test_someone_being_erased_when_the_run_comes_gets_nothing(told_less, system_actor, now, smtp_server):
    """PostgreSQL: the erasure holds the person's row when the run reaches them; the claim
    waits for it and then finds nobody."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the run sees the erasure before or after, whole")
    person, current = told_less
    runner = backend_pid()
    erasing = threading.Event()

    def erase_and_commit_once_the_run_waits() -> bool:
        with transaction.atomic():
            retention.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request")
            erasing.set()
            return wait_until_blocked(runner)

    other = Background(erase_and_commit_once_the_run_waits)
    assert erasing.wait(20)
    result = inform_of_new_purposes.call([person.pk], current.pk)
    assert other.result() is True, "the run waited for the person's lock"
    assert result == {"sent": 0, "skipped": 1}
    assert smtp_server.messages == []


def test_a_run_that_died_after_sending_is_repeated_with_the_same_message_id(told_less, smtp_server):
    person, current = told_less
    claim = services.claim_notice_email(now=dt.datetime.now(dt.UTC), person_id=person.pk, notice_version_id=current.pk)
    assert claim is not None
    message = mail.notice_update_message(
        email=claim.email, name=claim.name, language=claim.language, pseudonym=claim.pseudonym, purposes=claim.purposes
    )
    message.extra_headers["Message-ID"] = claim.message_id
    message.send()  # ... and the run died before recording it

    assert inform_of_new_purposes.call([person.pk], current.pk) == {"sent": 0, "skipped": 1}, "held by the claim"
    later = dt.datetime.now(dt.UTC) + services.NOTICE_EMAIL_LEASE + dt.timedelta(seconds=5)
    with time_machine.travel(later, tick=False):
        assert inform_of_new_purposes.call([person.pk], current.pk) == {"sent": 1, "skipped": 0}
    first, second = smtp_server.messages
    assert first["Message-ID"] == second["Message-ID"] == claim.message_id, "a repeat the mailbox can recognise"
    assert not selectors.people_to_inform().filter(pk=person.pk).exists()

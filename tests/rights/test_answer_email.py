"""The answer to a request is never lost (issue 24, item 6): it is written with the request, in
the same transaction, and sent by a task after the commit, claimed first. A mail server that is
down (or a process that dies) at the moment the request completes does not lose it: the daily
run sends it. A worker that dies after sending leaves a claim; the email goes again once the
claim lapsed, with the same Message-ID. Once sent, the address is gone from the row."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tillit.people.models import Person
from tillit.retention.selectors import find_identifiers
from tillit.rights import services
from tillit.rights.models import DataSubjectRequest, RequestEmail
from tillit.rights.tasks import expire_unverified_requests

from ..conftest import free_port
from .test_requests import PORTAL, link_token, make_person, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(now):  # type: ignore[no-untyped-def]
    with time_machine.travel(now, tick=False):
        yield


def test_an_erasure_completed_while_the_mail_server_is_down_is_still_answered(
    system_actor, now, smtp_server, immediate_tasks, settings
):
    person = make_person(system_actor, now, 1)
    submit(now, "testperson1@example.com", kind="erasure")
    token = link_token(smtp_server.messages[0])
    up = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # the mail server is down as the request completes

    completion = services.confirm_verification(actor=PORTAL, now=now, token=token)

    assert completion.status == "completed"
    assert not Person.objects.filter(pk=person.pk).exists()
    assert len(smtp_server.messages) == 1, "only the verification link so far"
    waiting = RequestEmail.objects.get(request__kind="erasure")
    assert (waiting.kind, waiting.sent_at, waiting.attempts) == ("answer", None, 1)

    settings.EMAIL_PORT = up
    with time_machine.travel(now + services.EMAIL_RETRY, tick=False):
        expire_unverified_requests.call()  # the daily run

    answer = smtp_server.messages[-1]
    assert answer["To"] == "testperson1@example.com"
    assert answer["Message-ID"] == waiting.message_id
    assert "The answer to your request" in answer["Subject"]
    sent = RequestEmail.objects.get(pk=waiting.pk)
    assert sent.sent_at is not None
    assert sent.email == ""
    assert find_identifiers(["testperson1@example.com"]) == [], "nothing of the erased person is left once answered"


def test_an_answer_whose_task_was_lost_is_sent_by_the_daily_run(system_actor, now, smtp_server, settings):
    """The default task backend queues the email; its worker never runs it (the process that
    completed the request died before handing it over, or the queue lost it)."""
    make_person(system_actor, now, 2)
    submit(now, "testperson2@example.com", kind="access")
    services.send_verification_link(
        actor=system_actor, now=now, request_id=DataSubjectRequest.objects.get().pk
    )  # (the task the portal enqueued)
    services.confirm_verification(actor=PORTAL, now=now, token=link_token(smtp_server.messages[-1]))
    assert RequestEmail.objects.filter(sent_at=None).count() == 1
    before = len(smtp_server.messages)

    assert services.send_due_emails(now=now) == 1

    assert len(smtp_server.messages) == before + 1
    assert "/rights/download/" in smtp_server.messages[-1].get_content()
    assert services.send_due_emails(now=now + dt.timedelta(days=1)) == 0, "sent once"


def test_a_worker_that_died_after_sending_is_repeated_with_the_same_message_id(
    system_actor, now, smtp_server, immediate_tasks, settings
):
    make_person(system_actor, now, 3)
    submit(now, "testperson3@example.com", kind="erasure")
    token = link_token(smtp_server.messages[0])
    settings.EMAIL_PORT, up = free_port(), settings.EMAIL_PORT
    services.confirm_verification(actor=PORTAL, now=now, token=token)
    settings.EMAIL_PORT = up
    row = RequestEmail.objects.get()
    # A worker claims it and sends it ... and dies before recording it.
    RequestEmail.objects.filter(pk=row.pk).update(claimed_until=now + services.EMAIL_LEASE)
    services._render(RequestEmail.objects.select_related("request").get(pk=row.pk)).send()

    assert services.send_request_email(now=now, email_id=row.pk) is False, "no second send while claimed"
    assert services.send_due_emails(now=now + services.EMAIL_LEASE) == 1

    first, second = smtp_server.messages[1:]
    assert first["Message-ID"] == second["Message-ID"] == row.message_id, "a repeat the mailbox can recognise"
    assert services.send_due_emails(now=now + dt.timedelta(days=1)) == 0

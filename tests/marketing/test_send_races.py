"""No message after a change of mind has committed (issue 24, item 1): the batch was checked
against the rule before it started, but a person who objects, unsubscribes or withdraws while
the batch is sending gets nothing, because each message's claim asks the rule again.

The interleavings are forced: the SMTP server holds its answer to the first message until
another thread (its own database connection) has committed the change; on PostgreSQL the
change is also caught half-way (holding the person's row lock) when the claim comes."""

from __future__ import annotations

import threading

import pytest
from django.core.mail import get_connection
from django.db import connection, transaction

from tillit.consent import services as consent_services
from tillit.marketing import services
from tillit.marketing.models import SendRecord

from ..interleaving import Background, backend_pid, wait_until_blocked
from .conftest import campaign_values

pytestmark = pytest.mark.django_db(transaction=True)


def change_of_mind(kind: str, actor, now, person_id: int) -> None:  # type: ignore[no-untyped-def]
    if kind == "objection":
        consent_services.object_to_direct_marketing(
            actor=actor, now=now, person_id=person_id, source_kind="email_link", language="en"
        )
    elif kind == "unsubscribe":
        services.unsubscribe(
            actor=actor,
            now=now,
            person_id=person_id,
            newsletter="monthly",
            purpose=None,
            source_kind="email_link",
            language="en",
        )
    else:
        consent_services.withdraw_consent(
            actor=actor, now=now, person_id=person_id, source_kind="email_link", language="en"
        )


def send_one_batch(actor, now, campaign_id: int) -> services.BatchResult:  # type: ignore[no-untyped-def]
    mail = get_connection(fail_silently=False)
    mail.open()
    try:
        return services.send_next_batch(actor=actor, now=now, campaign_id=campaign_id, mail_connection=mail)
    finally:
        mail.close()


@pytest.mark.parametrize("kind", ["objection", "unsubscribe", "withdrawal"])
def test_a_change_of_mind_committed_while_the_batch_sends_stops_that_persons_message(
    kind, system_actor, now, subscribe, smtp_server
):
    first = subscribe("first@example.com")
    second = subscribe("second@example.com")
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    assert services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk) == 2

    received_first, committed = threading.Event(), threading.Event()
    original = smtp_server.handle_DATA

    async def hold_the_first_answer(server, session, envelope):  # type: ignore[no-untyped-def]
        answer = await original(server, session, envelope)
        if not received_first.is_set():
            received_first.set()
            assert committed.wait(20), "the change of mind never committed"
        return answer

    smtp_server.handle_DATA = hold_the_first_answer

    def object_while_sending() -> None:
        assert received_first.wait(20), "the first message never arrived"
        change_of_mind(kind, system_actor, now, second.pk)
        committed.set()

    other = Background(object_while_sending)
    result = send_one_batch(system_actor, now, campaign.pk)
    other.result()

    assert [m.envelope_to[0] for m in smtp_server.messages] == [first.email]
    assert result.sent == 1
    if kind == "withdrawal":  # withdrawing everything erased the person, their record with them
        assert not SendRecord.objects.filter(campaign=campaign, person_id=second.pk).exists()
    else:
        assert result.skipped == 1
        record = SendRecord.objects.get(campaign=campaign, person_id=second.pk)
        assert (record.status, record.reason, record.basis) == ("skipped", "not_allowed", "")
    assert list(SendRecord.objects.filter(campaign=campaign, status="sent").values_list("person_id", flat=True)) == [
        first.pk
    ]


def test_an_objection_being_written_when_the_claim_comes_is_waited_for_and_wins(
    system_actor, now, subscribe, smtp_server
):
    """PostgreSQL: the objection holds the person's row lock (written, not yet committed) when
    the claim comes. The claim waits for it, then sees it: the message is not sent."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing is half-written when the claim comes")
    subscribe("first@example.com")
    second = subscribe("second@example.com")
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    sender = backend_pid()
    written = threading.Event()

    def object_and_commit_once_the_claim_waits() -> bool:
        with transaction.atomic():
            consent_services.object_to_direct_marketing(
                actor=system_actor, now=now, person_id=second.pk, source_kind="email_link", language="en"
            )
            written.set()
            return wait_until_blocked(sender)  # the claim waits for this transaction

    other = Background(object_and_commit_once_the_claim_waits)
    assert written.wait(20)
    result = send_one_batch(system_actor, now, campaign.pk)
    assert other.result() is True, "the claim waited for the objection's lock"

    assert [m.envelope_to[0] for m in smtp_server.messages] == ["first@example.com"]
    assert (result.sent, result.skipped) == (1, 1)
    assert SendRecord.objects.get(campaign=campaign, person_id=second.pk).status == "skipped"

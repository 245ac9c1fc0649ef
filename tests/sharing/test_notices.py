"""Art. 19 notices: when a disclosed person's data is corrected or they are erased, each
partner that received it is told through its channel, recorded, and retried until
acknowledged; processors of the policy are told of every erasure the same way."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from tillit.people import services as people
from tillit.retention import services as retention
from tillit.retention.models import ErasureNotice
from tillit.sharing import services
from tillit.sharing.models import RecipientNotice

from .conftest import NOW

pytestmark = pytest.mark.django_db
LATER = NOW + dt.timedelta(days=1)
BASIC = ["name", "email", "phone", "organisation"]


def _disclose(sales, dialogue, crowd, categories=BASIC):  # type: ignore[no-untyped-def]
    return services.disclose(
        actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=categories, channel="json", person_ids=[crowd[0].pk]
    )


def test_a_correction_of_a_disclosed_field_is_told_to_the_partner(
    sales, dialogue, partner, crowd, endpoint, connect, system_actor
):
    connect(partner, endpoint)
    _disclose(sales, dialogue, crowd, ["name", "email"])
    people.update_person(
        actor=system_actor,
        now=LATER,
        person_id=crowd[0].pk,
        source="customer_service",
        changes={"email": "ny.adresse@example.com", "position": "Daglig leder"},
    )
    people.update_person(
        actor=system_actor, now=LATER, person_id=crowd[1].pk, source="customer_service", changes={"name": "Ikke Delt"}
    )

    summary = services.queue_art19_notices(actor=system_actor, now=LATER)

    assert (summary.corrections, summary.erasures) == (1, 0)
    notice = RecipientNotice.objects.get(kind="correction")
    assert notice.partner_id == partner.pk
    assert [(str(i.pseudonym), i.categories) for i in notice.items.all()] == [(str(crowd[0].pseudonym), ["email"])]
    assert services.queue_art19_notices(actor=system_actor, now=LATER).total == 0, "nothing is told twice"

    delivered = services.deliver_notice(now=LATER, notice_id=notice.pk)
    assert delivered.status == "acknowledged"
    [received] = endpoint.received
    assert received["signed"]
    assert received["json"]["type"] == "correction"
    assert received["json"]["people"] == [{"reference": str(crowd[0].pseudonym), "categories": ["email"]}]
    assert "ny.adresse" not in str(received["json"]), "a notice holds no personal data"


def test_a_change_before_the_disclosure_is_not_a_correction(sales, dialogue, crowd, system_actor):
    _disclose(sales, dialogue, crowd)
    assert services.queue_art19_notices(actor=system_actor, now=NOW).corrections == 0


def test_the_rights_desk_tells_partners_at_once_and_the_daily_run_does_not_repeat_it(
    sales, dialogue, partner, crowd, system_actor
):
    _disclose(sales, dialogue, crowd)
    people.update_person(
        actor=system_actor,
        now=LATER,
        person_id=crowd[0].pk,
        source="customer_service",
        changes={"phone": "+4741234599"},
    )
    created = services.notify_partners_of_correction(
        actor=system_actor, now=LATER, person_id=crowd[0].pk, fields=["phone", "position"]
    )
    assert [n.kind for n in created] == ["correction"]
    assert list(created[0].items.values_list("categories", flat=True)) == [["phone"]]
    assert services.queue_art19_notices(actor=system_actor, now=LATER).corrections == 0
    assert (
        services.notify_partners_of_correction(actor=system_actor, now=LATER, person_id=crowd[1].pk, fields=["phone"])
        == []
    ), "not disclosed: nobody to tell"


def test_an_erasure_is_told_to_the_partner_and_to_the_processor(
    sales, officer, dialogue, partner, crowd, system_actor, smtp_server
):
    _disclose(sales, dialogue, crowd)
    retention.erase_person(actor=system_actor, now=LATER, person_id=crowd[0].pk, reason="request")
    retention.erase_person(actor=system_actor, now=LATER, person_id=crowd[1].pk, reason="request")

    summary = services.queue_art19_notices(actor=system_actor, now=LATER)

    assert (summary.erasures, summary.processors) == (1, 2), "one partner got one of them; the processor gets both runs"
    to_partner = RecipientNotice.objects.get(kind="erasure", partner=partner)
    assert [str(p) for p in to_partner.items.values_list("pseudonym", flat=True)] == [str(crowd[0].pseudonym)]
    assert services.queue_art19_notices(actor=system_actor, now=LATER).total == 0

    # The partner has no endpoint: an email to its contact point, with a link to acknowledge.
    sent = services.deliver_notice(now=LATER, notice_id=to_partner.pk, ack_url_for=lambda t: f"https://t.example/{t}")
    assert sent.status == "sent"
    [message] = smtp_server.messages
    assert message["To"] == "privacy@fiberpartner.example.com"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert str(crowd[0].pseudonym) in text
    assert "Partnerperson" not in text
    token = re.search(r"https://t\.example/(\S+)", text).group(1)
    assert services.acknowledge_notice(now=LATER, token=token).status == "acknowledged"

    # The processor (7Sense AS) has no channel yet: retried with backoff, never dropped.
    processor_notice = RecipientNotice.objects.filter(processor_key="7sense").order_by("pk").first()
    failed = services.deliver_notice(now=LATER, notice_id=processor_notice.pk)
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert failed.last_error.startswith("no channel")
    assert ErasureNotice.objects.get(pk=processor_notice.erasure_notice_id).attempts == 1

    services.set_processor_channel(
        actor=officer, now=LATER, processor_key="7sense", contact_email="dpa@7sense.example.com"
    )
    services.deliver_notice(now=LATER, notice_id=processor_notice.pk, ack_url_for=lambda t: f"https://t.example/{t}")
    text = smtp_server.messages[-1].get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"https://t\.example/(\S+)", text).group(1)
    services.acknowledge_notice(now=LATER, token=token)
    mirrored = ErasureNotice.objects.get(pk=processor_notice.erasure_notice_id)
    assert (mirrored.status, mirrored.acknowledged_at, mirrored.attempts) == ("acknowledged", LATER, 2)


def test_an_unacknowledged_email_is_sent_again(sales, dialogue, partner, crowd, system_actor, smtp_server):
    _disclose(sales, dialogue, crowd)
    retention.erase_person(actor=system_actor, now=LATER, person_id=crowd[0].pk, reason="request")
    services.queue_art19_notices(actor=system_actor, now=LATER)
    notice = RecipientNotice.objects.get(partner=partner)
    services.deliver_notice(now=LATER, notice_id=notice.pk)
    assert notice.pk not in services.due(now=LATER + dt.timedelta(hours=23))[1]
    assert notice.pk in services.due(now=LATER + dt.timedelta(hours=24))[1]
    services.deliver_notice(now=LATER + dt.timedelta(hours=24), notice_id=notice.pk)
    assert len(smtp_server.messages) == 2


def test_staff_may_record_an_acknowledgement(sales, officer, dialogue, crowd, system_actor):
    _disclose(sales, dialogue, crowd)
    retention.erase_person(actor=system_actor, now=LATER, person_id=crowd[0].pk, reason="request")
    services.queue_art19_notices(actor=system_actor, now=LATER)
    notice = RecipientNotice.objects.filter(partner__isnull=False).get()
    assert services.record_acknowledgement(actor=officer, now=LATER, notice_id=notice.pk).status == "acknowledged"
    assert notice.pk not in services.due(now=LATER + dt.timedelta(days=9))[1]


def test_a_forged_acknowledgement_link_is_refused():
    from tillit.core.tokens import TokenError

    with pytest.raises(TokenError):
        services.acknowledge_notice(now=NOW, token="forged")


def _erase_on_request(person, system_actor, smtp_server, capture):  # type: ignore[no-untyped-def]
    from tillit.rights import services as rights

    with time_machine.travel(LATER, tick=False):
        with capture(execute=True):
            rights.submit_request(actor=system_actor, now=LATER, email=person.email, kind="erasure", language="en")
        token = re.search(r"/rights/verify/([^\s/?]+)", smtp_server.messages[-1].get_content()).group(1)
        with capture(execute=True):
            completion = rights.confirm_verification(actor=system_actor, now=LATER, token=token)
    assert completion.status == "completed"


def test_an_erasure_on_request_is_told_to_the_partner_at_once_not_with_the_daily_run(
    sales,
    dialogue,
    partner,
    crowd,
    endpoint,
    connect,
    system_actor,
    smtp_server,
    immediate_tasks,
    django_capture_on_commit_callbacks,
):
    connect(partner, endpoint)
    _disclose(sales, dialogue, crowd)
    _erase_on_request(crowd[1], system_actor, smtp_server, django_capture_on_commit_callbacks)
    assert not RecipientNotice.objects.exists(), "not disclosed: nothing to tell before the daily run"

    _erase_on_request(crowd[0], system_actor, smtp_server, django_capture_on_commit_callbacks)
    notice = RecipientNotice.objects.get(kind="erasure", partner=partner)
    assert notice.status == "acknowledged"
    [received] = [r for r in endpoint.received if r["json"]["type"] == "erasure"]
    assert received["json"]["people"][0]["reference"] == str(crowd[0].pseudonym)

"""A person whose processing is restricted (GDPR art. 18) gets no campaign email, is on no call
list, and a restriction that starts while a campaign runs stops the next message to them (the
per-message claim re-checks the audience)."""

from __future__ import annotations

import pytest
from django.core.mail import get_connection

from tillit.marketing import services
from tillit.marketing.models import SendRecord
from tillit.marketing.tasks import send_campaign
from tillit.people import restrictions
from tillit.people import services as people

from .conftest import campaign_values

pytestmark = pytest.mark.django_db


def restrict(actor, now, person) -> None:  # type: ignore[no-untyped-def]
    restrictions.restrict_processing(actor=actor, now=now, person_id=person.pk, grounds="unlawful_processing")


def test_a_campaign_skips_a_restricted_subscriber(system_actor, now, subscribe, smtp_server):
    reader = subscribe("reader@example.com")
    restricted = subscribe("restricted@example.com")
    restrict(system_actor, now, restricted)
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())

    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_campaign.call(campaign.pk, 100)

    assert [m.envelope_to for m in smtp_server.messages] == [[reader.email]]


def test_a_restriction_during_a_campaign_stops_the_next_message(system_actor, now, subscribe, smtp_server):
    readers = [subscribe(f"reader{n}@example.com") for n in range(4)]
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    connection = get_connection()
    first = services.send_next_batch(
        actor=system_actor, now=now, campaign_id=campaign.pk, mail_connection=connection, batch_size=2
    )
    assert first.sent == 2
    late = readers[3]
    restrict(system_actor, now, late)

    second = services.send_next_batch(
        actor=system_actor, now=now, campaign_id=campaign.pk, mail_connection=connection, batch_size=2
    )

    assert (second.sent, second.skipped) == (1, 1)
    assert late.email not in {m.envelope_to[0] for m in smtp_server.messages}
    assert SendRecord.objects.get(campaign=campaign, person=late).status == "skipped"


def test_the_call_list_leaves_out_a_restricted_person(system_actor, now, staff_client):
    def make(name: str, phone: str, email: str):  # type: ignore[no-untyped-def]
        return people.create_person(
            actor=system_actor, now=now, source="form", values={"name": name, "phone": phone, "email": email}
        )

    make("Callable Person", "+4722334455", "callable@example.com")
    restricted = make("Restricted Person", "+4722334466", "restricted@example.com")
    client = staff_client("sales")
    assert "+4722334466" in client.get("/call-list/?purpose=direct_marketing").content.decode()

    restrict(system_actor, now, restricted)

    text = client.get("/call-list/?purpose=direct_marketing").content.decode()
    assert "+4722334455" in text
    assert "+4722334466" not in text
    export = client.get("/call-list/export/?purpose=direct_marketing")
    assert export.status_code == 200
    exported = b"".join(export.streaming_content).decode() if export.streaming else export.content.decode()
    assert "+4722334455" in exported
    assert "+4722334466" not in exported


def test_verify_reports_a_campaign_email_sent_during_a_restriction(system_actor, now, subscribe, smtp_server):
    import datetime as dt

    from tillit.people.models import Restriction
    from tillit.sharing import verifier

    reader = subscribe("reader@example.com")
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_campaign.call(campaign.pk, 100)
    assert not list(verifier.restricted_processing(now=now))
    # The live data disagrees: a restriction recorded from before the send was in force.
    Restriction.objects.create(person=reader, grounds="accuracy_contested", restricted_at=now - dt.timedelta(days=1))

    found = [v for v in verifier.violations(now=now) if v.kind == "processing_while_restricted"]

    record = SendRecord.objects.get(campaign=campaign, person=reader)
    assert [v.subject for v in found] == [f"send:#{record.pk} person:{reader.pseudonym}"]

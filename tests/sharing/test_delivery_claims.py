"""A delivery to a partner's endpoint asks the rule again at every attempt, and never calls the
partner inside a transaction (issue 24, item 6): the attempt is claimed and committed first,
the HTTP call runs with nothing open, the answer is recorded after. A worker that dies at any
step leaves a delivery the next attempt finishes, carrying the same delivery id, so the partner
can recognise a repeat. "Killed at a step" is the steps run by hand up to there, and the
rest after the fact."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connections

from tillit.consent import services as consent_services
from tillit.sharing import services, transport
from tillit.sharing.models import Delivery

from .conftest import NOW

BASIC = ["name", "email", "phone", "organisation"]


def disclose(sales, dialogue) -> Delivery:  # type: ignore[no-untyped-def]
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    return Delivery.objects.get(disclosure=result.disclosure)


def references(endpoint) -> list[set[str]]:  # type: ignore[no-untyped-def]
    return [{p["reference"] for p in document["people"]} for document in endpoint.documents()]


@pytest.mark.django_db
def test_who_objected_or_was_suppressed_after_the_disclosure_is_left_out_of_the_delivery(
    sales, system_actor, dialogue, partner, crowd, endpoint, connect
):
    connect(partner, endpoint)
    delivery = disclose(sales, dialogue)
    later = NOW + dt.timedelta(minutes=30)  # the endpoint was down; the retry comes later
    consent_services.object_to_direct_marketing(
        actor=system_actor, now=later, person_id=crowd[0].pk, source_kind="staff", language="en"
    )
    consent_services.suppress(now=later, email=crowd[1].email, phone=None, reason="complaint")

    done = services.deliver_disclosure(now=later, delivery_id=delivery.pk)

    assert references(endpoint) == [{str(crowd[2].pseudonym)}]
    assert (done.status, done.withheld) == ("delivered", 2)


@pytest.mark.django_db
def test_when_nobody_may_go_any_more_nothing_is_sent(sales, system_actor, dialogue, partner, crowd, endpoint, connect):
    connect(partner, endpoint)
    delivery = disclose(sales, dialogue)
    for person in crowd:
        consent_services.object_to_direct_marketing(
            actor=system_actor, now=NOW, person_id=person.pk, source_kind="staff", language="en"
        )

    done = services.deliver_disclosure(now=NOW, delivery_id=delivery.pk)

    assert endpoint.received == []
    assert (done.status, done.withheld, done.next_attempt_at) == ("withheld", 3, None)
    assert services.due(now=NOW + dt.timedelta(days=1))[0] == []


@pytest.mark.django_db
def test_the_partner_is_called_with_no_transaction_open(sales, dialogue, partner, crowd, endpoint, connect):
    """During the call (seen from the partner's side) our connection is in no transaction but
    the test's own, and the attempt is already claimed: a worker dying now leaves a claimed
    attempt, not one rolled back, and holds no lock while the partner takes its time."""
    connect(partner, endpoint)
    delivery = disclose(sales, dialogue)
    ours = connections["default"]  # this thread's connection, looked at from the endpoint's
    outside = len(ours.atomic_blocks)  # the test's own transaction
    seen: dict[str, object] = {}

    def look(headers: dict[str, str]) -> None:
        seen["open transactions"] = len(ours.atomic_blocks) - outside

    endpoint.on_request = look
    done = services.deliver_disclosure(now=NOW, delivery_id=delivery.pk)

    assert seen == {"open transactions": 0}
    assert done.status == "delivered"
    assert done.claimed_until is None


@pytest.mark.django_db
def test_a_worker_killed_after_its_claim_is_replaced_once_the_claim_passed(
    sales, dialogue, partner, crowd, endpoint, connect
):
    connect(partner, endpoint)
    delivery = disclose(sales, dialogue)
    assert services.claim_delivery(now=NOW, delivery_id=delivery.pk) is not None  # ... and the worker died

    meanwhile = NOW + dt.timedelta(minutes=1)
    assert services.due(now=meanwhile)[0] == [], "not due while the claim holds"
    assert services.deliver_disclosure(now=meanwhile, delivery_id=delivery.pk).status == "pending"
    assert endpoint.received == [], "no second attempt while the first one's claim holds"

    after = NOW + services.DELIVERY_LEASE
    assert services.due(now=after)[0] == [delivery.pk]
    done = services.deliver_disclosure(now=after, delivery_id=delivery.pk)
    assert (done.status, done.attempts) == ("delivered", 2)
    assert len(endpoint.received) == 1


@pytest.mark.django_db
def test_a_worker_killed_after_the_partner_answered_sends_the_same_delivery_id_again(
    sales, dialogue, partner, crowd, endpoint, connect
):
    connect(partner, endpoint)
    delivery = disclose(sales, dialogue)
    attempt = services.claim_delivery(now=NOW, delivery_id=delivery.pk)
    assert attempt is not None
    answer = transport.post_signed(
        url=attempt.url,
        secret=attempt.secret,
        body=attempt.body,
        kind="disclosure",
        reference=attempt.reference,
        timestamp=int(NOW.timestamp()),
    )
    assert answer.ok  # ... and the worker died before recording it

    done = services.deliver_disclosure(now=NOW + services.DELIVERY_LEASE, delivery_id=delivery.pk)

    assert done.status == "delivered"
    first, second = (r["headers"]["X-Tillit-Delivery"] for r in endpoint.received)
    assert first == second == str(delivery.disclosure.reference), "the partner can tell it is the same delivery"
    assert services.deliver_disclosure(now=NOW + dt.timedelta(hours=1), delivery_id=delivery.pk).status == "delivered"
    assert len(endpoint.received) == 2, "nothing more once recorded"


@pytest.mark.django_db
def test_a_notice_to_a_partner_is_posted_with_no_transaction_open(
    sales, system_actor, dialogue, partner, crowd, endpoint, connect
):
    """The same for an art. 19 notice to the partner's endpoint: the attempt is committed
    (counted, the next one already due should this worker die) before the call."""
    from tillit.people import services as people
    from tillit.sharing.models import RecipientNotice

    connect(partner, endpoint)
    services.disclose(
        actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="json", person_ids=[crowd[0].pk]
    )
    later = NOW + dt.timedelta(days=1)
    people.update_person(
        actor=system_actor, now=later, person_id=crowd[0].pk, source="customer_service", changes={"name": "Nytt Navn"}
    )
    services.queue_art19_notices(actor=system_actor, now=later)
    notice = RecipientNotice.objects.get(kind="correction")
    ours = connections["default"]
    outside = len(ours.atomic_blocks)
    seen: dict[str, object] = {}
    endpoint.on_request = lambda headers: seen.update(
        {"open transactions": len(ours.atomic_blocks) - outside, "delivery id": headers["X-Tillit-Delivery"]}
    )

    done = services.deliver_notice(now=later, notice_id=notice.pk)

    assert seen == {"open transactions": 0, "delivery id": str(notice.reference)}
    assert (done.status, done.attempts) == ("acknowledged", 1)

"""Sending a disclosure to the partner's HTTPS endpoint: signed (HMAC-SHA256), retried with
backoff when the endpoint fails or times out, never reported as delivered when it failed."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tillit.sharing import selectors, services, transport
from tillit.sharing.models import Delivery

from .conftest import NOW

pytestmark = pytest.mark.django_db
BASIC = ["name", "email", "phone", "organisation"]


def test_a_delivery_is_signed_and_carries_the_allowed_fields(sales, dialogue, partner, crowd, endpoint, connect):
    connect(partner, endpoint)
    enqueued = []
    result = services.disclose(
        actor=sales,
        now=NOW,
        dialogue_id=dialogue.pk,
        categories=BASIC,
        channel="endpoint",
        on_commit=enqueued.append,
    )
    assert result.content is None
    delivery = Delivery.objects.get(disclosure=result.disclosure)
    assert delivery.status == "pending"

    done = services.deliver_disclosure(now=NOW, delivery_id=delivery.pk)

    assert done.status == "delivered"
    assert done.delivered_at == NOW
    [received] = endpoint.received
    assert received["signed"], "the endpoint checked our HMAC signature"
    assert received["headers"]["X-Tillit-Kind"] == "disclosure"
    assert received["headers"]["X-Tillit-Delivery"] == str(result.disclosure.reference)
    document = received["json"]
    assert {p["reference"] for p in document["people"]} == {str(p.pseudonym) for p in crowd}
    assert all("position" not in p for p in document["people"])
    rows = selectors.disclosures_for_person(person_id=crowd[0].pk)
    assert rows[0]["channel"] == "endpoint"
    assert rows[0]["delivered"] is True


def test_a_failing_endpoint_is_retried_with_backoff_and_never_reported_delivered(
    sales, dialogue, partner, endpoint, connect
):
    connect(partner, endpoint)
    endpoint.answers = [500, 503, 200]
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    delivery_id = Delivery.objects.get(disclosure=result.disclosure).pk

    first = services.deliver_disclosure(now=NOW, delivery_id=delivery_id)
    assert (first.status, first.attempts, first.response_status) == ("pending", 1, 500)
    assert first.delivered_at is None
    assert first.last_error == "the endpoint answered 500"
    assert first.next_attempt_at == NOW + dt.timedelta(minutes=1)
    assert services.due(now=NOW)[0] == []
    assert services.due(now=NOW + dt.timedelta(minutes=1))[0] == [delivery_id]

    second = services.deliver_disclosure(now=NOW + dt.timedelta(minutes=1), delivery_id=delivery_id)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.next_attempt_at == NOW + dt.timedelta(minutes=3), "the wait doubles"

    third = services.deliver_disclosure(now=NOW + dt.timedelta(minutes=3), delivery_id=delivery_id)
    assert (third.status, third.attempts) == ("delivered", 3)
    assert len(endpoint.received) == 3


def test_a_timeout_is_a_failure(sales, dialogue, partner, endpoint, connect, settings):
    connect(partner, endpoint)
    settings.TILLIT_PARTNER_TIMEOUT = 0.3
    endpoint.delay = 1.0
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    delivery = services.deliver_disclosure(now=NOW, delivery_id=result.disclosure.delivery.pk)
    assert delivery.status == "pending"
    assert delivery.last_error == "the endpoint did not answer in time"


def test_an_untrusted_certificate_is_a_failure(sales, dialogue, partner, endpoint, connect, settings):
    connect(partner, endpoint)
    settings.TILLIT_PARTNER_CA_FILE = None
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    delivery = services.deliver_disclosure(now=NOW, delivery_id=result.disclosure.delivery.pk)
    assert delivery.status == "pending"
    assert "certificate" in delivery.last_error
    assert endpoint.received == []


def test_an_internal_endpoint_is_never_called(sales, dialogue, partner, endpoint, connect, settings):
    """Server-side request forgery: a partner endpoint on loopback (or any private address) is
    refused at send time; the disclosure is never reported delivered."""
    connect(partner, endpoint)
    settings.TILLIT_PARTNER_ALLOW_INTERNAL = False
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    delivery = services.deliver_disclosure(now=NOW, delivery_id=result.disclosure.delivery.pk)
    assert delivery.status == "pending"
    assert "internal address" in delivery.last_error
    assert endpoint.received == []


def test_after_the_last_attempt_it_fails_and_staff_may_retry(sales, dialogue, partner, endpoint, connect):
    connect(partner, endpoint)
    endpoint.answers = [500]
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    delivery_id = result.disclosure.delivery.pk
    moment = NOW
    for _ in range(services.DELIVERY_ATTEMPTS):
        delivery = services.deliver_disclosure(now=moment, delivery_id=delivery_id)
        moment = delivery.next_attempt_at or moment
    assert delivery.status == "failed"
    assert delivery.delivered_at is None
    assert services.deliver_disclosure(now=moment, delivery_id=delivery_id).attempts == services.DELIVERY_ATTEMPTS

    endpoint.answers = [200]
    services.retry_delivery(actor=sales, now=moment, delivery_id=delivery_id)
    assert services.deliver_disclosure(now=moment, delivery_id=delivery_id).status == "delivered"


def test_a_person_erased_before_the_delivery_does_not_go(
    sales, dialogue, partner, crowd, endpoint, connect, system_actor
):
    from tillit.retention import services as retention

    connect(partner, endpoint)
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    retention.erase_person(actor=system_actor, now=NOW, person_id=crowd[0].pk, reason="request")
    services.deliver_disclosure(now=NOW, delivery_id=result.disclosure.delivery.pk)
    assert str(crowd[0].pseudonym) not in {p["reference"] for p in endpoint.documents()[0]["people"]}


def test_signatures():
    body = b'{"a":1}'
    header = transport.signature("s3cret", 1795521600, body)
    assert header.startswith("sha256=")
    assert transport.is_valid_signature("s3cret", 1795521600, body, header)
    assert not transport.is_valid_signature("s3cret", 1795521601, body, header)
    assert not transport.is_valid_signature("other", 1795521600, body, header)


def test_the_daily_task_retries_what_is_due(sales, dialogue, partner, endpoint, connect, settings):
    from tillit.sharing.tasks import notify_and_retry

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    connect(partner, endpoint)
    endpoint.answers = [500, 200]
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    with time_machine.travel(NOW, tick=False):
        assert notify_and_retry(now=NOW)["deliveries"] == 1
        assert notify_and_retry(now=NOW + dt.timedelta(minutes=2))["deliveries"] == 1
    result.disclosure.delivery.refresh_from_db()
    assert result.disclosure.delivery.status == "delivered"

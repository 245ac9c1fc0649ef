"""The smaller races of issue 24 (item 7), each forced on PostgreSQL against real row locks:
another connection holds the person's row (a change written, not yet committed) while the
service runs; the service must wait for it and then decide from what it committed.

- "withdraw everything" withdraws a consent, and a subscription, recorded at the same moment;
- of two objections at the same moment, one is recorded;
- an objection racing an erasure is "not found" (404 in the API), never a server error.

SQLite has one writer at a time (every transaction begins IMMEDIATE), so none of these
interleavings can happen there: the tests are skipped."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from tillit.consent import selectors, services
from tillit.consent.models import ConsentEvent, Subscription
from tillit.core.errors import NotFoundError
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention

from ..interleaving import Background, backend_pid, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)

WORDING = "Yes, send me Avara's offers by email."


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: these interleavings cannot happen there")


@pytest.fixture
def customer(system_actor, now):  # type: ignore[no-untyped-def]
    """A customer (kept after a withdrawal, so what was not withdrawn stays visible)."""
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Testesen", "email": "kari.testesen@example.com", "phone": "41234567"},
    )
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    return person


def while_held(write, *, waiter_pid: int) -> tuple[Background, threading.Event]:  # type: ignore[no-untyped-def]
    """Run ``write`` in another connection inside a transaction that stays open until
    ``waiter_pid`` waits for a lock (or 5 s passed: the code under test took none)."""
    written = threading.Event()

    def run() -> bool:
        with transaction.atomic():
            write()
            written.set()
            return wait_until_blocked(waiter_pid)

    other = Background(run)
    assert written.wait(20), "the other connection did not write"
    return other, written


def test_withdraw_everything_withdraws_a_consent_recorded_at_the_same_moment(system_actor, now, customer):
    services.record_consent(
        actor=system_actor,
        now=now,
        person_id=customer.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter.",
        language="en",
    )
    other, _ = while_held(
        lambda: services.record_consent(
            actor=system_actor,
            now=now,
            person_id=customer.pk,
            purpose="direct_marketing",
            channel="email",
            source_kind="form",
            wording=WORDING,
            language="en",
        ),
        waiter_pid=backend_pid(),
    )
    result = services.withdraw_consent(
        actor=system_actor, now=now, person_id=customer.pk, source_kind="email_link", language="en"
    )
    assert other.result() is True, "the withdrawal waited for the person's lock before reading"

    assert result.withdrawn == [("direct_marketing", "email"), ("newsletter", "email")]
    assert result.kept_because == ["customer"]
    state = selectors.consent_state(person_id=customer.pk)
    assert "given" not in state.values()
    assert not selectors.eligibility(person_id=customer.pk, purpose="direct_marketing", channel="email").allowed


def test_withdraw_everything_closes_a_subscription_opened_at_the_same_moment(system_actor, now, customer):
    """The subscription-only path (a subscription without a consent in the ledger, as an
    import leaves it) locks the person too."""
    Subscription.objects.create(person=customer, newsletter="monthly", subscribed_at=now)
    other, _ = while_held(
        lambda: services.open_subscription(
            actor=system_actor,
            now=now,
            person_id=customer.pk,
            newsletter="weekly",
            source_kind="double_opt_in",
            wording="Yes, send me the weekly news.",
            language="en",
        ),
        waiter_pid=backend_pid(),
    )
    result = services.withdraw_consent(
        actor=system_actor, now=now, person_id=customer.pk, source_kind="email_link", language="en"
    )
    assert other.result() is True, "the withdrawal waited for the person's lock"

    assert result.changed
    assert result.kept_because == ["customer"]
    assert not Subscription.objects.filter(person=customer, unsubscribed_at=None).exists()


def test_two_objections_at_the_same_moment_are_recorded_once(system_actor, now, customer):
    def object_() -> bool:
        return services.object_to_direct_marketing(
            actor=system_actor, now=now, person_id=customer.pk, source_kind="staff", language="en"
        )

    other, _ = while_held(object_, waiter_pid=backend_pid())
    second = object_()
    assert other.result() is True

    assert second is False, "the second found the first one's objection"
    assert ConsentEvent.objects.filter(person=customer, action="objected", purpose="direct_marketing").count() == 1


def test_an_objection_racing_an_erasure_is_not_found(system_actor, now, customer):
    other, _ = while_held(
        lambda: retention.erase_person(actor=system_actor, now=now, person_id=customer.pk, reason="request"),
        waiter_pid=backend_pid(),
    )
    with pytest.raises(NotFoundError):
        services.object_to_direct_marketing(
            actor=system_actor, now=now, person_id=customer.pk, source_kind="staff", language="en"
        )
    assert other.result() is True
    assert not Person.objects.filter(pk=customer.pk).exists()
    assert not ConsentEvent.objects.filter(person_id=customer.pk).exists()


def test_the_api_answers_404_to_an_objection_racing_an_erasure(system_actor, now, customer, api_as):
    client = api_as("privacy_officer")
    assert client.get(f"/api/people/{customer.pk}").status_code == 200
    pid = backend_pid()  # the test client's requests run on this thread's connection
    other, _ = while_held(
        lambda: retention.erase_person(actor=system_actor, now=now, person_id=customer.pk, reason="request"),
        waiter_pid=pid,
    )
    response = client.post(
        f"/api/people/{customer.pk}/objection",
        {"contact_channel": "phone", "language": "en"},
        content_type="application/json",
    )
    other.result()
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"


def test_the_consent_page_answers_not_found_to_an_objection_racing_an_erasure(system_actor, now, customer):
    """The one-click objection from an email's link, while the person's erasure commits: the
    page says there is no data any more (404), never a server error."""
    from django.test import Client

    from tillit.consent.links import consent_page_url

    path = "/" + consent_page_url(str(customer.pseudonym)).split("://", 1)[1].split("/", 1)[1]
    other, _ = while_held(
        lambda: retention.erase_person(actor=system_actor, now=now, person_id=customer.pk, reason="request"),
        waiter_pid=backend_pid(),
    )
    response = Client().post(path + "act/", {"action": "object"})
    other.result()
    assert response.status_code == 404
    assert b"no data about you" in response.content
